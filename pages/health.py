"""Health: a verdict on the dataset, the checks behind it with the frames they found, and how annotations are shaped."""

from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from xami_core.analysis import annotation_stats as S
from xami_core.analysis import folds as F
from xami_core.analysis import health as H
from xami_core.io.fold_files import tables_csv_zip
from xami_core.model import Dataset, XamiDataError
from xami_core.render import health_figures as HF
from xami_core.render.export import NO_BROWSER_HELP, find_browser
from xami_ui.cache import SPLIT_PARTS, cached_annotation_stats, cached_health_report, cached_measure_bins, figure_server
from xami_ui.context import current_dataset, current_palette, run_app, synthetic_notice_ui
from xami_ui.export import chart_ui, table_download_ui
from xami_ui.text import md_literal

# Widget keys are the query-parameter names: every control is bound to the link (bind="query-params"),
# which also keeps its value across a visit to another page; a value the link cannot hold is dropped.
Q_BOX, Q_MASK, Q_HASH = "h_box_iou", "h_mask_iou", "h_hash"
Q_PARTS, Q_STAT, Q_VALUE, Q_CO_VALUE = "h_parts", "h_stat", "h_value", "h_co_value"
OWN_PARAMS = (Q_BOX, Q_MASK, Q_HASH, Q_PARTS, Q_STAT, Q_VALUE, Q_CO_VALUE)
BOUND = {"bind": "query-params", "persist_state": "session"}
GALLERY = "gallery"  # the Gallery's URL path; it opens the frame its `image` parameter names in its detail view
INSTANCES = "instances"  # the statistic "instances per image" (the others are annotation_stats.MEASURES)
STATISTICS = {INSTANCES: "instances per image", "area": "instance area", "aspect_ratio": "box aspect ratio",
              "n_vertices": "polygon vertices", "centre_distance": "distance from the centre"}
STATUS_FILLS = {"passed": HF.FILL_PASSED, "to look at": HF.FILL_FOUND, "counted": HF.FILL_COUNTED}
LINK_TEXT = "open ↗"


def gallery_link(image_id: object, params: dict[str, str]) -> str | None:
    """The Gallery's detail view of a frame (relative URL `gallery?image=<id>&...`), keeping the link's other
    parameters (the data source) so it opens on the same dataset; None for a record without a frame."""
    if image_id is None or pd.isna(image_id):
        return None
    return f"{GALLERY}?{urlencode({'image': int(image_id)} | params)}"


def gallery_links(image_ids: pd.Series, params: dict[str, str]) -> list[str | None]:
    """`gallery_link` of each id, made in bulk: a check's table can list a record per frame of a large set
    (one `urlencode` per row took most of a rerun)."""
    ids = pd.Series(image_ids).astype("Int64")
    rest = urlencode(params)
    links = (f"{GALLERY}?image=" + ids.astype("string") + (f"&{rest}" if rest else "")).astype(object)
    return links.where(ids.notna(), None).tolist()


def with_links(table: pd.DataFrame, params: dict[str, str]) -> pd.DataFrame:
    """`table` with a "frame" link column first (and "other frame" for a pair's second frame)."""
    out = table.copy()
    if "other_image_id" in out.columns:
        out.insert(0, "other frame", gallery_links(out["other_image_id"], params))
    out.insert(0, "frame", gallery_links(out["image_id"], params))
    return out


LINK_COLUMNS = {
    "frame": st.column_config.LinkColumn("frame", display_text=LINK_TEXT, width="small",
                                         help="Opens the frame in the Gallery's detail view (new tab)."),
    "other frame": st.column_config.LinkColumn("other frame", display_text=LINK_TEXT, width="small",
                                               help="The pair's second frame in the Gallery's detail view."),
    "iou": st.column_config.NumberColumn("IoU", format="%.3f"),
    "mask_iou": st.column_config.NumberColumn("mask IoU", format="%.3f"),
    "max_outside_px": st.column_config.NumberColumn("max outside (px)", format="%.1f"),
}


def thresholds_ui() -> tuple[float, float, int]:
    """The checks' thresholds: box IoU, mask IoU and hash distance."""
    c1, c2, c3 = st.columns(3)
    box = c1.slider("Stored box vs mask box: flag IoU below", 0.0, 1.0, H.DEFAULT_BOX_IOU, 0.05, key=Q_BOX, **BOUND,
                    help="IoU of each annotation's stored box with the box of its own polygon or mask.")
    mask = c2.slider("Near-duplicate annotations: flag mask IoU above", 0.0, 1.0, H.DEFAULT_MASK_IOU, 0.05, key=Q_MASK,
                     **BOUND, help="Two annotations of one class in one frame whose masks overlap this much.")
    distance = c3.slider("Near-duplicate frames: hash bits apart (of 256)", 0, H.MAX_HASH_DISTANCE,
                         H.DEFAULT_HASH_DISTANCE, 1, key=Q_HASH, **BOUND,
                         help="Frames whose 256-bit perceptual hashes differ in at most this many bits. "
                              "0: identical hashes only.")
    return float(box), float(mask), int(distance)


