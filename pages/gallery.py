"""Gallery: filter frames by class, filter and size, page through thumbnails, open one in detail."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from xami_core.analysis import evaluation as EV
from xami_core.analysis import gallery
from xami_core.analysis import gallery_errors as GE
from xami_core.analysis import observation as OB
from xami_core.analysis.folds import AUTHORS_K, AUTHORS_SEED, PARTS
from xami_core.io import metadata
from xami_core.io.loader import source_fingerprint
from xami_core.io.predictions import Predictions
from xami_core.model import Dataset, XamiDataError, class_colour_hex, filter_label
from xami_core.render import overlay, pixels, stretch
from xami_core.render.evaluation_figures import OUTCOME_COLOURS
from xami_core.render.export import chart_config
from xami_core.render.figures_overlay import frame_figure, overlay_figure, side_by_side_figure
from xami_core.render.prediction_overlay import outcome_legend_name, prediction_figure, prediction_thumbnails
from xami_ui.cache import cached_evaluation, cached_folds, cached_obs_info, cached_thresholds
from xami_ui.context import current_dataset, current_palette, run_app, terms_caption_ui
from xami_ui.export import TOOLBAR_KEY, chart_ui, export_figure_ui
from xami_ui.gallery_export import export_ui
from xami_ui.predictions import (
    Q_IOU_TYPE,
    Q_SET,
    chosen_sets,
    current_choice,
    has_choice,
    remember_gallery_selection,
    restore_across_pages,
    sidebar_ui,
    thresholds_ui,
)
from xami_ui.sidebar import current_obs_info_path
from xami_ui.text import html_literal, md_code, md_literal

# Every selection that defines the view is a widget bound to the link (bind="query-params"): its key is
# the query parameter's name; Streamlit seeds it from the link, drops a value that is not an option and
# keeps it across a visit to another page. The open image is one of them: a box of image ids (`image`),
# empty for the grid; the thumbnails' Open buttons, Previous, Next and Back set it through session state.
BOUND = {"bind": "query-params", "persist_state": "session"}
IMAGE = "image"
IMAGE_CHOICES = 2000  # the box lists this many matching frames at most (each is a string sent every run)
DRAW = ("fill", "contour", "box", "label")
DRAW_DEFAULT = ["fill", "contour", "label"]  # boxes add clutter on top of a contour: on request
DETAIL_HEIGHT, DETAIL_HEIGHT_SIDE = 560, 515  # beside the raw frame, or (under a title) the predictions: at 1600x1000 the frame ends in the first screenful
HISTOGRAM_HEIGHT = 280
ANY = ("any",)  # the fold choice "no fold constraint" (a tuple like the others)
FOLD_CHOICES = [ANY] + [(f, part) for f in range(AUTHORS_K) for part in PARTS]


@dataclass(frozen=True)
class Layer:
    """The prediction layer's state: the set shown, its outcomes at the thresholds and each frame's counts."""

    label: str
    preds: Predictions
    iou_type: str
    report: EV.ThresholdReport
    scores: pd.DataFrame  # the evaluated predictions (Evaluation.dt: image_id, score)
    errors: pd.DataFrame  # GE.error_counts of every image


def _first_page() -> None:
    # Through Session State, as Streamlit moves a bound widget; st.pagination always has a default page,
    # so Streamlit's "default and Session State" hint is switched off in .streamlit/config.toml (see there).
    st.session_state["page"] = 1


def _open(image_id: int | None, back_to_page: int | None = None) -> None:
    """Buttons' callback: open a frame (None: back to the grid, on the page that holds the frame just seen)."""
    st.session_state[IMAGE] = image_id
    if image_id is None and back_to_page:
        st.session_state["page"] = back_to_page


def image_ui(ds: Dataset, order: list[int], slot: DeltaGenerator) -> int | None:
    """The open frame's box, bound to the link's `image` (an image id); None (empty) shows the grid."""
    choices = order[:IMAGE_CHOICES]
    known = set(ds.images["image_id"].tolist())
    # A frame outside the list (a link's, or one opened before the filters changed) joins it, so the box
    # can hold it; an id the dataset does not have is not an option, and Streamlit drops it from the link.
    raw = st.query_params.get(IMAGE, "")
    for extra in (st.session_state.get(IMAGE), int(raw) if raw.isdigit() else None):
        if extra in known and extra not in choices:
            choices = [*choices, extra]
    return slot.selectbox("Image", choices, index=None, key=IMAGE, format_func=str, placeholder="Open an image by id",
                          **BOUND, help="The image id of the frame shown in detail; empty for the grid. "
                                        f"Lists the first {IMAGE_CHOICES:,} matching frames; type to search.")


