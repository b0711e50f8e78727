"""Computing what the pages show from a loaded `Dataset`: counts, folds and their balance, spatial
heatmaps, gallery selection, the check against the published numbers."""
