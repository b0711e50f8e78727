"""`python -m xami_core evaluate`: evaluate a model's predictions with pycocotools COCOeval and write the tables."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from xami_core.analysis import evaluation as EV
from xami_core.cli.figures import column_width
from xami_core.io.loader import load_dataset
from xami_core.io.predictions import load_predictions, yolo_category_names
from xami_core.model import XamiDataError
from xami_core.paths import checked_path
from xami_core.render import evaluation_figures as EF
from xami_core.render.export import (
    FORMATS,
    FigureExportError,
    FigureRenderer,
    paper_export,
    table_to_csv,
    table_to_latex,
)
from xami_core.render.layout import DOUBLE_MM, SINGLE_MM

MAX_PROBLEMS_WRITTEN = 200  # the rest are counted in metrics.json
EXIT_NO_BROWSER = 3  # the tables are written, the figures are not (as the figures command)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `evaluate` subcommand."""
    parser = subparsers.add_parser(
        "evaluate", help="evaluate predictions with pycocotools COCOeval",
        description="Evaluate a model's predictions (a COCO results .json, or a folder of YOLOv8-seg prediction "
                    ".txt files) against a dataset with pycocotools COCOeval (segm and bbox), and count TP, FP and "
                    "FN at one IoU and score threshold. Writes metrics.json and, per IoU type, CSV and booktabs "
                    "LaTeX tables of the COCO metrics (overall, per class, per filter) and the threshold counts, "
                    "the confusion matrix and the per-instance outcomes, and the figures (precision-recall "
                    "curves, precision/recall/F1 per class, the confusion matrix, COCO metrics per filter) in the "
                    "paper theme; figures render with kaleido, which needs Chrome or Chromium.")
    parser.add_argument("--data", required=True, help="dataset folder or .zip (any XAMI layout)")
    parser.add_argument("--predictions", required=True, help="COCO results .json file or folder of YOLO .txt files")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU threshold for TP/FP/FN (default 0.5)")
    parser.add_argument("--score", type=float, default=0.25, help="score threshold for TP/FP/FN (default 0.25)")
    parser.add_argument("--iou-type", choices=("segm", "bbox", "both"), default="both", help="default both")
    parser.add_argument("--split", default=None, help="evaluate on this split only; also the split whose image ids "
                                                      "a COCO results file uses")
    parser.add_argument("--names", default=None,
                        help="the model's class names in YOLO index order, comma-separated (for Ultralytics "
                             "results whose class ids are the model's own)")
    parser.add_argument("--first-id", type=int, default=1,
                        help="with --names: the category id of the first name in a COCO results file "
                             "(Ultralytics: 1; early 8.0 versions: 0)")
    parser.add_argument("--name", default=None, help="the prediction set's name (default: the file or folder name)")
    parser.add_argument("--boxes", choices=EV.GT_BOXES, default="stored",
                        help="ground-truth boxes for bbox: as stored in the file (pycocotools) or from the masks")
    parser.add_argument("--format", choices=FORMATS, default="pdf", help="figure format (default: pdf)")
    parser.add_argument("--width", type=column_width, default=DOUBLE_MM,
                        help=f"figure width: single ({SINGLE_MM:g} mm), double ({DOUBLE_MM:g} mm, the default) or mm")
    parser.add_argument("--palette", choices=("authors", "colour-blind safe"), default="authors", help="class colours")
    parser.add_argument("--no-figures", action="store_true", help="tables only (no browser needed)")


def _plain(value: Any) -> Any:
    """JSON-safe values: NaN as null, numpy numbers as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write(path: Path, data: bytes | str) -> Path:
    try:
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
    except OSError as exc:
        raise XamiDataError(f"{path}: cannot be written ({exc.strerror or exc})") from exc
    return path


def _figures(ev: EV.Evaluation, at: EV.ThresholdReport, by_filter: pd.DataFrame, iou_type: str,
             palette: str) -> list[tuple[str, go.Figure]]:
    """The page's figures for one IoU type, named for their files: PR curves at IoU 0.5, rates, confusion, per filter."""
    ap = {name: EV.summary_value(ev, True, 0.5, "all", 100, class_index=k) for k, name in enumerate(ev.class_names)}
    ap = {name: (v if v >= 0 else np.nan) for name, v in ap.items()}  # COCOeval's -1: no ground truth
    return [
        (f"pr_curves_{iou_type}", EF.pr_curve_figure(EV.pr_curves(ev, iou=0.5), iou=0.5, palette=palette, ap=ap)),
        (f"rates_{iou_type}", EF.threshold_figure(at.per_class, palette=palette)),
        (f"confusion_{iou_type}", EF.confusion_figure(at.confusion)),
        (f"by_filter_{iou_type}", EF.group_metrics_figure(by_filter, what="filter")),
    ]


def _write_figures(figures: list[tuple[str, go.Figure]], out: Path, fmt: str, width: float) -> list[Path]:
    """Each figure laid out for print at `width` mm and rendered with one kaleido browser.

    Raises:
        FigureExportError: no Chrome or Chromium, or kaleido failing.
        XamiDataError: a file cannot be written.
    """
    written = []
    with FigureRenderer() as renderer:
        for name, fig in figures:
            laid, size, notes = paper_export(fig, width)
            written.append(_write(out / f"{name}.{fmt}", renderer.render(laid, fmt, size)))
            for note in notes:  # what the layout shortened or moved: for the captions
                print(f"note: {name} ({width:g} mm): {note}", file=sys.stderr)
    return written