def filters_ui(ds: Dataset) -> gallery.GalleryFilter:
    """Sidebar filter widgets; returns the filter they define."""
    max_ann = gallery.max_annotations(ds)
    area_min, area_max = gallery.area_range(ds)
    bar = st.sidebar
    bar.subheader("Gallery filters")
    class_slot = bar.container()  # drawn above the empty-image choice, which decides whether they apply
    empty = bar.radio("Images without artefacts", gallery.EMPTY_MODES, key="empty", horizontal=True,
                      format_func=gallery.EMPTY_MODE_LABELS.get, on_change=_first_page, **BOUND,
                      help="About 5 % of XAMI frames have no annotation on purpose (hard negatives).")
    only_empty = empty == "only"
    with class_slot:
        classes = st.multiselect("Classes", ds.class_names, key="classes", on_change=_first_page, disabled=only_empty,
                                 help="Ignored while only images without artefacts are shown.", **BOUND)
        mode = st.radio("Images with", gallery.CLASS_MODES, key="mode", horizontal=True, on_change=_first_page,
                        format_func=gallery.CLASS_MODE_LABELS.get, disabled=only_empty, **BOUND,
                        help="any: at least one selected class · all: every selected class · none: no selected "
                             "class · exactly: the image's classes are exactly the selected ones.")
        without = st.multiselect("…and none of", ds.class_names, key="without", on_change=_first_page,
                                 disabled=only_empty, **BOUND,
                                 help="Classes the image must not have, e.g. a smoke ring but no read-out streak.")
    filters = bar.multiselect("XMM-OM filter", gallery.filter_choices(ds), key="filters", on_change=_first_page,
                              format_func=filter_label, **BOUND)
    splits = bar.multiselect("Split", ds.splits, key="split", on_change=_first_page, **BOUND)
    fold = bar.selectbox("Fold part", FOLD_CHOICES, key="fold", on_change=_first_page, **BOUND,
                         format_func=lambda v: "any" if v == ANY else f"fold {v[0]} · {v[1]}",
                         help=f"A part of the authors' folds: stratified {AUTHORS_K}-fold on the images' label "
                              f"strings, seed {AUTHORS_SEED} (their mskf_k files).")
    nann = sorted(bar.slider("Number of annotations", 0, max_ann, (0, max_ann), key="nann", on_change=_first_page,
                             **BOUND))  # a link may give the ends either way round
    c1, c2 = bar.columns(2)
    # Short labels: a half-width sidebar column fits about a dozen characters on one line.
    area_help = ("An image matches if it has an instance (of a selected class, else of any class) whose mask area, "
                 "in pixels², is in this range.")
    lo = c1.number_input("Area ≥ (px²)", area_min, area_max, area_min, key="area_lo", step=10.0,
                         format="%.0f", on_change=_first_page, **BOUND, help=area_help)
    hi = c2.number_input("Area ≤ (px²)", area_min, area_max, area_max, key="area_hi", step=10.0, format="%.0f",
                         on_change=_first_page, **BOUND, help=area_help)
    if lo > hi:  # applied as given (no instance can match), and said, rather than dropped without a word
        bar.warning(f"Area ≥ {lo:,.0f} px² is above Area ≤ {hi:,.0f} px²: no instance is in that range, so no "
                    "image matches. Swap or widen them.", icon=":material/warning:")
    search = bar.text_input("Find observation, file or id", key="q", placeholder="e.g. 0743200101, _L or image id 12",
                            on_change=_first_page, **BOUND,
                            help="Part of an observation id or file name (several, separated by spaces or commas, "
                                 "find the frames of any); or a record as the input-problems table "
                                 "names it: `image id 12`, `annotation id 7` (ids of the annotation file; they "
                                 "repeat across split files, so pick a split to narrow it down).")
    return gallery.GalleryFilter(
        classes=() if only_empty else tuple(classes), class_mode=mode, without=() if only_empty else tuple(without),
        empty=empty, filters=tuple(filters),
        splits=tuple(splits), fold=None if fold == ANY else tuple(fold),
        n_annotations=None if tuple(nann) == (0, max_ann) else (int(nann[0]), int(nann[1])),
        area=None if (lo, hi) == (area_min, area_max) else (float(lo), float(hi)),
        search=search)


