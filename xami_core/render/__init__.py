"""Drawing: display stretches, overlays, plotly figures, and the paper export (PDF/SVG/PNG, CSV, LaTeX)."""