def run(args: argparse.Namespace) -> int:
    """Load, evaluate, write the files, print the overall numbers; 0 on success.

    Raises:
        XamiDataError: the dataset or predictions cannot be read, `--split` names no split, or
            `--out` cannot be made (the command line turns it into a message and exit code 2).
    """
    if not 0 < args.iou <= 1 or not math.isfinite(args.score):
        print(f"error: --iou must be above 0 and at most 1, and --score a finite number, got {args.iou} and {args.score}",
              file=sys.stderr)
        return 2
    out = checked_path(args.out, what="--out folder")
    ds = load_dataset(args.data)
    names = [n.strip() for n in args.names.split(",")] if args.names else None
    preds = load_predictions(args.predictions, ds, name=args.name, names=names, split=args.split,
                             category_names=yolo_category_names(names, args.first_id) if names else None)
    image_ids = None
    if args.split is not None:
        if args.split not in ds.splits:
            raise XamiDataError(f"--split {args.split!r} is not a split of the dataset ({', '.join(ds.splits)})")
        image_ids = ds.images.loc[ds.images["split"] == args.split, "image_id"].to_numpy()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XamiDataError(f"{out}: cannot be created ({exc.strerror or exc})") from exc
    report: dict[str, Any] = {
        "predictions": preds.name, "source": preds.source, "synthetic": preds.synthetic, "data": str(args.data),
        "split": args.split or "all", "iou_threshold": args.iou, "score_threshold": args.score,
        "n_predictions": len(preds.table), "left_out": dict(preds.left_out),
        "problems": [str(p) for p in preds.problems[:MAX_PROBLEMS_WRITTEN]],
        "problems_not_listed": max(0, len(preds.problems) - MAX_PROBLEMS_WRITTEN),
    }
    written: list[Path] = []
    figures: list[tuple[str, go.Figure]] = []
    for iou_type in (("segm", "bbox") if args.iou_type == "both" else (args.iou_type,)):
        ev = EV.evaluate(ds, preds, iou_type, image_ids, boxes=args.boxes)
        metrics = EV.metrics_table(ev)
        at = EV.at_thresholds(ev, iou=args.iou, score=args.score)
        what = f"{preds.label}, {iou_type}, {args.split or 'all images'}"
        written += [
            _write(out / f"metrics_{iou_type}.csv", table_to_csv(metrics)),
            _write(out / f"metrics_{iou_type}.tex", table_to_latex(
                metrics, caption=f"COCO metrics ({what})", label=f"tab:metrics-{iou_type}", decimals=3)),
            _write(out / f"thresholds_{iou_type}.csv", table_to_csv(at.per_class)),
            _write(out / f"thresholds_{iou_type}.tex", table_to_latex(
                at.per_class, caption=f"Counts at IoU {args.iou:g} and score {args.score:g} ({what})",
                label=f"tab:thresholds-{iou_type}", decimals=3)),
            _write(out / f"confusion_{iou_type}.csv", table_to_csv(at.confusion)),
            _write(out / f"instances_{iou_type}.csv", table_to_csv(at.instances, index=False)),
        ]
        by_filter = EV.metrics_by_group(ds, preds, EV.filter_groups(ds, ev.image_ids), iou_type, boxes=args.boxes)
        written += [
            _write(out / f"by_filter_{iou_type}.csv", table_to_csv(by_filter)),
            _write(out / f"by_filter_{iou_type}.tex", table_to_latex(
                by_filter, caption=f"COCO metrics per filter ({what})", label=f"tab:by-filter-{iou_type}",
                decimals=3)),
        ]
        figures += _figures(ev, at, by_filter, iou_type, args.palette)
        report[iou_type] = {
            "stats": dict(zip(EV.METRICS, ev.stats.tolist())),
            "metrics": metrics.to_dict(orient="index"),
            "at_thresholds": at.per_class.to_dict(orient="index"),
            "confusion": at.confusion.to_dict(orient="index"),
            "by_filter": by_filter.to_dict(orient="index"),
            "left_out": dict(ev.left_out),
            "n_images": len(ev.image_ids),
        }
        row = metrics.loc[EV.ALL]
        print(f"{iou_type}: AP {row['AP']:.3f}  AP50 {row['AP50']:.3f}  AP75 {row['AP75']:.3f}  "
              f"AR100 {row['AR100']:.3f}  ({len(ev.image_ids)} images, {int(row['n_gt'])} instances, "
              f"{int(row['n_pred'])} predictions)")
    written.append(_write(out / "metrics.json", json.dumps(_plain(report), indent=1)))
    if not args.no_figures:
        try:
            written += _write_figures(figures, out, args.format, args.width)
        except FigureExportError as exc:
            print("wrote " + ", ".join(str(p) for p in written))
            print(f"error: figures not written ({exc}); --no-figures writes the tables alone", file=sys.stderr)
            return EXIT_NO_BROWSER
    if preds.n_left_out:
        print(f"warning: {preds.n_left_out} prediction record(s) left out: "
              + ", ".join(f"{k} {v}" for k, v in preds.left_out.items()), file=sys.stderr)
    for problem in [p for p in preds.problems if p.severity == "error"][:10]:
        print(f"  {problem}", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0

