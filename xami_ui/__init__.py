"""Streamlit widgets shared by the entrypoint and the pages (`*_ui` helpers)."""
