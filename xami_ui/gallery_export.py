"""The gallery's "Export selection" popover: the selected images as a CSV file list, or as a COCO subset zip."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from xami_core.io import subset
from xami_core.model import Dataset, XamiDataError

CSV_LABEL = "File list (CSV)"
ZIP_LABEL = "COCO subset with frames (zip)"


def export_ui(ds: Dataset, image_ids: Sequence[int], name: str) -> None:
    """An "Export selection" popover for the images `image_ids` of `ds`: counts and size, then two downloads.

    The CSV (`subset.selection_table`) and the zip (`subset.write_subset_zip`) are built only when
    their button is clicked. `name` names the downloaded files (`<name>.csv`, `<name>_coco.zip`)
    and keys the widgets, so two calls on one page need two names.
    """
    stem = subset.root_folder(name)
    try:
        summary = subset.subset_summary(ds, image_ids)
        problem = subset.limit_problem(summary)
    except XamiDataError as exc:  # a limit's setting that is not a number: the file list still works
        summary, problem = subset.subset_summary(ds, image_ids, max_frames=0), str(exc)
    empty = summary.n_images == 0
    with st.popover("Export selection", icon=":material/download:", disabled=empty,
                    help="No image is selected." if empty else None):
        # Past the frame limit the files are not looked at: no size to give.
        size = f" · frames {subset.format_bytes(summary.frame_bytes)}" if summary.frame_bytes else ""
        st.markdown(f"**{summary.n_images:,}** images · **{summary.n_annotations:,}** annotations{size}")
        st.download_button(CSV_LABEL, data=lambda: subset.selection_csv(ds, image_ids), file_name=f"{stem}.csv",
                           mime="text/csv", on_click="ignore", key=f"{stem}_export_csv", icon=":material/table:",
                           help="One row per image: file name, split, ids, observation, filter, classes and "
                                "counts per class.")
        if problem is not None:
            st.warning(f"The COCO subset is not available: {problem}")
        elif summary.missing:
            st.caption(f"{len(summary.missing):,} frame(s) cannot be copied and will be left out, listed in "
                       f"{subset.MISSING_CSV} in the zip; their annotations stay in the COCO files.")
        st.download_button(ZIP_LABEL, data=lambda: subset.subset_zip_bytes(ds, image_ids, name=stem)[0],
                           file_name=f"{stem}_coco.zip", mime="application/zip", on_click="ignore",
                           key=f"{stem}_export_zip", icon=":material/folder_zip:", disabled=problem is not None,
                           help="One COCO file per split with the frames beside it (Roboflow's layout, the "
                                "source files' ids), a README and the CSV; opens again in this app.")