def layer_ui(ds: Dataset) -> tuple[Layer | None, GE.ErrorFilter]:
    """The sidebar's prediction layer (when the Predictions page has sets loaded): set, thresholds, error filters."""
    if not has_choice(ds, current_choice()):
        return None, GE.ErrorFilter()
    bar = st.sidebar
    on = bar.toggle("Prediction layer", value=False, key="layer", on_change=_first_page, **BOUND,
                    help="A model's predictions over the ground truth, each marked TP, FP or FN at the thresholds "
                         "below; the sets are chosen under Prediction sets above.")
    if not on:  # nothing is read or evaluated until the layer is asked for
        return None, GE.ErrorFilter()
    sets, failed = chosen_sets(ds)
    for what, _ in failed:
        bar.caption(f"Not loaded: {md_literal(what)} (see the Predictions page).")
    if not sets:
        bar.info("No prediction set could be loaded; see the Predictions page.")
        return None, GE.ErrorFilter()
    labels = list(sets)
    label = labels[0]
    if len(labels) > 1:
        restore_across_pages(Q_SET, labels[0])
        label = bar.selectbox("Model", labels, key=Q_SET, on_change=_first_page, **BOUND,
                              help="The prediction set drawn and filtered on.")
    restore_across_pages(Q_IOU_TYPE, "segm")
    iou_type = bar.segmented_control("IoU type", list(EV.IOU_TYPES), default="segm", key=Q_IOU_TYPE,
                                     on_change=_first_page, **BOUND,
                                     help="segm: mask IoU; bbox: box IoU.") or "segm"
    score, iou = thresholds_ui(bar)
    preds = sets[label]
    ids = tuple(int(i) for i in np.sort(ds.images["image_id"].to_numpy()))
    try:
        report = cached_thresholds(ds, preds, iou_type, ids, iou, score)
        scores = cached_evaluation(ds, preds, iou_type, ids).dt
    except XamiDataError as exc:
        bar.error(f"The predictions cannot be evaluated: {md_literal(exc)}")
        return None, GE.ErrorFilter()
    missed = bar.multiselect("Has a missed", ds.class_names, key="missed", on_change=_first_page, **BOUND,
                             help="Frames with a ground-truth instance of one of these classes that no prediction of "
                                  "its class matched (FN).")
    spurious = bar.multiselect("Has a spurious", ds.class_names, key="spurious", on_change=_first_page, **BOUND,
                               help="Frames with a prediction of one of these classes that matched no ground truth "
                                    "of its class (FP: spurious, a duplicate or another class).")
    above = bar.slider("Has a prediction scoring ≥", 0.0, 1.0, 0.0, 0.01, key="score_above", on_change=_first_page,
                       **BOUND, help="0: no constraint. Any evaluated prediction counts, also below the threshold.")
    layer = Layer(label=label, preds=preds, iou_type=iou_type, report=report, scores=scores,
                  errors=GE.error_counts(ds.images["image_id"], report))
    flt = GE.ErrorFilter(missed=tuple(missed), spurious=tuple(spurious), score_above=float(above) or None)
    return layer, flt


def order_ui(layer: Layer | None) -> tuple[str, int]:
    """Sidebar sort widgets (the error orders too while the prediction layer is on); returns (sort, seed)."""
    sorts = [*gallery.SORTS, *GE.ERROR_SORTS] if layer else list(gallery.SORTS)
    sort = st.sidebar.selectbox("Sort by", sorts, key="sort", format_func=(gallery.SORT_LABELS | GE.ERROR_SORT_LABELS).get,
                                on_change=_first_page, **BOUND)
    seed = 0
    if sort == "shuffle":
        seed = st.sidebar.number_input("Shuffle seed", 0, 2**31 - 1, key="seed", on_change=_first_page, **BOUND)
    return sort, int(seed)


