"""Overview: what the dataset is and how it is made up."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from xami_core import stats
from xami_core.figures import class_distribution_figure, filter_figure
from xami_core.st_cache import cached_overlay_png
from xami_ui.context import current_dataset, current_palette, dataset_key

ds = current_dataset()
palette = current_palette()
prov = ds.provenance

st.title("XAMI dataset overview")
if prov.synthetic:
    st.warning("**Synthetic sample.** These frames and annotations are generated to look like XAMI; they are "
               "not real XMM-OM data. Load the real dataset from the sidebar.", icon=":material/science:")
else:
    st.info(f"**Source:** {prov.source} · `{prov.path}` · layout `{prov.layout}`  \n"
            f"**Licence:** {prov.licence} · [dataset]({prov.url})  \n**Cite:** {prov.citation}", icon=":material/license:")

summary = stats.split_summary(ds)
total = summary.loc[stats.TOTAL]
cols = st.columns(4)
cols[0].metric("Images", f"{total['images']:,}")
cols[1].metric("Annotations", f"{total['annotations']:,}")
cols[2].metric("Images without artefacts", f"{total['empty images']:,}")
cols[3].metric("Classes", len(ds.class_names))

st.subheader("Images and annotations per split")
st.dataframe(summary, width="content")

st.subheader("Annotations per class")
counts = stats.class_counts(ds)
measure = st.segmented_control("Show", ["annotations", "annotation share", "images", "image share"],
                               default="annotations", key="overview_measure")
st.plotly_chart(class_distribution_figure(counts, value=measure or "annotations", palette=palette),
                width="stretch", config={"displaylogo": False})
table = stats.class_count_table(ds)
table.columns = [f"{split} {what}" for split, what in table.columns]
st.dataframe(table.style.format({c: "{:.1%}" for c in table.columns if c.endswith("share")}), width="stretch")
st.caption("Shares are of all annotations in the split. Image counts: images containing at least one "
           "instance of the class.")

st.subheader("Observation filters (by wavelength)")
left, right = st.columns([3, 2])
with left:
    per_filter = stats.filter_split_counts(ds)
    filter_value = st.segmented_control("Count", ["images", "annotations"], default="images", key="overview_filter_value")
    st.plotly_chart(filter_figure(per_filter, value=filter_value or "images"), width="stretch",
                    config={"displaylogo": False})
with right:
    st.dataframe(stats.filter_counts(ds), width="stretch")

empty = stats.empty_images(ds)
with st.expander(f"Images without artefacts ({len(empty)}): hard negatives kept on purpose"):
    st.dataframe(empty, width="stretch", hide_index=True)

st.subheader("Example frames")
st.caption("Frames that together show every class, masks in the class colours.")
images = ds.images.set_index("image_id")
frames = st.columns(4)
for col, image_id in zip(frames, stats.example_images(ds, n=4)):
    row = images.loc[image_id]
    png = cached_overlay_png(row["path"], dataset_key(), int(image_id), ds.annotations_of(image_id),
                             int(row["width"]), int(row["height"]), palette, 384, labels=False)
    names = ", ".join(sorted(row["classes"])) or "no artefact"
    col.image(png, caption=f"{row['obs_id']} ({row['filter_name']}, {row['split']}): {names}", width="stretch")

if ds.problems:
    st.subheader(f"Input problems ({len(ds.problems)})")
    st.caption("Records with errors were skipped; the rest of the dataset loaded. The input files are untouched.")
    st.dataframe(pd.DataFrame([vars(p) for p in ds.problems]), width="stretch", hide_index=True)