def verdict_ui(report: H.HealthReport, ds: Dataset) -> None:
    """The headline: the verdict sentence and four numbers."""
    flagged = [r for r in report.results if r.flagged]
    passed = sum(1 for r in flagged if r.count == 0)
    if report.problem_count:
        st.warning(f"**{md_literal(report.verdict)}**", icon=":material/report:")
    else:
        st.success(f"**{md_literal(report.verdict)}**", icon=":material/verified:")
    cols = st.columns(4)
    cols[0].metric("Checks passed", f"{passed} of {len(flagged)}")
    cols[1].metric("Records to look at", f"{report.problem_count:,}")
    cols[2].metric("Images checked", f"{len(ds.images):,}")
    cols[3].metric("Hard negatives (counted)", f"{report[H.HARD_NEGATIVES].count:,}",
                   help="Images without annotations: XAMI keeps about 50 on purpose (galaxies, clusters, nebulae).")


def checks_ui(report: H.HealthReport, params: dict[str, str]) -> None:
    """The summary table, then each check that found records, expandable, with links to its frames."""
    summary = HF.summary_table(report)
    fills = {"passed": STATUS_FILLS["passed"], "to look at": STATUS_FILLS["to look at"]}
    shown = summary.assign(status=summary["status"].str.replace(" ", "\u00a0"))  # a status never wraps
    fills = {k.replace(" ", "\u00a0"): v for k, v in fills.items()}
    styled = (shown[["status", "check", "count", "why"]].rename(columns={"why": "why it matters"}).style
              .format({"count": "{:,d}"})
              .apply(lambda row: [f"background-color: {fills.get(row['status'], STATUS_FILLS['counted'])}"] * len(row),
                     axis=1))
    st.table(styled, hide_index=True)
    table_download_ui(summary.drop(columns=["name"]), name="health_summary", key="health_summary_table", index=False,
                      caption="Dataset health checks: status, count of offending records, and why each matters.")
    for result in report.results:
        if not result.count:
            continue
        noun = "record" if result.count == 1 else "records"
        label = (f"{result.title}: {result.count:,} {noun}" + ("" if result.flagged else " (counted, not flagged)"))
        with st.expander(md_literal(label), icon=":material/warning:" if result.flagged else ":material/info:"):
            st.caption(md_literal(result.why))
            st.dataframe(with_links(result.table, params), hide_index=True, width="stretch", column_config=LINK_COLUMNS,
                         key=f"health_table_{result.name}")


def parts_ui(ds: Dataset) -> str:
    """Which parts to compare: the splits, or one fold of the authors' folds."""
    options = [SPLIT_PARTS] + [f"fold{k}" for k in range(F.AUTHORS_K)]
    splits = ", ".join(ds.splits)

    def label(value: str) -> str:
        return f"splits ({splits})" if value == SPLIT_PARTS else f"authors' fold {value.removeprefix('fold')}"

    return st.selectbox("Compare", options, key=Q_PARTS, format_func=label, **BOUND,
                        help=f"The published split, or one fold's train and valid parts of the authors' folds "
                             f"(stratified {F.AUTHORS_K}-fold, seed {F.AUTHORS_SEED}, as their mskf_k files).")


