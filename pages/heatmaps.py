"""Spatial heatmaps: where each artefact class falls on the detector, per split, fold part or filter."""

from __future__ import annotations

import streamlit as st

from xami_core.analysis import folds as F
from xami_core.analysis import heatmaps as H
from xami_core.model import XamiDataError
from xami_core.render import heatmap_figures as HF
from xami_ui.cache import cached_heatmaps, cached_small_multiples
from xami_ui.context import current_dataset, run_app, synthetic_notice_ui
from xami_ui.export import chart_ui, table_download_ui
from xami_ui.text import md_literal

FOLD_METHODS = ["stratified", "kfold", "multilabel", "published"]
# Widget keys are the query-parameter names: every control is bound to the link (bind="query-params"),
# which also keeps its value across a visit to another page; a value the link cannot hold is dropped.
Q_BY, Q_METHOD, Q_NORM, Q_SCALE, Q_COLOURS, Q_GRID = "hm_by", "hm_method", "hm_norm", "hm_scale", "hm_colours", "hm_grid"
Q_FOLD_METHOD, Q_K, Q_SEED, Q_FOLD = "hm_fold_method", "hm_k", "hm_seed", "hm_fold"
Q_CLASS, Q_GROUP, Q_DIFF, Q_OTHER = "hm_class", "hm_group", "hm_diff", "hm_other"
METHOD_HELP = ("**mask**: the exact annotated pixels (polygons and RLE rasterised as pycocotools does). "
               "**box**: each annotation's bounding box, the authors' figure. **centroid**: one cell per annotation.")
NORM_HELP = ("**share**: fraction of the group's images in which the class covers the cell (comparable between "
             "groups of different sizes). **count**: annotations covering the cell. **max**: counts divided by the "
             "map's own maximum, as the authors' figure shows them.")
BOUND = {"bind": "query-params", "persist_state": "session"}


def _index(options: list, value: object) -> int:
    """The position of `value` in `options`, for a bound selectbox's default (0 when absent)."""
    return options.index(value) if value in options else 0


def view_controls_ui(default_by: str) -> tuple[str, str, str, str, str, int]:
    """Grouping, method, normalisation, scale, colour scale and grid resolution."""
    c1, c2, c3 = st.columns([1.2, 1.4, 1.6])
    c4, c5, c6 = st.columns([1.2, 1.4, 1.6])
    by = c1.selectbox("Group by", list(H.GROUPINGS), index=_index(list(H.GROUPINGS), default_by), key=Q_BY,
                      format_func=H.GROUPINGS.get, **BOUND,
                      help="Rows of the small multiples: the published split, one fold's train and valid parts, "
                           "the observation filter (by wavelength), or all images together.")
    method = c2.segmented_control("Method", list(H.METHODS), default="mask", key=Q_METHOD, help=METHOD_HELP,
                                  **BOUND) or "mask"
    how = c3.segmented_control("Normalise", list(H.NORMALISATIONS), default="share", key=Q_NORM, help=NORM_HELP,
                               **BOUND) or "share"
    scale = c4.segmented_control("Colour scale", list(HF.SCALES), default="linear", key=Q_SCALE, **BOUND,
                                 help="A log scale shows the faint wings next to the bright central ring.") or "linear"
    colours = c5.selectbox("Colours", list(HF.COLOURSCALES), key=Q_COLOURS, **BOUND,
                           help="Viridis and cividis are perceptually uniform (cividis also for colour-blind "
                                "readers); authors' blues is the white–sky blue–navy scale of the XAMI figure.")
    grid = c6.selectbox("Grid", list(H.GRIDS), index=_index(list(H.GRIDS), H.DEFAULT_GRID), key=Q_GRID,
                        format_func=lambda g: f"{g} × {g}", **BOUND,
                        help="Cells per side of the detector grid: one cell per pixel when it equals the frame's "
                             "side (512 for XAMI); frames of other sizes are scaled onto the same grid.")
    return by, method, how, scale, colours, int(grid)


def fold_controls_ui() -> tuple[str, int, int, int]:
    """Which fold set and which fold's parts to compare (the authors' stratified k = 4, seed 42 by default)."""
    c1, c2, c3, c4 = st.columns([3, 1.5, 1.5, 1.5])
    fold_method = c1.selectbox("Fold method", FOLD_METHODS, key=Q_FOLD_METHOD, format_func=F.METHOD_LABELS.get, **BOUND)
    fixed = fold_method == "published"
    k = c2.number_input("Folds k", min_value=F.K_MIN, max_value=F.K_MAX, value=F.AUTHORS_K, step=1, key=Q_K,
                        disabled=fixed, help="The authors used k = 4.", **BOUND)
    seed = c3.number_input("Seed", min_value=0, max_value=2**32 - 1, value=F.AUTHORS_SEED, step=1, key=Q_SEED,
                           disabled=fixed, help="random_state of the shuffling splitter; the authors used 42.", **BOUND)
    n_folds = 1 if fixed else int(k)
    # A fold past the new k is not an option: the selectbox falls back to fold 0.
    fold = c4.selectbox("Fold", list(range(n_folds)), key=Q_FOLD, help="Numbered from 0, as in mskf_0.csv.", **BOUND)
    return fold_method, int(k), int(seed), int(fold)