def legend_ui(ds: Dataset, palette: str) -> None:
    """The class abbreviations used under thumbnails, in the palette's colours."""
    colours = class_colour_hex(palette, ds.class_names)
    # Class names come from the files: escaped, they show as text inside this HTML.
    chips = " ".join(f"<span style='white-space:nowrap'><span style='color:{html_literal(colours[c])}'>⬤</span> "
                     f"<b>{html_literal(gallery.CLASS_ABBREV.get(c, c))}</b> {html_literal(c)}</span> &nbsp;"
                     for c in ds.class_names)
    st.markdown(f"<small>{chips}</small>", unsafe_allow_html=True)


def outcome_legend_ui(counts: dict[str, int] | None = None) -> None:
    """The prediction layer's outcome colours (with their counts when given)."""
    chips = " ".join(f"<span style='white-space:nowrap'><span style='color:{OUTCOME_COLOURS[o]}'>■</span> "
                     f"{html_literal(outcome_legend_name(o, counts[o]) if counts else o)}</span> &nbsp;"
                     for o in (EV.TP, EV.FP, EV.FN))
    st.markdown(f"<small>{chips}</small>", unsafe_allow_html=True)


def grid_ui(ds: Dataset, palette: str, matches: pd.DataFrame, detail: gallery.DetailView,
            layer: Layer | None = None, selection: str = "all images") -> None:
    """The thumbnail grid with its layout controls and pages (each frame's TP/FP/FN under it while the layer is on);
    `selection` names the filters set, for the message when nothing matches."""
    c1, c2, c3, c4 = st.columns([1, 1, 1.4, 0.8], vertical_alignment="bottom")
    size = c1.selectbox("Per page", gallery.PAGE_SIZES, index=gallery.PAGE_SIZES.index(48), key="size",
                        on_change=_first_page, **BOUND)
    thumb = c2.segmented_control("Thumbnails", list(gallery.THUMB_SIZES), default="medium", key="thumb",
                                 **BOUND) or "medium"
    show_overlay = c3.toggle("Masks on thumbnails", value=True, key="overlay", **BOUND)
    with c4:
        export_ui(ds, matches["image_id"].tolist(), "xami_gallery_selection")
    _, _, n_pages = gallery.page_slice(len(matches), 1, size)
    status, grid = st.container(), st.container()  # filled once the page links below them say which page
    page = st.pagination(n_pages, key="page", **BOUND)
    start, stop, _ = gallery.page_slice(len(matches), page, size)
    shown = matches.iloc[start:stop]
    with status.container():
        st.markdown(gallery.match_status(len(matches), len(ds.images), page, size))
        legend_ui(ds, palette)
        if layer is not None:
            st.caption(f"Prediction layer: {md_literal(layer.label)} · {layer.iou_type} · score ≥ "
                       f"{layer.report.score_threshold:g} · IoU ≥ {layer.report.iou_threshold:g}. Thumbnails outline "
                       "each prediction in its outcome's colour and box each missed instance; under each frame its "
                       "TP and FP predictions, missed instances (FN) and the mean IoU of its TP.")
            outcome_legend_ui()
    with grid:
        if shown.empty:
            st.info(gallery.no_match_text(selection), icon=":material/filter_alt_off:")
        options = gallery.ThumbOptions(size=gallery.THUMB_SIZES[thumb], overlay=show_overlay, palette=palette,
                                       stretch=detail.stretch, limits=detail.limits, lower=detail.lower, upper=detail.upper)
        pictures = (gallery.thumbnails(ds, shown["image_id"].tolist(), options) if layer is None else
                    prediction_thumbnails(ds, shown["image_id"].tolist(), layer.preds, layer.report, layer.iou_type,
                                          options))
        captions = gallery.thumbnail_captions(ds, shown, escape=md_literal)
        if layer is not None:
            outcomes = GE.error_captions(layer.errors, shown["image_id"].to_numpy())
            captions = [f"{c}  \n{o}" for c, o in zip(captions, outcomes)]
        n_cols = {"small": 8, "medium": 6, "large": 4}[thumb]
        for row_start in range(0, len(shown), n_cols):
            cols = st.columns(n_cols)
            for col, image_id, pic, caption in zip(cols, shown["image_id"].iloc[row_start:row_start + n_cols],
                                                   pictures[row_start:row_start + n_cols],
                                                   captions[row_start:row_start + n_cols]):
                col.image(pic, width="stretch")
                col.caption(caption)
                col.button("Open", key=f"gallery_open_{int(image_id)}", on_click=_open, args=(int(image_id),),
                           icon=":material/zoom_in:", width="stretch")


