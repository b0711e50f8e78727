"""XAMI Explorer: the entrypoint, shared sidebar and navigation."""

from __future__ import annotations

import streamlit as st

from pages import folds, gallery, health, heatmaps, overview, predictions
from xami_ui.export import toolbar_format_ui
from xami_ui.sidebar import load_current_ui, palette_ui

st.set_page_config(page_title="XAMI Explorer", page_icon=":material/satellite_alt:", layout="wide")

# Each page file defines its page function; the URL paths are the file names, as links have always had them.
PAGES = [
    st.Page(overview.page, title="Overview", icon=":material/bar_chart:", url_path="overview", default=True),
    st.Page(folds.page, title="Fold balance", icon=":material/splitscreen:", url_path="folds"),
    st.Page(gallery.page, title="Gallery", icon=":material/photo_library:", url_path="gallery"),
    st.Page(heatmaps.page, title="Spatial heatmaps", icon=":material/grid_on:", url_path="heatmaps"),
    st.Page(predictions.page, title="Predictions", icon=":material/model_training:", url_path="predictions"),
    st.Page(health.page, title="Health", icon=":material/health_and_safety:", url_path="health"),
]

page = st.navigation(PAGES)
st.sidebar.title("XAMI Explorer")
load_current_ui()
palette_ui()
toolbar_format_ui()
page.run()