def statistics_ui(ds: Dataset, palette: str) -> dict[str, pd.DataFrame]:
    """Per class and part: the chosen statistic's histograms and order statistics, then class co-occurrence."""
    c1, c2 = st.columns([3, 2])
    with c1:
        parts = parts_ui(ds)
    value = c2.segmented_control("Show", list(HF.VALUES), default="share", key=Q_VALUE, **BOUND) or "share"
    statistic = st.segmented_control("Statistic", list(STATISTICS), format_func=STATISTICS.get, default=INSTANCES,
                                     key=Q_STAT, **BOUND) or INSTANCES
    try:
        stats = cached_annotation_stats(ds, parts)
    except XamiDataError as exc:
        st.error(f"The authors' folds cannot be made for this data: {md_literal(exc)} Showing the splits.",
                 icon=":material/error:")
        parts, stats = SPLIT_PARTS, cached_annotation_stats(ds, SPLIT_PARTS)
    tag = parts if parts != SPLIT_PARTS else "splits"
    if statistic == INSTANCES:
        chart_ui(HF.instances_figure(stats["per_image"], value=value, palette=palette, classes=ds.class_names),
                 name=f"health_instances_per_image_{tag}", key="health_stat_chart", aspect=0.35, wide=True)
        st.caption("Images holding k instances of each class (k = 0: images without that class; in the last panel, "
                   "images without any annotation, XAMI's hard negatives) — "
                   + ("share of the part's images." if value == "share" else "number of images.")
                   + " Solid: train, hatched: valid.")
        table = stats["per_image"]
        with st.expander("Images per number of instances (table)"):
            st.dataframe(table.rename(columns={"class_name": "class"}), hide_index=True, width="stretch",
                         column_config={"share": st.column_config.NumberColumn("share", format="percent")})
    else:
        bins = cached_measure_bins(ds, parts, statistic)
        chart_ui(HF.measure_figure(bins, statistic, value=value, palette=palette, classes=ds.class_names),
                 name=f"health_{statistic}_{tag}", key="health_stat_chart", aspect=0.35, wide=True)
        st.caption(f"{HF.measure_label(statistic)[0].upper()}{HF.measure_label(statistic)[1:]} per class, 30 bins shared "
                   "by every panel; " + ("share of the class's instances in the part" if value == "share"
                                         else "number of instances") + ". Solid: train, hatched: valid."
                   + (" Polygons only (RLE and box-only annotations have no vertices)." if statistic == "n_vertices" else ""))
        table = stats["summary"][stats["summary"]["measure"] == statistic]
        st.dataframe(table.drop(columns=["measure"]).rename(columns={"class_name": "class"}), hide_index=True,
                     width="stretch", column_config={c: st.column_config.NumberColumn(c, format="%.4g")
                                                     for c in ("mean", "min", "q05", "median", "q95", "max")})
        st.caption(f"Order statistics in {S.MEASURES[statistic]}: q05 and q95 are the 5th and 95th "
                   "percentiles; n counts the instances with a value.")

    st.subheader("Classes in the same frame")
    co_value = st.segmented_control("Show", list(HF.VALUES), default="share", key=Q_CO_VALUE, **BOUND,
                                    format_func={"share": "conditional share", "count": "frames"}.get) or "share"
    chart_ui(HF.cooccurrence_figure(stats["cooccurrence"], value=co_value, palette=palette, classes=ds.class_names),
             name=f"health_cooccurrence_{co_value}_{tag}", key="health_cooccurrence_chart", aspect=0.45, wide=True)
    st.caption("Row: frames holding a class (their number in brackets); column: the share of those frames that also "
               "hold the other class, P(column | row)" if co_value == "share" else
               "Row: frames holding a class (their number in brackets); column: frames holding both classes.")
    return {f"statistic_{statistic}": table, "cooccurrence": stats["cooccurrence"]}


def downloads_ui(report: H.HealthReport, ds: Dataset, stat_tables: dict[str, pd.DataFrame]) -> None:
    """The report: a CSV per check (zip) and a one-page PDF summary; the statistics shown as CSVs."""
    tables = {"summary": HF.summary_table(report)} | {r.name: r.table for r in report.results}
    c1, c2, c3 = st.columns(3)
    c1.download_button("Report: a CSV per check (zip)", data=lambda: tables_csv_zip(tables), file_name="health_report.zip",
                       mime="application/zip", on_click="ignore", icon=":material/folder_zip:", key="health_zip",
                       help="summary.csv and one <check>.csv per check, one row per offending record.")
    browser = find_browser()

    def pdf() -> bytes:
        figure_server()  # one renderer for the whole app, started on first use
        return HF.summary_pdf(report, ds.provenance.label)

    c2.download_button("One-page summary (PDF)", data=pdf, file_name="health_summary.pdf", mime="application/pdf",
                       on_click="ignore", icon=":material/picture_as_pdf:", key="health_pdf", disabled=browser is None,
                       help=NO_BROWSER_HELP if browser is None else "The verdict, the thresholds and every check's count.")
    c3.download_button("Statistics shown (CSV zip)", data=lambda: tables_csv_zip(stat_tables),
                       file_name="health_statistics.zip", mime="application/zip", on_click="ignore",
                       icon=":material/table:", key="health_stats_zip")


def page() -> None:
    """The Health page: a verdict on the dataset, its checks and frames, and the shape of its annotations."""
    ds = current_dataset()
    palette = current_palette()

    st.title("Dataset health")
    st.caption("Is the dataset clean, and how are its annotations shaped? Each check says why it matters and lists "
               "the records it found; every listed frame opens in the Gallery's detail view. Images without "
               "annotations are XAMI's hard negatives: counted, never flagged.")
    synthetic_notice_ui(ds)
    headline = st.container()
    box, mask, distance = thresholds_ui()
    report = cached_health_report(ds, box, mask, distance)
    with headline:
        verdict_ui(report, ds)

    # The Gallery link keeps the link's other parameters (the data source), not this page's own.
    params = {k: v for k, v in st.query_params.to_dict().items() if k not in OWN_PARAMS and k != "image"}
    st.subheader("Checks")
    checks_ui(report, params)

    st.subheader("Annotation statistics per class")
    stat_tables = statistics_ui(ds, palette)

    st.subheader("Download")
    downloads_ui(report, ds, stat_tables)


if __name__ == "__main__":  # run as a script by Streamlit's legacy pages/ mode (see run_app)
    run_app()
