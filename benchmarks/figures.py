"""Figure export timings: one kept kaleido browser for a batch vs a new browser per figure."""

from __future__ import annotations

import time

import pandas as pd

from xami_core.io.loader import load_dataset
from xami_core.io.sample import sample_root
from xami_core.render.export import (
    FigureExportError,
    FigureRenderer,
    find_browser,
    paper_export,
    render_figure,
)
from xami_core.render.figure_set import dataset_figures


def benchmark(quick: bool = False, fmt: str = "pdf") -> pd.DataFrame:
    """Seconds per figure of the sample's paper figure set, kept browser vs a browser per figure."""
    if find_browser() is None:
        return pd.DataFrame([{"what": "figure export", "note": "no Chrome/Chromium found: not measured"}])
    ds = load_dataset(sample_root(), source="synthetic sample", synthetic=True)
    items = dataset_figures(ds)[: 3 if quick else None]
    # Each figure laid out for print at its usual width, as `python -m xami_core figures` does.
    figures = [(item.name, *paper_export(item.build(), item.width_mm, item.height_mm)[:2]) for item in items]
    fresh = []
    for _, fig, size in figures:  # the straightforward way: kaleido starts a browser for each call
        start = time.perf_counter()
        render_figure(fig, fmt, size)
        fresh.append(time.perf_counter() - start)
    kept = []
    try:
        with FigureRenderer() as renderer:
            for _, fig, size in figures:
                start = time.perf_counter()
                renderer.render(fig, fmt, size)
                kept.append(time.perf_counter() - start)
    except FigureExportError as exc:
        return pd.DataFrame([{"what": "figure export", "note": str(exc)}])
    rows = [{"figure": name, "format": fmt, "new browser per figure (s)": f, "kept browser (s)": k}
            for (name, _, _), f, k in zip(figures, fresh, kept)]
    table = pd.DataFrame(rows)
    after_first = table["kept browser (s)"].iloc[1:]
    summary = {"figure": "mean after the first", "format": fmt,
               "new browser per figure (s)": table["new browser per figure (s)"].iloc[1:].mean(),
               "kept browser (s)": after_first.mean()}
    table = pd.concat([table, pd.DataFrame([summary])], ignore_index=True)
    table["speed-up"] = table["new browser per figure (s)"] / table["kept browser (s)"]
    return table


def main() -> None:
    """Print the table."""
    print(benchmark().round(3).to_string(index=False))  # noqa: T201 - a command-line report


if __name__ == "__main__":
    main()
