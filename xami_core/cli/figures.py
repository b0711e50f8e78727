"""`python -m xami_core figures`: a dataset's full figure set and tables, without a browser session."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xami_core.analysis import folds as F
from xami_core.io.loader import load_dataset
from xami_core.model import PALETTES
from xami_core.render.export import (
    FORMATS,
    ExportSize,
    FigureExportError,
    FigureRenderer,
    paper_figure,
    table_to_csv,
    table_to_latex,
)
from xami_core.render.figure_set import dataset_figures, dataset_tables

EXIT_NO_BROWSER = 3


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `figures` subcommand."""
    parser = subparsers.add_parser(
        "figures", help="write the paper figures (PDF/SVG/PNG) and LaTeX/CSV tables of a dataset",
        description="Write every figure of a dataset's section (class distributions per split, filters, fold "
                    "balance, K-fold vs stratified, heatmap grid, example frames) in the paper theme, plus the "
                    "tables as CSV and booktabs LaTeX. Figures render with kaleido, which needs Chrome or Chromium.")
    parser.add_argument("--data", required=True, help="dataset folder or .zip (any XAMI layout)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created if missing)")
    parser.add_argument("--format", choices=FORMATS, default="pdf", help="figure format (default: %(default)s)")
    parser.add_argument("--dpi", type=int, default=300, help="PNG resolution (default: %(default)s)")
    parser.add_argument("--palette", choices=list(PALETTES), default="authors", help="class colours")
    parser.add_argument("--title", action="store_true", help="print a title on each figure (default: none; captions carry it)")
    parser.add_argument("--k", type=int, default=F.AUTHORS_K, help="folds for the balance figures (default 4)")
    parser.add_argument("--seed", type=int, default=F.AUTHORS_SEED, help="fold seed (default 42)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Write tables first (they need no browser), then the figures with one kaleido browser."""
    from tqdm import tqdm  # noqa: PLC0415 - only the command line draws bars

    ds = load_dataset(args.data)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for table in dataset_tables(ds, args.k, args.seed):
        for path, data in ((out / f"{table.name}.csv", table_to_csv(table.table, index=table.index)),
                           (out / f"{table.name}.tex", table_to_latex(table.table, caption=table.caption,
                                                                        label=f"tab:xami-{table.name}",
                                                                        index=table.index,
                                                                        percent_columns=table.percent_columns).encode())):
            path.write_bytes(data)
            written.append(path)
    figures = dataset_figures(ds, args.palette, args.k, args.seed)
    try:
        with FigureRenderer() as renderer:
            for item in tqdm(figures, desc="Figures", unit="fig", file=sys.stderr, disable=args.quiet):
                size = ExportSize(item.width_mm, item.height_mm, "mm", args.dpi)
                fig = paper_figure(item.build(), size, title=item.caption.rstrip(".") if args.title else None)
                path = out / f"{item.name}.{args.format}"
                path.write_bytes(renderer.render(fig, args.format, size))
                written.append(path)
    except FigureExportError as exc:
        for path in written:
            print(path)
        print(f"error: figures not written. {exc}", file=sys.stderr)
        return EXIT_NO_BROWSER
    for path in written:
        print(path)
    if ds.provenance.synthetic:
        print("note: these figures show the synthetic sample, not real XAMI data", file=sys.stderr)
    return 0
