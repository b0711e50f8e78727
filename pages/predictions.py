"""Predictions: a model's COCO metrics on the dataset (pycocotools COCOeval), its curves and its errors at a threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from xami_core.analysis import evaluation as EV
from xami_core.analysis import folds as F
from xami_core.io.predictions import Predictions
from xami_core.model import Dataset, Problem, XamiDataError
from xami_core.render import evaluation_figures as EF
from xami_core.render import overlay, stretch
from xami_core.render.export import table_to_csv, table_to_latex
from xami_core.render.figures_overlay import overlay_figure
from xami_ui.cache import (
    cached_evaluation,
    cached_folds,
    cached_group_metrics,
    cached_thresholds,
)
from xami_ui.context import current_dataset, current_palette, run_app, synthetic_notice_ui
from xami_ui.export import chart_ui, table_download_ui
from xami_ui.predictions import (
    BOUND,
    Q_IOU_TYPE,
    Q_SET,
    gallery_selection,
    load_sets,
    restore_across_pages,
    sidebar_ui,
    thresholds_ui,
)
from xami_ui.text import md_literal

# Widget keys are the query-parameter names: every control is bound to the link (bind="query-params"),
# which also keeps its value across a visit to another page; a value the link cannot hold is dropped.
Q_SUBSET, Q_METRIC, Q_PR_IOU = "pred_subset", "pred_metric", "pred_pr_iou"
Q_CONFUSION, Q_GROUP_BY, Q_FRAME = "pred_confusion", "pred_group_by", "pred_frame"
ALL_IMAGES = "all images"
# The gallery's current selection as a subset: a fixed option, so the link and the session keep it while the
# gallery's filters change (its size and description are said beside it). Links made before named the option
# with them, "Gallery selection (12 images: ...)": such a link opens on this option.
GALLERY_SUBSET = "Gallery selection"
OLD_GALLERY_SUBSET = GALLERY_SUBSET + " ("
PERCENT = "%.1f"  # AP and AR: COCOeval's fractions x 100, one decimal, as detectron2 and most papers print them
RATE = "%.3f"  # precision, recall, F1 and IoU: fractions
NO_VALUE = "—"  # where COCOeval gives -1 (no ground truth of a class or size)
RENUMBER_NOTE = ("Ground-truth annotations are numbered from 1 for COCOeval: it stores a match as the annotation's "
                 "id and reads id 0 as “no match”, so a plain pycocotools run on a file numbered from 0 (Roboflow "
                 "exports, XAMI's among them) counts the detection of annotation 0 in each split as a false positive "
                 "and can give slightly lower numbers than this page.")


def _index(options: list, value: object) -> int:
    """The position of `value` in `options`, for a bound selectbox's default (0 when absent)."""
    return options.index(value) if value in options else 0


def prediction_sets_ui(ds: Dataset) -> dict[str, Predictions]:
    """The sets chosen in the sidebar's Predictions section (drawn here), loaded; errors said per path."""
    sets, failed = load_sets(ds, sidebar_ui(ds))
    for what, message in failed:
        # Each message opens with the path or file name and says what was expected; a set's own name is added.
        named = "" if message.startswith(what) else f" ({md_literal(what)})"
        st.error(f"**Predictions not loaded**{named}: {md_literal(message)}", icon=":material/error:")
    return sets


def fold_groups(assignments: pd.DataFrame) -> dict[str, np.ndarray]:
    """The valid then the train part of every fold, as image groups ("fold 0 valid", ...)."""
    return EV.fold_part_groups(assignments, "valid") | EV.fold_part_groups(assignments, "train")


def gallery_subset(ds: Dataset) -> tuple[np.ndarray, str]:
    """The gallery's current selection kept for `ds`: its image ids (sorted, shape (n,); empty when the gallery
    kept none for this dataset or its filters select no image) and the gallery's description of its filters."""
    kept = gallery_selection(ds)
    if kept is None:
        return np.empty(0, dtype=np.int64), ""
    description, kept_ids = kept
    return np.intersect1d(np.asarray(kept_ids, dtype=np.int64), ds.images["image_id"].to_numpy()), description