def display_ui(ds: Dataset) -> tuple[gallery.DetailView, str, float]:
    """Stretch, limits, colour map and mask opacity in one row; returns the view, the colour map and the opacity."""
    c1, c2, c3, c4, c5 = st.columns([1, 1, 1.6, 1.1, 1.1], vertical_alignment="bottom")
    how = c1.selectbox("Stretch", stretch.STRETCHES, index=stretch.STRETCHES.index(stretch.DEFAULT_STRETCH),
                       key="stretch", format_func=stretch.STRETCH_LABELS.get, **BOUND)
    limits = c2.selectbox("Limits", stretch.LIMITS, index=stretch.LIMITS.index(stretch.DEFAULT_LIMITS), key="limits",
                          format_func=stretch.LIMIT_LABELS.get, **BOUND,
                          help="zscale: IRAF's zscale (astropy ZScaleInterval). Limits ignore the black "
                               "border outside the detector window.")
    lower, upper = sorted(c3.slider("Percentile limits", 0.0, 100.0, (stretch.DEFAULT_LOWER, stretch.DEFAULT_UPPER),
                                    key="pct", step=0.1, disabled=limits != "percentile", **BOUND))
    if lower == upper:  # an empty interval (both ends dragged together, or such a link) stretches nothing
        lower, upper = stretch.DEFAULT_LOWER, stretch.DEFAULT_UPPER
    colour_map = c4.selectbox("Colour map", pixels.COLOUR_MAPS, key="cmap", format_func=pixels.COLOUR_MAP_LABELS.get,
                              **BOUND, help="Grey levels of the stretched frame in colour; inverted grey shows "
                                            "sources dark on a white sky; hot is black-red-yellow-white (afmhot).")
    opacity = c5.slider("Mask opacity", 0.0, 1.0, 0.4, key="opacity", step=0.05, **BOUND)
    return (gallery.DetailView(stretch=how, limits=limits, lower=float(lower), upper=float(upper)),
            colour_map, float(opacity))


def draw_ui(ds: Dataset) -> tuple[tuple[str, ...], set[str]]:
    """The classes shown and what is drawn of them, in one row; returns (hidden classes, draw choices)."""
    c1, c2 = st.columns([3, 2])
    shown = c1.pills("Classes shown", ds.class_names, selection_mode="multi", default=ds.class_names, key="shown",
                     format_func=md_literal, **BOUND,
                     help="Toggle classes on and off (also: click a class in the figure legend).")
    draw = c2.pills("Draw", DRAW, selection_mode="multi", default=DRAW_DEFAULT, key="draw", **BOUND)
    return tuple(c for c in ds.class_names if c not in (shown or [])), set(draw or [])


def observation_ui(ds: Dataset, img: pd.Series) -> None:
    """The frame's observation: ObsID, filter and, with the metadata loaded, pointing, exposure and position
    angle; a link to the observation in the XMM-Newton Science Archive."""
    source = metadata.obs_info_source(local=current_obs_info_path(), synthetic=ds.provenance.synthetic)
    meta, why = None, None
    if source.path is None:
        why = ("No observation metadata is loaded, so pointing, exposure and position angle are not shown: fetch "
               "the authors' file on the Overview page, or give a local copy in the sidebar under *Observation "
               "metadata file*.")
    else:
        try:
            meta = cached_obs_info(str(source.path), source.label, source_fingerprint(source.path))
        except (XamiDataError, OSError) as exc:
            why = f"The observation metadata cannot be read ({md_literal(exc)}), so only the file name's facts are shown."
    ctx = OB.observation_context(img, meta.table if meta is not None else None)
    st.markdown("**Observation**")
    st.markdown("\n".join(f"- {label}: **{md_literal(value)}**" for label, value in OB.context_rows(ctx)))
    if ds.provenance.synthetic:  # a generated frame's ObsID is made up: the archive would show another observation
        st.caption("Generated frame: its ObsID is made up, so no link to the XMM-Newton Science Archive.")
    elif ctx.archive_url:
        st.markdown(f"[ObsID {ctx.obsid} in the XMM-Newton Science Archive]({ctx.archive_url})")
    if why:
        st.caption(f"{why} ObsID and filter come from the file name.")
    elif not ctx.has_metadata:
        st.caption(f"The observation metadata ({md_literal(meta.source)}) has no record of "
                   f"{md_literal(ctx.obs_key or img['file_name'])}: ObsID and filter come from the file name.")
    else:
        st.caption(f"RA, Dec, exposure and position angle from {md_literal(meta.source)}.")


