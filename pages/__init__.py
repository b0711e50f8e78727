"""The app's pages, one module per view; each defines `page()`, which app.py passes to `st.Page`."""