def gallery_subset_ui(ds: Dataset, ids: np.ndarray) -> str:
    """Say what the gallery selection holds under the subset box, or why there is nothing to evaluate (then stop
    the page); returns the subset's name with the gallery's description, for the headings and captions."""
    kept = gallery_selection(ds)
    if kept is None:
        st.warning("**Gallery selection**: the Gallery has no selection for this dataset in this session, so there "
                   "is nothing to evaluate. Open the Gallery: the frames its filters select become this subset. Or "
                   "choose another subset above.", icon=":material/photo_library:")
        st.stop()
    description = kept[0]
    if not len(ids):
        st.warning(f"**Gallery selection**: the Gallery's filters select no image ({md_literal(description)}), so "
                   "there is nothing to evaluate. Change them in the Gallery, or choose another subset above.",
                   icon=":material/photo_library:")
        st.stop()
    st.caption(f"Gallery selection: {len(ids):,} images, as the Gallery's filters stand: {md_literal(description)}.")
    return f"{GALLERY_SUBSET} ({description})"


def image_subsets(ds: Dataset) -> dict[str, np.ndarray]:
    """Image subsets to evaluate on: all images, the gallery's current selection (empty when there is none), each
    split, each filter, each part of the authors' folds."""
    images = ds.images
    out = {ALL_IMAGES: np.sort(images["image_id"].to_numpy()), GALLERY_SUBSET: gallery_subset(ds)[0]}
    if len(ds.splits) > 1:
        out |= {f"split {s}": np.sort(images.loc[images["split"] == s, "image_id"].to_numpy()) for s in ds.splits}
    out |= {f"filter {label}": ids for label, ids in EV.filter_groups(ds).items()}
    try:
        folds = cached_folds(ds, "stratified", F.AUTHORS_K, F.AUTHORS_SEED)
    except XamiDataError:  # too few images for the authors' folds: the other subsets remain
        return out
    return out | {f"{label} (authors' folds)": ids for label, ids in fold_groups(folds.assignments).items()}


def default_subset(ds: Dataset, sets: dict[str, Predictions]) -> str:
    """The split every set predicted on when that is one split of several, else all images."""
    splits = {s for preds in sets.values() for s in preds.splits(ds)}
    return f"split {splits.pop()}" if len(splits) == 1 and len(ds.splits) > 1 else ALL_IMAGES


# The sets table's counts: every record read is in exactly one of the four columns after it.
RECORDS, UNUSABLE, BOX_ONLY, OUTSIDE, EVALUATED = (
    "records read", "unusable", "box only (segm)", "on other images", "evaluated")
SETS_COLUMN_HELP = {
    RECORDS: "Every record of the results file (every line of the YOLO files).",
    UNUSABLE: "Records left out when read (the reasons and records are listed below the table).",
    BOX_ONLY: "Usable predictions on the subset's images that have no mask: segm cannot evaluate them; bbox does.",
    OUTSIDE: "Usable predictions on images outside the subset: COCOeval's params.imgIds leaves them out.",
    EVALUATED: "Predictions that took part in COCOeval.",
    "images": "Images of the dataset with at least one usable prediction of the set.",
}


def sets_table(ds: Dataset, sets: dict[str, Predictions], evaluations: dict[str, EV.Evaluation]) -> pd.DataFrame:
    """One row per set: its records, split into unusable, box only (segm), on images outside the subset and
    evaluated (records read = the sum of the other four), the images it predicts on and where it came from."""
    rows = []
    for label, preds in sets.items():
        ev = evaluations[label]
        outside = int((~preds.table["image_id"].isin(ev.image_ids)).sum())
        rows.append({
            "set": label, RECORDS: len(preds.table) + preds.n_left_out, UNUSABLE: preds.n_left_out,
            BOX_ONLY: int(sum(ev.left_out.values())), OUTSIDE: outside, EVALUATED: len(ev.dt),
            "images": len(preds.image_ids()), "source": preds.source})
    return pd.DataFrame(rows)