def raw_note(raw: np.ndarray | None) -> str:
    """What the frame without annotations says above it."""
    return "<b>without annotations</b> (same stretch)" if raw is not None else "<b>image file missing</b>"


def raw_frame_ui(frame: np.ndarray, raw: np.ndarray | None, height: int, name: str) -> None:
    """The frame as displayed, without annotations (same stretch and colour map as the overlaid one)."""
    chart_ui(frame_figure(frame, raw, height=height, note=raw_note(raw)), name=f"{name}_frame",
             key="gallery_raw_figure", aspect=1.0, zoom=True)


def histogram_ui(raw: np.ndarray, detail: gallery.DetailView, name: str) -> None:
    """The frame's pixel histogram (log counts) with the display limits the stretch uses."""
    vmin, vmax = stretch.display_limits(raw, detail.limits, detail.lower, detail.upper)
    hist = pixels.pixel_histogram(raw, vmin, vmax)
    st.markdown("**Pixel values**")
    chart_ui(pixels.histogram_figure(hist, height=HISTOGRAM_HEIGHT), name=f"{name}_histogram",
             key="gallery_histogram", aspect=0.45)
    limits = stretch.LIMIT_LABELS[detail.limits]
    if detail.limits == "percentile":
        limits += f" {detail.lower:g}–{detail.upper:g}"
    st.caption(f"Pixels by the value stored in the file ({raw.dtype}), counts on a log scale. Dashed lines: the "
               f"display limits ({limits}: {vmin:.4g} to {vmax:.4g}), computed without the zero-valued border outside "
               f"the detector window; the {stretch.STRETCH_LABELS[detail.stretch]} stretch maps them to the colour map's ends.")


def prediction_view_ui(ds: Dataset, palette: str, image_id: int, frame: np.ndarray, layer: Layer,
                       detail: gallery.DetailView, name: str) -> None:
    """The frame again, with its ground truth as contours and the model's outcomes over it, legend counted."""
    truth = ds.annotations_of(image_id)
    instances = layer.report.instances[layer.report.instances["image_id"] == image_id]
    predictions = layer.preds.table[layer.preds.table["image_id"] == image_id]
    fig = prediction_figure(frame, truth, predictions, instances, ds.class_colours(palette),
                            hidden_classes=detail.hidden_classes, height=DETAIL_HEIGHT_SIDE)
    chart_ui(fig, name=f"{name}_predictions", key="gallery_prediction_figure", aspect=1.0, zoom=True)
    outcome_legend_ui(GE.outcome_counts(instances))
    st.caption(f"{md_literal(layer.label)} · {layer.iou_type} · score ≥ {layer.report.score_threshold:g} · IoU ≥ "
               f"{layer.report.iou_threshold:g}. Ground truth as contours in the class colours; predictions dashed: "
               "green TP, orange FP (spurious, duplicate or another class); dotted purple boxes: missed instances "
               "(FN). Hover an outline for its class, score and match.")


