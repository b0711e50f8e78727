"""Overview: what the dataset is and how it is made up."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from xami_core.analysis import gallery, stats
from xami_core.analysis.published import differences_text, published_comparison
from xami_core.io import metadata
from xami_core.io.loader import source_fingerprint
from xami_core.model import XamiDataError, filter_name
from xami_core.render.figures import class_distribution_figure, filter_figure
from xami_ui.cache import cached_obs_info, cached_overview_tables
from xami_ui.context import current_dataset, current_palette, run_app
from xami_ui.export import chart_ui, table_download_ui
from xami_ui.obs_info import obs_info_source_ui
from xami_ui.text import md_code, md_literal


def coverage_ui(coverage: pd.DataFrame, joined: pd.DataFrame) -> None:
    """Images with and without metadata per split, and the observations without it."""
    st.markdown("**Metadata per split**")
    st.dataframe(coverage, width="stretch", column_config={
        "with metadata": st.column_config.NumberColumn("with", help="images with metadata"),
        "without metadata": st.column_config.NumberColumn("without", help="images without metadata"),
        "observations": st.column_config.NumberColumn("observations", help="distinct observations matched")})
    missing = metadata.missing_metadata(joined)
    with st.expander(f"Observations without metadata ({len(missing)})", expanded=0 < len(missing) <= 10):
        st.dataframe(missing, width="stretch", hide_index=True, column_config={
            "obs_key": st.column_config.TextColumn("observation key"), "n_images": st.column_config.NumberColumn("images")})


def page() -> None:
    """The Overview page: what the dataset is and how it is made up."""
    ds = current_dataset()
    palette = current_palette()
    prov = ds.provenance
    uploaded = prov.source == "upload"  # an upload's folder in the cache is named by its secret key: not shown
    where = "" if uploaded else f" · {md_code(prov.path)}"

    st.title("XAMI dataset overview" if prov.synthetic or prov.recognised_xami else "Dataset overview")
    if prov.synthetic:
        st.warning("**Synthetic sample.** These frames and annotations are generated to look like XAMI; they are "
                   "not real XMM-OM data. Load the real dataset from the sidebar.", icon=":material/science:")
    elif prov.recognised_xami:
        st.info(f"**Source:** {md_literal(prov.source)}{where} · layout {md_code(prov.layout)}  \n"
                f"**XAMI data:** {md_literal(prov.recognition)}.  \n"
                f"**Licence:** {md_literal(prov.licence)} · [dataset]({prov.url})  \n**Cite:** {md_literal(prov.citation)}", icon=":material/license:")
    else:
        # Not XAMI: the terms the files carry, shown literally (never as markdown the data could inject).
        st.info(f"**Source:** {md_literal(prov.source)}{where} · layout {md_code(prov.layout)}  \n"
                f"**Not recognised as XAMI data:** {md_literal(prov.recognition)}. XAMI's licence and citation do not "
                "apply; these are the terms the files themselves state.  \n"
                f"**Licence (as the files state it):** {md_literal(prov.licence)}  \n"
                f"**Description (as the files state it):** {md_literal(prov.description)}", icon=":material/license:")

    tables = cached_overview_tables(ds)
    summary = tables["summary"]
    total = summary.loc[stats.TOTAL]
    cols = st.columns(4)
    cols[0].metric("Images", f"{total['images']:,}")
    cols[1].metric("Annotations", f"{total['annotations']:,}")
    cols[2].metric("Images without artefacts", f"{total['empty images']:,}")
    cols[3].metric("Classes", len(ds.class_names))

    # The authors' numbers only for data recognised as XAMI: another dataset would "differ" on every count.
    published = published_comparison(ds) if prov.recognised_xami else None
    if published is not None:
        n_off = int((~published["match"]).sum())
        if n_off == 0:
            st.success(f"All {len(published)} counts the XAMI authors published (per split, class and filter) are "
                       "reproduced exactly by this data.", icon=":material/verified:")
        else:
            st.info(f"{n_off} of {len(published)} counts differ from the XAMI authors' published numbers: expected for "
                    "a subset or a variant of your own, worth a look if this should be the published dataset.  \n"
                    f"{md_literal(differences_text(published))}.", icon=":material/difference:")
        with st.expander("Published numbers vs this data", expanded=0 < n_off <= 10):
            # Mismatches first; the difference is what was found minus what the authors published.
            shown = published.sort_values("match", kind="stable")
            styled = (shown.style.format({"published": "{:,d}", "found": "{:,d}", "difference": "{:+,d}"})
                      .apply(lambda row: ["font-weight: bold; color: #b3261e" if not row["match"] else ""] * len(row),
                             axis=1))
            st.dataframe(styled, width="stretch", hide_index=True, column_config={
                "difference": st.column_config.Column("difference", help="found minus published")})

    st.subheader("Images and annotations per split")
    st.dataframe(summary, width="content")
    table_download_ui(summary, name="xami_splits", key="overview_splits_table", caption="Images and annotations per split.")

    st.subheader("Annotations per class")
    counts = tables["class_counts"]
    measure = st.segmented_control("Show", ["annotations", "annotation share", "images", "image share"],
                                   default="annotations", key="overview_measure")
    chart_ui(class_distribution_figure(counts, value=measure or "annotations", palette=palette),
             name=f"xami_classes_{(measure or 'annotations').replace(' ', '_')}", key="overview_class_chart")
    table = tables["class_table"]
    table.columns = [f"{split} {what}" for split, what in table.columns]
    st.dataframe(table.style.format({c: "{:.1%}" for c in table.columns if c.endswith("share")}), width="stretch")
    st.caption("Shares are of all annotations in the split. Image counts: images containing at least one "
               "instance of the class.")
    table_download_ui(table, name="xami_classes", key="overview_class_table", caption="Annotations per class and split.",
                      percent_columns=tuple(c for c in table.columns if c.endswith("share")))

    st.subheader("Observation filters (by wavelength)")
    left, right = st.columns([3, 2])
    with left:
        per_filter = tables["per_filter"]
        filter_value = st.segmented_control("Count", ["images", "annotations"], default="images", key="overview_filter_value")
        chart_ui(filter_figure(per_filter, value=filter_value or "images"), name=f"xami_filters_{filter_value or 'images'}",
                 key="overview_filter_chart")
    with right:
        filter_table = tables["filters"]
        st.dataframe(filter_table, width="stretch")
        st.caption(f"All {int(filter_table['images'].sum()):,} images, by the filter letter in their file name; a letter "
                   "outside the seven XMM-OM filters is listed as unknown, a name without an observation key last.")
        table_download_ui(filter_table, name="xami_filters", key="overview_filter_table",
                          caption="Images and annotations per XMM-OM filter.")

    st.subheader("Observations")
    st.caption("Pointing (RA, Dec), exposure time and position angle per observation, from the authors' "
               f"`{metadata.OBS_INFO_FILE}`, joined to images by the 13-character observation key (e.g. `S0743200101_V`).")
    source = obs_info_source_ui(prov.synthetic, key="overview_fetch_obs_info",
                                why="The observation metadata is not part of the dataset archives.")
    meta = None
    if source.path is not None:
        try:
            meta = cached_obs_info(str(source.path), source.label, source_fingerprint(source.path))
        except XamiDataError as exc:
            st.warning(f"Observation metadata unavailable: {md_literal(exc)} The rest of this page is unaffected.")
    if meta is not None:
        joined = metadata.join_metadata(ds.images, meta)
        coverage = metadata.metadata_coverage(joined)
        made_up = " Random pointings and exposure times, made for the sample." if source.synthetic else ""
        st.caption(f"Source: {md_literal(meta.source)}.{made_up}")
        cols = st.columns(3)
        cols[0].metric("Images with metadata", f"{coverage.loc[metadata.TOTAL, 'with metadata']:,}")
        cols[1].metric("Images without metadata", f"{coverage.loc[metadata.TOTAL, 'without metadata']:,}")
        cols[2].metric("Observations matched", f"{coverage.loc[metadata.TOTAL, 'observations']:,}")
        if meta.problems:
            st.warning(f"{len(meta.problems)} problem(s) in the metadata file: "
                       + md_literal("; ".join(str(p) for p in meta.problems[:3])) + ("…" if len(meta.problems) > 3 else ""))
        no_match = metadata.no_match_text(joined, meta)
        if no_match:  # words and the keys looked for, not an empty histogram and sky map
            st.info(md_literal(no_match), icon=":material/search_off:")
            coverage_ui(coverage, joined)
        else:
            left, right = st.columns([3, 2])
            with left:
                st.markdown("**Exposure time per image**")
                chart_ui(metadata.exposure_figure(metadata.exposure_histogram(joined)), name="xami_exposure_times",
                         key="overview_exposure_chart")
            with right:
                coverage_ui(coverage, joined)
        if not no_match:
            st.markdown("**Pointings on the sky**")
            frame_label = st.segmented_control("Coordinates", ["equatorial (ICRS)", "galactic"], default="equatorial (ICRS)",
                                               key="overview_sky_frame")
            frame = "galactic" if frame_label == "galactic" else "icrs"
            chart_ui(metadata.sky_map_figure(metadata.sky_positions(joined, frame), frame), name=f"xami_sky_map_{frame}",
                     key="overview_sky_chart", aspect=0.55)
            st.caption("Hammer-Aitoff projection; each point is an image's observation, coloured by filter. "
                       "Galactic coordinates are converted from ICRS with astropy.")

    empty = tables["empty"]
    with st.expander(f"Images without artefacts ({len(empty)}): hard negatives kept on purpose"):
        st.dataframe(empty, width="stretch", hide_index=True, column_config={
            "image id": st.column_config.Column("image id", help="The image's id in its split's annotation file")})

    st.subheader("Example frames")
    st.caption("Frames chosen to show as many classes as possible, masks in the class colours (drawn as in the Gallery).")
    images = ds.images.set_index("image_id")
    examples = stats.example_images(ds, n=4)
    pictures = gallery.thumbnails(ds, examples, gallery.ThumbOptions(size=384, palette=palette))
    for col, image_id, png in zip(st.columns(4), examples, pictures):
        row = images.loc[image_id]
        names = ", ".join(sorted(row["classes"])) or "no artefact"
        obs = row["obs_key"] if isinstance(row["obs_key"], str) else row["file_name"]
        col.image(png, caption=md_literal(f"{obs} ({filter_name(row['filter_letter'])}, {row['split']}, image id {row['coco_id']}): {names}"),
                  width="stretch")

    if ds.problems:
        st.subheader(f"Input problems ({len(ds.problems)})")
        st.caption(f"{stats.problems_summary(ds.problems)} Everything else loaded; the input files are untouched. "
                   "Records are named by the ids in their file: find one in the Gallery by searching for it "
                   "(e.g. `image id 12`).")
        table = stats.problems_table(ds.problems, root=ds.provenance.path if uploaded else None, root_name="upload:")
        st.dataframe(table, width="stretch", hide_index=True, column_config={
            "outcome": st.column_config.Column("outcome", help="skipped: an error, the record was left out; "
                                                                "kept: a warning, the record loaded as the message says")})


if __name__ == "__main__":  # run as a script by Streamlit's legacy pages/ mode (see run_app)
    run_app()