def sets_section_ui(ds: Dataset, sets: dict[str, Predictions], evaluations: dict[str, EV.Evaluation]) -> None:
    """The sets table, then for each set with problems why records were left out and every message, in full."""
    st.dataframe(sets_table(ds, sets, evaluations), width="stretch", hide_index=True,
                 column_config={"set": st.column_config.TextColumn("set", pinned=True)}  # kept in view when scrolled
                 | {c: st.column_config.NumberColumn(c, help=h) for c, h in SETS_COLUMN_HELP.items()})
    st.caption(f"{RECORDS} = {UNUSABLE} + {BOX_ONLY} + {OUTSIDE} + {EVALUATED}.")
    for label, preds in sets.items():
        if not preds.problems and not preds.left_out:
            continue
        title = f"Problems in {label}: {preds.n_left_out:,} unusable record(s), {len(preds.problems)} message(s)"
        with st.expander(md_literal(title), expanded=preds.n_left_out > 0, icon=":material/report:"):
            if preds.left_out:
                st.markdown("**Unusable records by reason**: " + "; ".join(
                    f"{md_literal(reason)}: {n:,}" for reason, n in preds.left_out.items()))
            st.markdown("\n".join(f"- {problem_line(p)}" for p in preds.problems))


def problem_line(problem: Problem) -> str:
    """One problem as a line of markdown: file, record, message (a warning says so)."""
    kind = "" if problem.severity == "error" else "warning: "
    return f"{md_literal(problem.file)} [{md_literal(problem.record)}]: {kind}{md_literal(problem.message)}"


def metric_downloads_ui(table: pd.DataFrame, name: str, key: str, caption: str) -> None:
    """CSV (percent, full precision) and booktabs LaTeX (percent, one decimal) of a metric table."""
    row = st.container(horizontal=True)
    row.download_button("CSV", data=lambda: table_to_csv(table), file_name=f"{name}.csv", mime="text/csv",
                        icon=":material/table:", key=f"{key}_csv", on_click="ignore")
    row.download_button("LaTeX", data=lambda: table_to_latex(table, caption=caption, label=f"tab:xami-{name}",
                                                             decimals=1),
                        file_name=f"{name}.tex", mime="text/x-tex", icon=":material/functions:", key=f"{key}_tex",
                        on_click="ignore", help="A booktabs table; needs \\usepackage{booktabs}.")