def map_controls_ui(hs: H.HeatmapSet) -> tuple[str, str, bool, str]:
    """Class, group, and whether to show a difference map (and against what).

    The options follow the heatmaps shown; a choice the new options lack falls back to the first.
    """
    classes = H.display_classes(hs.classes)
    cls = st.selectbox("Class", classes, index=_index(classes, "star-loop"), key=Q_CLASS, **BOUND)
    group = st.selectbox("Group", list(hs.groups), key=Q_GROUP, **BOUND)
    can_diff = len(hs.groups) > 1
    diff = st.toggle("Difference map", key=Q_DIFF, disabled=not can_diff, **BOUND,
                     help="This group's map minus another's (or all other images'), on a diverging scale "
                          "centred on zero. Use the share normalisation to compare groups of different sizes.")
    other = H.REST
    if diff and can_diff:
        others = [g for g in hs.groups if g != group] + [H.REST]
        other = st.selectbox("Minus", others, key=Q_OTHER, **BOUND,
                             format_func=lambda g: "all other images" if g == H.REST else g)
    return cls, group, bool(diff and can_diff), other


def page() -> None:
    """The Spatial heatmaps page: where each artefact class falls on the detector."""
    ds = current_dataset()

    st.title("Spatial heatmaps")
    if ds.provenance.recognised_xami or ds.provenance.synthetic:
        st.caption("Where each artefact class falls on the detector. XMM-OM artefacts sit at characteristic places: "
                   "read-out streaks run along columns, star loops gather towards the centre, the central ring is one tight "
                   "spot near x 262, y 283 px in XAMI's 512 px frames.")
    else:
        st.caption("Where each class falls in the frame.")
    synthetic_notice_ui(ds)

    default_by = "split" if len(ds.splits) > 1 else "fold"
    by, method, how, scale, colours, grid = view_controls_ui(default_by)
    fold_args = ("stratified", F.AUTHORS_K, F.AUTHORS_SEED, 0)  # unused unless grouping by fold
    if by == "fold":
        fold_args = fold_controls_ui()
    try:
        hs = cached_heatmaps(ds, method, grid, by, *fold_args)
    except XamiDataError as exc:
        st.error(f"{md_literal(exc)}\n\nPick another fold method or grouping.", icon=":material/error:")
        st.stop()

    st.markdown(" · ".join(f"**{md_literal(g)}**: {int(n):,} images" for g, n in zip(hs.groups, hs.n_images, strict=True))
                + f" — {md_literal(H.method_label(hs))}, {grid} × {grid} cells of {md_literal(H.cell_text(hs))}")
    st.caption(md_literal(H.frame_note(hs)))  # frame size(s) and cells from the data, not assumed
    stand_in = H.stand_in_note(hs)
    if stand_in:
        st.info(f"**Method: {H.METHODS[method]}.** {md_literal(stand_in)}", icon=":material/crop_square:")

    st.subheader("Annotations per class and group")
    summary = H.summary_table(hs)
    st.dataframe(summary, width="stretch")
    table_download_ui(summary, name=f"heatmap_counts_{by}", key="hm_summary_table",
                      caption="Annotations and images with each class, per group.")
    st.caption("Annotations placed on the maps, and images holding at least one of them, per class and group.")

    st.subheader("Class × group")
    chart_ui(cached_small_multiples(ds, (method, grid, by, *fold_args), how, scale, colours),
             name=f"heatmaps_{method}_{by}_{how}",
             key="hm_grid_chart", aspect=0.6, wide=True)
    st.caption(f"Rows: {H.GROUPINGS[by]}; columns: classes in the order of the authors' figure. Colour: "
               f"{HF.VALUE_LABELS[how]}{' (log scale)' if scale == 'log' else ''}, one scale per class column (shared by "
               "its rows, so groups compare directly); blank cells: no annotation of the class."
               + (f" Panels show {HF.MAX_PANEL_CELLS} × {HF.MAX_PANEL_CELLS} cells, each the mean of "
                  f"{grid // HF.MAX_PANEL_CELLS} × {grid // HF.MAX_PANEL_CELLS} cells of the grid; the map below has "
                  "all of them." if grid > HF.MAX_PANEL_CELLS else ""))

    st.subheader("One map")
    left, right = st.columns([1, 3])
    with left:
        cls, group, diff, other = map_controls_ui(hs)
        peak = H.map_peak(hs, group, cls)
        if diff:
            ends = H.difference_extremes(hs, cls, group, other, how=how)
            other_label = "the rest" if other == H.REST else other
            for end, label in (("most", f"Most in {group}"), ("least", f"Most in {other_label}")):
                value = ends[end]["value"]
                st.metric(md_literal(label), f"x {ends[end]['x']:.0f}, y {ends[end]['y']:.0f} px",
                          f"{value:+.1%}" if how == "share" else f"{value:+.3g}", delta_color="off")
        elif peak is None:
            st.info(f"No {md_literal(cls)} annotation in {md_literal(group)}.")
        else:
            st.metric("Most covered cell", f"x {peak['x']:.0f}, y {peak['y']:.0f} px",
                      help="Centre of the cell covered by the most images of the group (the middle of a plateau).")
            st.metric("Images covering it", f"{peak['images']:,} of {peak['n_images']:,}")
            st.metric("Share of the group's images", f"{peak['share']:.1%}")
    with right:
        fig = (HF.difference_figure(hs, cls, group, other, how=how) if diff
               else HF.heatmap_figure(hs, group, cls, how=how, scale=scale, colours=colours))
        chart_ui(fig, name=f"heatmap_{cls}_{group}{'_difference' if diff else ''}_{method}".replace(" ", "_"),
                 key="hm_single_chart", aspect=1.0)


if __name__ == "__main__":  # run as a script by Streamlit's legacy pages/ mode (see run_app)
    run_app()
