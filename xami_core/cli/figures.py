"""`python -m xami_core figures`: a dataset's full figure set and tables, without a browser session."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import plotly.graph_objects as go

from xami_core.analysis import folds as F
from xami_core.io.loader import load_dataset
from xami_core.model import PALETTES
from xami_core.render.export import (
    FORMATS,
    ExportSize,
    FigureExportError,
    FigureRenderer,
    contact_sheet,
    paper_export,
    table_to_csv,
    table_to_latex,
)
from xami_core.render.figure_set import PaperFigure, dataset_figures, dataset_tables
from xami_core.render.layout import DOUBLE_MM, SINGLE_MM

EXIT_NO_BROWSER = 3
WIDTHS = {"single": SINGLE_MM, "double": DOUBLE_MM}
SHEET_NAME = "contact_sheet.png"
SHEET_DPI = 150


def column_width(text: str) -> float:
    """A `--width` value in mm: "single" (88), "double" (180) or a number of millimetres.

    Raises:
        argparse.ArgumentTypeError: anything else, or a width outside 20..500 mm.
    """
    if text in WIDTHS:
        return WIDTHS[text]
    try:
        mm = float(text.removesuffix("mm").strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected single, double or a width in mm") from None
    if not 20 <= mm <= 500:
        raise argparse.ArgumentTypeError(f"{mm:g} mm: expected a width between 20 and 500 mm")
    return mm


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
    parser.add_argument("--width", type=column_width, default=None,
                        help="printed width of every figure: single (88 mm), double (180 mm) or a number of mm; "
                             "heights follow from the width (default: each figure's usual width)")
    parser.add_argument("--contact-sheet", action="store_true",
                        help=f"also write {SHEET_NAME}: every figure at single and double column width, "
                             f"{SHEET_DPI} dpi, for a quick look before submitting")
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
    notes: list[str] = []
    try:
        with FigureRenderer() as renderer:
            sheet = []
            for item in tqdm(figures, desc="Figures", unit="fig", file=sys.stderr, disable=args.quiet):
                built = item.build()
                width = args.width or item.width_mm
                fig, size, said = _laid_out(item, built, width, args)
                path = out / f"{item.name}.{args.format}"
                path.write_bytes(renderer.render(fig, args.format, size))
                written.append(path)
                notes += [f"{item.name} ({width:g} mm): {note}" for note in said]
                if args.contact_sheet:
                    renders = []
                    for mm in (SINGLE_MM, DOUBLE_MM):
                        fig, size, _ = paper_export(built, mm, dpi=SHEET_DPI)
                        renders.append((f"{mm:g} mm", renderer.render(fig, "png", size)))
                    sheet.append((item.name, renders))
            if args.contact_sheet:
                path = out / SHEET_NAME
                path.write_bytes(contact_sheet(sheet))
                written.append(path)
    except FigureExportError as exc:
        for path in written:
            print(path)
        print(f"error: figures not written. {exc}", file=sys.stderr)
        return EXIT_NO_BROWSER
    for path in written:
        print(path)
    for note in notes:  # what the layout shortened or moved: for the captions
        print(f"note: {note}", file=sys.stderr)
    if ds.provenance.synthetic:
        print("note: these figures show the synthetic sample, not real XAMI data", file=sys.stderr)
    return 0


def _laid_out(item: PaperFigure, built: go.Figure, width: float,
              args: argparse.Namespace) -> tuple[go.Figure, ExportSize, tuple[str, ...]]:
    """The figure laid out at `width` mm (height: the figure's own at its usual width, else the layout's)."""
    height = item.height_mm if width == item.width_mm else None
    return paper_export(built, width, height, dpi=args.dpi, title=item.caption.rstrip(".") if args.title else None)