def in_percent(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`columns` of a table of fractions as percent (x 100), the other columns unchanged."""
    return table.assign(**{c: table[c] * 100.0 for c in columns})


def show_table(table: pd.DataFrame, columns: list[str], fmt: str = PERCENT, hide_index: bool = False) -> None:
    """Show a whole table with `columns` printed in `fmt` (one decimal for percent), "—" where there is no value."""
    st.dataframe(table, width="stretch", height="content", hide_index=hide_index, placeholder=NO_VALUE,
                 column_config={c: st.column_config.NumberColumn(c, format=fmt) for c in columns})


def metrics_section_ui(sets: dict[str, Predictions], evaluations: dict[str, EV.Evaluation], what: str) -> None:
    """The COCO metric table: per class for one set; metrics x sets and one metric per class for several."""
    metrics = list(EV.METRICS)
    if len(sets) == 1:
        label = next(iter(sets))
        table = in_percent(EV.metrics_table(evaluations[label]), metrics)
        show_table(table, metrics)
        metric_downloads_ui(table, name="coco_metrics", key="pred_metrics_table",
                            caption=f"COCO metrics in percent ({label}, {what}).")
        return
    overall = pd.DataFrame({label: in_percent(EV.metrics_table(ev), metrics).loc[EV.ALL, metrics]
                            for label, ev in evaluations.items()})
    overall.index.name = "metric"
    show_table(overall, list(overall.columns))
    metric_downloads_ui(overall, name="coco_metrics_by_set", key="pred_metrics_table",
                        caption=f"COCO metrics in percent per prediction set ({what}).")
    metric = st.selectbox("Metric per class", metrics, key=Q_METRIC, **BOUND)
    per_class = EV.compare_metrics(evaluations, metric) * 100.0
    show_table(per_class, list(per_class.columns))
    metric_downloads_ui(per_class, name=f"coco_{metric}_per_class", key="pred_compare_table",
                        caption=f"{metric} in percent per class and prediction set ({what}).")


def pr_section_ui(ev: EV.Evaluation, label: str, tag: str) -> None:
    """Precision-recall curves per class at one of COCOeval's IoU thresholds."""
    thresholds = [round(float(t), 2) for t in ev.iou_thresholds]
    iou = st.select_slider("IoU threshold of the curves", thresholds, value=0.5, key=Q_PR_IOU, **BOUND,
                           format_func=lambda t: f"{t:.2f}", help="One of COCOeval's ten IoU thresholds.")
    iou = float(ev.iou_thresholds[thresholds.index(iou)])
    ap = {name: EV.summary_value(ev, True, iou, "all", 100, class_index=k) for k, name in enumerate(ev.class_names)}
    ap = {name: (v if v >= 0 else np.nan) for name, v in ap.items()}
    chart_ui(EF.pr_curve_figure(EV.pr_curves(ev, iou=iou), iou=iou, palette=current_palette(), ap=ap),
             name=f"pr_curves_{tag}_iou{round(100 * iou)}", key="pred_pr_chart", aspect=0.75)
    st.caption(f"{md_literal(label)}: COCOeval's interpolated precision (`eval['precision']`) at its 101 recall "
               f"points, area all, up to 100 detections per image; legend: AP at IoU {iou:.2f} in percent. A class "
               "without ground truth in the subset has no curve.")


def thresholds_section_ui(ds: Dataset, preds: Predictions, iou_type: str, ids: tuple[int, ...], label: str,
                          tag: str) -> EV.ThresholdReport:
    """Score and IoU sliders, precision/recall/F1 per class and the confusion matrix; returns the report."""
    score, iou = thresholds_ui(st.container())
    report = cached_thresholds(ds, preds, iou_type, ids, iou, score)
    rates = ["precision", "recall", "f1"]
    table = report.per_class.rename(columns={"n_gt": "ground truth", "n_pred": "predictions", "tp": "TP",
                                             "fp": "FP", "fn": "FN", "f1": "F1"})
    show_table(table, ["precision", "recall", "F1"], RATE)
    table_download_ui(table, name=f"thresholds_{tag}", key="pred_thresholds_table",
                      caption=f"Counts at IoU {iou:g} and score {score:g} ({label}, {iou_type}).")
    st.caption("Precision = TP / predictions, recall = TP / ground truth, F1 = 2 TP / (2 TP + FP + FN), as fractions; "
               "the last row counts every class together. Matching as COCOeval's at one IoU threshold: per image, "
               "predictions by score take the unmatched ground truth of their class with the highest IoU.")
    chart_ui(EF.threshold_figure(report.per_class[rates], palette=current_palette()),
             name=f"precision_recall_f1_{tag}", key="pred_rates_chart", aspect=0.55)
    st.subheader("Confusion matrix")
    value = st.segmented_control("Colour by", list(EF.CONFUSION_VALUES), default="count", key=Q_CONFUSION,
                                 **BOUND) or "count"
    chart_ui(EF.confusion_figure(report.confusion, value=value), name=f"confusion_{tag}", key="pred_confusion_chart",
             aspect=0.8)
    table_download_ui(report.confusion, name=f"confusion_{tag}", key="pred_confusion_table",
                      caption=f"Confusion matrix at IoU {iou:g} and score {score:g} ({label}, {iou_type}).")
    st.caption("Rows: ground-truth class; columns: predicted class. Diagonal: TP. Off the diagonal: a prediction that "
               "overlaps (IoU at the threshold) an instance of another class left unmatched. Background column: "
               "missed instances (FN); background row: spurious predictions (FP, duplicates included).")
    return report


def frame_ui(ds: Dataset, preds: Predictions, report: EV.ThresholdReport, image_id: int) -> None:
    """One frame: its ground truth filled in the class colours, the predictions and misses outlined by outcome."""
    img = ds.image(image_id)
    frame = overlay.load_frame(img["path"])
    if frame is None:
        st.warning("The image file is missing or unreadable; its outlines are drawn on a grey frame.")
        frame = overlay.placeholder_frame(int(img["width"]), int(img["height"]))
    else:
        frame = stretch.stretch_image(frame)  # the gallery's default display
    truth = ds.annotations_of(image_id)
    fig = overlay_figure(frame, truth, ds.class_colours(current_palette()), 0.3, fill=True, contour=False,
                         boxes=False, labels=False, height=720)
    EF.add_prediction_layer(fig, preds.table[preds.table["image_id"] == image_id],
                            report.instances[report.instances["image_id"] == image_id], truth)
    chart_ui(fig, name=f"{img['obs_key']}_predictions", key="pred_frame_chart", aspect=1.0, zoom=True)
    st.caption("Ground truth filled in the class colours; predictions at or above the score threshold outlined "
               "(dashed): green TP, orange FP (spurious, duplicate or another class); dotted purple boxes: missed "
               "instances (FN). Hover an outline for its class, score and match. Scroll to zoom.")


def errors_section_ui(ds: Dataset, preds: Predictions, report: EV.ThresholdReport, tag: str) -> None:
    """The frames with the most errors at the thresholds, one of them drawn, every instance's outcome for download."""
    errors = EV.image_errors(report)
    worst = errors[errors["errors"] > 0].sort_values(["errors", "mean_iou"], ascending=[False, True]).head(15)
    files = ds.images.set_index("image_id")[["file_name", "split"]]
    if len(worst):
        labels = {int(i): f"{md_literal(files.loc[i, 'file_name'])} ({int(n)} errors)"
                  for i, n in worst["errors"].items()}
        image_id = st.selectbox("Frame", list(labels), key=Q_FRAME, format_func=labels.get, **BOUND,
                                help="One of the frames with the most errors below, drawn with its outcomes.")
        frame_ui(ds, preds, report, int(image_id))
    worst = (worst.join(files).reset_index()[["file_name", "split", "tp", "fp", "fn", "errors", "mean_iou"]]
             .rename(columns={"file_name": "image", "tp": "TP", "fp": "FP", "fn": "FN", "mean_iou": "mean IoU"}))
    show_table(worst, ["mean IoU"], RATE, hide_index=True)
    st.caption("The 15 frames with the most errors (FP + FN), then the lowest mean IoU of their TP (— without a TP). "
               "Every instance's outcome (TP, FP, FN, the match and its IoU):")
    st.download_button("Instances (CSV)", data=lambda: table_to_csv(report.instances, index=False),
                       file_name=f"instances_{tag}.csv", mime="text/csv", icon=":material/table:",
                       key="pred_instances_csv", on_click="ignore",
                       help="One row per prediction (at or above the score threshold) and per ground-truth instance: "
                            "side, id, image_id, class, score, outcome, matched id and class, IoU of the match, best "
                            "IoU with any instance of its class.")


def groups_section_ui(ds: Dataset, preds: Predictions, iou_type: str, ids: np.ndarray, label: str, tag: str) -> None:
    """COCO metrics per filter or per part of the authors' folds (one COCOeval run per group, cached)."""
    by = st.segmented_control("Group by", ["filter", "fold part"], default="filter", key=Q_GROUP_BY, **BOUND) or "filter"
    if by == "filter":
        groups = EV.filter_groups(ds, ids)
        what = "XMM-OM filter (effective wavelength)"
    else:
        try:
            folds = cached_folds(ds, "stratified", F.AUTHORS_K, F.AUTHORS_SEED)
        except XamiDataError as exc:
            st.info(f"The authors' folds cannot be made for this dataset: {md_literal(exc)}")
            return
        groups = {g: np.intersect1d(v, ids) for g, v in fold_groups(folds.assignments).items()}
        what = "part of the authors' folds (stratified, k = 4, seed 42)"
    table = cached_group_metrics(ds, preds, iou_type, tuple((g, tuple(int(i) for i in v)) for g, v in groups.items()))
    if table.empty:
        st.info("No group holds an image of the subset.")
        return
    metrics = list(EV.METRICS)
    counts = ["n_images", "n_gt", "n_pred"]
    shown = in_percent(table, metrics).astype({c: np.int64 for c in counts})
    show_table(shown, metrics)
    metric_downloads_ui(shown, name=f"coco_metrics_by_{by.replace(' ', '_')}_{tag}", key="pred_groups_table",
                        caption=f"COCO metrics in percent per {what} ({label}, {iou_type}).")
    chart_ui(EF.group_metrics_figure(table, what=what), name=f"ap_by_{by.replace(' ', '_')}_{tag}",
             key="pred_groups_chart", aspect=0.5)
    st.caption(f"One COCOeval run per group, on the group's images within the subset; AP in percent. "
               f"Groups: {md_literal(what)}.")


def page() -> None:
    """The Predictions page: a model's COCO metrics, precision-recall curves, thresholds and errors."""
    ds = current_dataset()

    st.title("Predictions")
    st.caption("How well does a model find the artefacts? Load its predictions (a COCO results file or YOLO text "
               "files); the page evaluates them with pycocotools COCOeval, the standard papers report, and counts "
               "its hits and errors at a score threshold.")
    synthetic_notice_ui(ds)

    sets = prediction_sets_ui(ds)
    if not sets:
        st.info("No prediction set loaded. In the sidebar's Predictions section, enter the path of a COCO results "
                ".json file or of a folder of YOLO .txt prediction files, or upload a results file"
                + (", or switch the synthetic predictions on." if ds.provenance.synthetic else "."),
                icon=":material/model_training:")
        st.stop()
    if any(p.synthetic for p in sets.values()):
        st.warning("**Synthetic predictions**: made from the sample's ground truth by moving, reshaping, confusing "
                   "and dropping instances. Not a real model; the numbers only show how the page works.",
                   icon=":material/science:")

    subsets = image_subsets(ds)
    names = list(subsets)
    c1, c2 = st.columns([2, 1])
    linked = st.query_params.get(Q_SUBSET)
    if Q_SUBSET not in st.session_state and linked and linked.startswith(OLD_GALLERY_SUBSET):
        st.session_state[Q_SUBSET] = GALLERY_SUBSET  # a link made before the option's name was fixed
    subset = c1.selectbox("Evaluate on", names, index=_index(names, default_subset(ds, sets)), key=Q_SUBSET, **BOUND,
                          help="COCOeval's params.imgIds: ground truth and predictions of these images only. Folds: "
                               "the authors' stratified K-fold, k = 4, seed 42. Gallery selection: the frames the "
                               "gallery's filters select as they stand now (open the Gallery to change them).")
    restore_across_pages(Q_IOU_TYPE, "segm")  # the gallery's prediction layer draws it too
    iou_type = c2.segmented_control("IoU type", list(EV.IOU_TYPES), default="segm", key=Q_IOU_TYPE, **BOUND,
                                    help="segm: mask IoU; bbox: box IoU. Box-only predictions take part in bbox "
                                         "only.") or "segm"
    ids = subsets[subset]
    subset_name = subset
    if subset == GALLERY_SUBSET:
        subset_name = gallery_subset_ui(ds, ids)
    key_ids = tuple(int(i) for i in ids)
    try:
        evaluations = {label: cached_evaluation(ds, preds, iou_type, key_ids) for label, preds in sets.items()}
    except XamiDataError as exc:
        st.error(f"{md_literal(exc)}\n\nChoose another subset.", icon=":material/error:")
        st.stop()
    what = f"{iou_type}, {subset_name}"

    st.subheader("Prediction sets")
    sets_section_ui(ds, sets, evaluations)

    n_gt = len(next(iter(evaluations.values())).gt)
    st.subheader("COCO metrics")
    st.markdown(f"**{md_literal(subset_name)}**: {len(ids):,} images, {n_gt:,} ground-truth instances · IoU type "
                f"**{iou_type}** · AP and AR in percent")
    metrics_section_ui(sets, evaluations, what)
    left_out = {label: preds.n_left_out + int(sum(evaluations[label].left_out.values())) for label, preds in sets.items()}
    st.caption("COCOeval's summary (evaluate, accumulate, summarize) in percent (its fractions × 100), one decimal; "
               "AP: mean over IoU 0.50:0.05:0.95; s/m/l: areas below 32², 32²–96², above 96² px; AR1/10/100: recall "
               "with at most 1/10/100 detections per image; — where COCOeval gives −1 (no ground truth of that "
               "class or size). Left out as unusable or box only (segm): "
               + (", ".join(f"{v:,} record(s) of {md_literal(k)}" for k, v in left_out.items() if v) or "nothing")
               + "; predictions on images outside the subset do not take part (see the table of sets above). "
               + RENUMBER_NOTE)

    labels = list(sets)
    label = labels[0]
    if len(labels) > 1:
        restore_across_pages(Q_SET, labels[0])
        label = st.selectbox("Prediction set for the views below", labels, key=Q_SET, **BOUND)
    preds, ev = sets[label], evaluations[label]
    tag = f"{iou_type}_{subset}".replace(" ", "_").replace("(", "").replace(")", "").replace("'", "")

    st.subheader("Precision–recall curves")
    pr_section_ui(ev, label, tag)

    st.subheader("At a score threshold")
    report = thresholds_section_ui(ds, preds, iou_type, key_ids, label, tag)

    st.subheader("Frames with the most errors")
    errors_section_ui(ds, preds, report, tag)

    st.subheader("AP per filter and per fold part")
    groups_section_ui(ds, preds, iou_type, ids, label, tag)


if __name__ == "__main__":  # run as a script by Streamlit's legacy pages/ mode (see run_app)
    run_app()
