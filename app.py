"""XAMI Explorer: the entrypoint, shared sidebar and navigation."""

from __future__ import annotations

import streamlit as st

from xami_ui.context import framed_run
from xami_ui.export import toolbar_format_ui
from xami_ui.sidebar import load_current_ui, palette_ui

st.set_page_config(page_title="XAMI Explorer", page_icon=":material/satellite_alt:", layout="wide")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/bar_chart:", default=True),
    st.Page("pages/folds.py", title="Fold balance", icon=":material/splitscreen:"),
    st.Page("pages/gallery.py", title="Gallery", icon=":material/photo_library:"),
    st.Page("pages/heatmaps.py", title="Spatial heatmaps", icon=":material/grid_on:"),
]

page = st.navigation(PAGES)
st.sidebar.title("XAMI Explorer")
load_current_ui()
palette_ui()
toolbar_format_ui()
with framed_run():
    page.run()