def detail_ui(ds: Dataset, palette: str, image_id: int, matches: pd.DataFrame, page_size: int,
              bar: DeltaGenerator, layer: Layer | None = None) -> gallery.DetailView:
    """The detail view of one frame, its buttons in `bar` (beside the image box); with the prediction layer on,
    the ground truth and the predictions side by side."""
    img = ds.image(image_id)
    order = matches["image_id"].tolist()
    prev_id, next_id = gallery.neighbours(order, image_id)
    c1, c2, c3, c4 = bar.columns([1, 1, 1, 2], vertical_alignment="bottom")
    c1.button("Back to gallery", icon=":material/grid_view:", on_click=_open,
              args=(None, gallery.page_of(order, image_id, page_size)), width="stretch", key="gallery_back")
    c2.button("Previous", icon=":material/chevron_left:", on_click=_open, args=(prev_id,), width="stretch",
              disabled=prev_id is None, key="gallery_prev")
    c3.button("Next", icon=":material/chevron_right:", on_click=_open, args=(next_id,), width="stretch",
              disabled=next_id is None, key="gallery_next")
    where = f"image {order.index(image_id) + 1} of {len(order):,} matching the filters" if image_id in order \
        else "this image does not match the current filters"
    c4.caption(where)
    st.subheader(md_literal(gallery.detail_title(img)))
    st.caption(f"{md_code(img['file_name'])} · {md_literal(gallery.frame_size_text(img))} · "
               f"{int(img['n_annotations'])} annotation(s) · {md_literal(gallery.file_id_text(img))}")
    view, colour_map, opacity = display_ui(ds)
    figures, draw_slot = st.container(), st.container()  # the class and draw toggles under the figures
    with draw_slot:
        hidden_classes, draw = draw_ui(ds)
    detail = replace(view, hidden_classes=hidden_classes)

    table = gallery.annotation_table(ds, image_id)
    raw = overlay.load_raw_frame(img["path"])
    if raw is None:
        st.warning(f"Image file missing or unreadable: {md_code(img['path'])}. Its annotations are still listed.")
        frame = overlay.placeholder_frame(int(img["width"]), int(img["height"]))
    else:
        frame = pixels.apply_colour_map(stretch.stretch_image(raw, detail.stretch, detail.limits, detail.lower,
                                                              detail.upper), colour_map)

    edits = st.session_state.get(f"gallery_anns_{image_id}", {}).get("edited_rows", {})
    hidden_ids = gallery.hidden_annotation_ids(table, edits)
    anns = ds.annotations_of(image_id)
    height = DETAIL_HEIGHT if layer is None else DETAIL_HEIGHT_SIDE
    fig = overlay_figure(frame, anns, ds.class_colours(palette), opacity, fill="fill" in draw, contour="contour" in draw,
                         boxes="box" in draw, labels="label" in draw, hidden_classes=detail.hidden_classes,
                         hidden_ann_ids=hidden_ids, height=height, raw=raw)
    name = str(img["obs_key"])
    # Without the prediction layer the raw frame sits beside the overlaid one; with it, the predictions do,
    # and the raw frame moves to the row below.
    if layer is None:
        # The frame with and without annotations in one figure, axes linked: zoom one, the other follows.
        # The export (and its print layout) is the annotated frame alone.
        with figures:
            pair = side_by_side_figure(fig, frame_figure(frame, raw, height=height, note=raw_note(raw)))
            toolbar = st.session_state.get(TOOLBAR_KEY) or "svg"
            st.plotly_chart(pair, config=chart_config(f"{name}_overlay", toolbar) | {"scrollZoom": True},
                            key="gallery_figure", width="stretch")
            export_figure_ui(fig, f"{name}_overlay", key="gallery_figure_export", aspect=1.0)
    else:
        truth_slot, side_slot = figures.columns(2)
        with truth_slot:
            st.markdown("**Ground truth**")
            chart_ui(fig, name=f"{name}_overlay", key="gallery_figure", aspect=1.0, zoom=True)
        with side_slot:
            st.markdown(f"**Predictions** ({md_literal(layer.label)})")
            prediction_view_ui(ds, palette, image_id, frame, layer, detail, name)
    st.caption("Scroll to zoom, drag to pan, double-click to reset. Hover a mask for its class, id, area and box; "
               "hover the sky for the pixel value stored in the file.")
    # With the predictions beside the ground truth, the unannotated frame and the histogram are on request.
    more = layer is None or st.toggle("Frame without annotations and pixel histogram", key="pixels", **BOUND)
    below = st.columns([1, 1, 1] if layer is not None and more else [3, 2])
    if layer is not None and more:
        with below[0]:
            raw_frame_ui(frame, raw, DETAIL_HEIGHT_SIDE // 2 + 120, name)
    if raw is not None and more:
        with below[-2]:
            histogram_ui(raw, detail, name)
    with below[-1]:
        observation_ui(ds, img)

    st.markdown("**Annotations** (untick *show* to hide one)")
    st.data_editor(table.assign(show=True)[["show", *table.columns]], key=f"gallery_anns_{image_id}",
                   hide_index=True, width="stretch", disabled=list(table.columns),
                   column_config={"id": st.column_config.Column("id", help="The annotation's id in its annotation file"),
                                  "mask area (px²)": st.column_config.NumberColumn(format="%d"),
                                  "stored area (px²)": st.column_config.NumberColumn(format="%.1f")})

    e1, e2 = st.columns([1, 3])
    factor = e1.selectbox("PNG scale", (1, 2, 4), key="gallery_factor", persist_state="session", format_func=lambda f: f"{f}× ({f * int(img['width'])} px)",
                          help="1× is the frame's full resolution; larger scales keep pixels square and labels sharp.")

    def _png() -> bytes:
        rgb = overlay.full_overlay(img["path"], anns, int(img["width"]), int(img["height"]), ds.class_colours(palette),
                                   stretch=detail.stretch, limits=detail.limits, lower=detail.lower, upper=detail.upper,
                                   colour_map=colour_map, factor=int(factor), opacity=opacity, fill="fill" in draw, contour="contour" in draw,
                                   boxes="box" in draw, labels="label" in draw, hidden_classes=detail.hidden_classes,
                                   hidden_ann_ids=hidden_ids, label_ids=True)
        return overlay.encode_png(rgb)

    e2.download_button("Download overlaid PNG", data=_png, file_name=f"{img['obs_key']}_overlay_{factor}x.png",
                       mime="image/png", icon=":material/download:", on_click="ignore", key="gallery_download")
    return detail


def page() -> None:
    """The Gallery page: filter frames by class, filter and size, page through thumbnails, open one in detail."""
    ds = current_dataset()
    palette = current_palette()
    st.title("Gallery")
    terms_caption_ui(ds)

    flt = filters_ui(ds)
    sidebar_ui(ds, expanded=False)
    layer, errors_filter = layer_ui(ds)
    sort, seed = order_ui(layer)
    folds = None
    if flt.fold:
        try:
            folds = cached_folds(ds, "stratified", AUTHORS_K, AUTHORS_SEED)
        except XamiDataError as exc:
            st.warning(f"The fold part filter is ignored: the authors' folds cannot be made here. {md_literal(exc)}",
                       icon=":material/warning:")
            flt = replace(flt, fold=None)
    matches = gallery.select_images(ds, flt, sort if sort in gallery.SORTS else "observation", seed, folds)
    if layer is not None:
        matches = matches[GE.error_mask(matches, layer.report, layer.scores, errors_filter)]
        if sort in GE.ERROR_SORTS:
            matches = GE.sort_by_errors(matches, layer.errors, sort)
    selection = GE.selection_description(flt, errors_filter if layer is not None else None)
    remember_gallery_selection(ds, selection, matches["image_id"])
    box, bar = st.columns([1, 4], vertical_alignment="bottom")
    image_id = image_ui(ds, matches["image_id"].tolist(), box)
    if image_id is None:
        # The thumbnails use the detail view's display settings (kept while the detail view is closed).
        lower, upper = sorted(st.session_state.get("pct", (stretch.DEFAULT_LOWER, stretch.DEFAULT_UPPER)))
        if lower == upper:
            lower, upper = stretch.DEFAULT_LOWER, stretch.DEFAULT_UPPER
        detail = gallery.DetailView(st.session_state.get("stretch", stretch.DEFAULT_STRETCH),
                                    st.session_state.get("limits", stretch.DEFAULT_LIMITS), lower, upper,
                                    tuple(c for c in ds.class_names if c not in st.session_state.get("shown", ds.class_names)))
        grid_ui(ds, palette, matches, detail, layer, selection)
    else:
        detail_ui(ds, palette, image_id, matches, int(st.session_state.get("size", 48)), bar, layer)


if __name__ == "__main__":  # run as a script by Streamlit's legacy pages/ mode (see run_app)
    run_app()
