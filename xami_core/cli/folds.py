"""`python -m xami_core folds`: make k folds reproducibly, write the authors' mskf_k.csv files, print the balance."""

from __future__ import annotations

import argparse
import sys

from xami_core.analysis import field_groups, fold_balance, leakage
from xami_core.analysis import folds as F
from xami_core.io import fold_files
from xami_core.io.loader import load_dataset
from xami_core.model import Dataset, XamiDataError
from xami_core.paths import checked_path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `folds` subcommand."""
    parser = subparsers.add_parser(
        "folds", help="make k folds and write mskf_k.csv files",
        description="Make folds over all images of a dataset (splits pooled, in JSON order) and write one "
                    "mskf_<i>.csv per fold (IMADE_ID, IMAGE_PATH, SPLIT), as the authors' notebook does. "
                    "The defaults reproduce the authors' folds: stratified, k 4, seed 42.")
    parser.add_argument("--data", required=True, help="dataset folder or .zip (any XAMI layout)")
    parser.add_argument("--method", choices=F.METHODS, default="stratified",
                        help="stratified (authors), kfold, multilabel, published (the split as one fold), or "
                             "stratified-group / multilabel-group (never split a field group, see --group)")
    parser.add_argument("--k", type=int, default=F.AUTHORS_K, help=f"number of folds, {F.K_MIN}..{F.K_MAX} (default 4)")
    parser.add_argument("--seed", type=int, default=F.AUTHORS_SEED, help="random_state of the splitter (default 42)")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--path-prefix", default=None,
                        help="write IMAGE_PATH as PREFIX/<file name> instead of the absolute image path")
    parser.add_argument("--coco", action="store_true",
                        help="also write mskf_coco.zip: mskf_<i>/{train,valid}/_annotations.coco.json")
    parser.add_argument("--measure", choices=fold_balance.MEASURES, default="images",
                        help="count (image, class) pairs (authors) or annotations for the balance figures")
    parser.add_argument("--group", choices=tuple(field_groups.GROUPINGS), default=None,
                        help="field groups the grouped methods keep whole, and against which leakage (valid frames "
                             "whose field is also in train) is reported: obsid (every filter of an observation) or "
                             "sky (pointings within --radius-arcmin, joined transitively; needs the observation "
                             "metadata). Grouped methods default to obsid")
    parser.add_argument("--radius-arcmin", type=float, default=None,
                        help=f"neighbour radius for --group sky, arcmin (default {field_groups.OM_FOV_ARCMIN:g}, "
                             "the Optical Monitor's field of view)")
    parser.add_argument("--obs-info", default=None,
                        help="local copy of obs_info_1024_all.json for --group sky (default: XAMI_OBS_INFO, "
                             "else downloaded once from the authors' GitHub repository and cached)")


def balance_report(ds: Dataset, folds: F.FoldSet, measure: str = "images") -> str:
    """The balance figures as plain text, one line per fold."""
    bal = fold_balance.fold_balance(ds, folds, measure)
    lines = [f"{folds.label}; {len(ds.images)} images; balance of {measure}"
             + (" ((image, class) pairs)" if measure == "images" else ""),
             f"{'fold':>4} {'train':>6} {'valid':>6} {'empty t/v':>9} {'mean|d| auth':>12} {'mean|d| cls':>11} "
             f"{'max|d|':>7} {'class of max':<16} {'JS (bits)':>9} {'chi2':>7} {'p':>6}"]
    for r in bal.itertuples():
        lines.append(f"{r.fold:>4} {r.train_images:>6} {r.valid_images:>6} {f'{r.train_empty}/{r.valid_empty}':>9} "
                     f"{r.authors_mean_diff * 100:>10.3f}pp {r.mean_abs_diff * 100:>9.3f}pp {r.max_abs_diff * 100:>5.2f}pp "
                     f"{r.max_diff_class:<16} {r.js_divergence:>9.5f} {r.chi2:>7.2f} {r.p_value:>6.3f}")
    lines.append(f"mean over folds: authors' mean |train - valid| share {bal['authors_mean_diff'].mean() * 100:.3f} "
                 "percentage points")
    return "\n".join(lines)


def leakage_report(folds: F.FoldSet, groups: field_groups.FieldGroups) -> str:
    """The field groups and the leakage of a fold set as plain text, one line per fold."""
    summary = field_groups.groups_summary(groups)
    lines = [f"field groups: {groups.label}: {summary['groups']} groups, {summary['groups_of_several']} of several "
             f"frames (largest {summary['largest_group']})"]
    if groups.by == "sky" and groups.n_without_position:
        lines.append(f"  {groups.n_without_position} frames without a pointing kept their ObsID group "
                     f"({groups.n_obsid_fallback_groups} ObsID groups had no pointing at all)")
    if groups.n_without_obsid:
        lines.append(f"  {groups.n_without_obsid} frames without an ObsID in the file name are groups of their own")
    table = leakage.fold_leakage(folds, groups)
    lines.append(f"{'fold':>4} {'leaking groups':>14} {'valid frames leaking':>20} {'share of valid':>14}")
    for r in table.itertuples():
        lines.append(f"{r.fold:>4} {r.leaking_groups:>14} {f'{r.valid_images_leaking}/{r.valid_images}':>20} "
                     f"{r.valid_share_leaking * 100:>13.2f}%")
    s = leakage.leakage_summary(table)
    lines.append(f"overall: {s.valid_images_leaking} of {int(table['valid_images'].sum())} valid frames "
                 f"({s.valid_share * 100:.2f} %) share a field with train")
    return "\n".join(lines)


def _groups(args: argparse.Namespace, ds: Dataset) -> field_groups.FieldGroups | None:
    """The field groups asked for (--group), or None."""
    if args.group is None:
        return None
    if args.group == "obsid":
        return field_groups.field_groups(ds.images, by="obsid")
    from xami_core.io import metadata  # noqa: PLC0415 - plotly and the download code only for sky groups

    meta = metadata.load_obs_metadata(local=args.obs_info, synthetic=ds.provenance.synthetic)
    for problem in meta.problems:
        print(f"warning: {problem}", file=sys.stderr)
    radius = field_groups.OM_FOV_ARCMIN if args.radius_arcmin is None else args.radius_arcmin
    return field_groups.field_groups(ds.images, by="sky", radius_arcmin=radius, metadata=meta)


def run(args: argparse.Namespace) -> int:
    """Make the folds, write the files, print the balance; 0 on success.

    Raises:
        XamiDataError: the dataset or metadata cannot be read, or an output file cannot be written
            (the command line turns it into a message and exit code 2).
    """
    if args.method != "published" and not (F.K_MIN <= args.k <= F.K_MAX):
        print(f"error: --k must be between {F.K_MIN} and {F.K_MAX}, got {args.k}", file=sys.stderr)
        return 2
    if args.radius_arcmin is not None and args.group != "sky":
        print("error: --radius-arcmin needs --group sky", file=sys.stderr)
        return 2
    if args.radius_arcmin is not None and not (0 < args.radius_arcmin <= field_groups.MAX_RADIUS_ARCMIN):
        print(f"error: --radius-arcmin must be in (0, {field_groups.MAX_RADIUS_ARCMIN:g}], got {args.radius_arcmin}",
              file=sys.stderr)
        return 2
    out = checked_path(args.out, what="--out folder")  # over-long name, link loop: a message before any work
    ds = load_dataset(args.data)
    groups = _groups(args, ds)
    folds = F.make_folds(ds, args.method, args.k, args.seed, groups=groups)
    written = fold_files.write_fold_csvs(ds, folds, out, args.path_prefix)
    if args.coco:
        target = out / "mskf_coco.zip"
        try:
            target.write_bytes(fold_files.fold_coco_zip(ds, folds))
        except OSError as exc:
            raise XamiDataError(f"{target}: cannot be written ({exc.strerror or exc})") from exc
        written.append(target)
    for note in folds.warnings:
        print(f"warning: {note}", file=sys.stderr)
    rare = F.rare_labels(ds, folds.k if args.method != "published" else 1)
    if len(rare):
        print("rare label combinations (fewer images than folds): "
              + ", ".join(f"'{r.strat_label}' ({r.classes}): {r.images}" for r in rare.itertuples()), file=sys.stderr)
    print(balance_report(ds, folds, args.measure))
    if groups is None and args.method in F.GROUPED_METHODS:
        groups = field_groups.field_groups(ds.images, by="obsid")  # what make_folds kept whole
    if groups is not None:
        print(leakage_report(folds, groups))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
