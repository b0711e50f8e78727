"""The authors' fold files, written and read: `mskf_k.csv` and `mskf_k/{train,valid}/`.

Written (XAMI-dataset `notebooks/stratified_kfold.ipynb` and the scripts after it): one
`mskf_{k}.csv` per fold with columns IMADE_ID (sic), IMAGE_PATH, SPLIT, rows as their
`csv.DictWriter` writes them, and per fold and part a COCO file in the folder layout
`mskf_{k}/{train,valid}/_annotations.coco.json`. Read: either form, matched to a loaded
dataset's images by file name, bad rows reported as problems. Also the fold page's
tables as one CSV zip.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xami_core.analysis.folds import PARTS, FoldSet
from xami_core.io.loader import COCO_FILE
from xami_core.io.provenance import SYNTHETIC_KEY
from xami_core.model import Dataset, Problem, XamiDataError
from xami_core.paths import checked_path, resolves_inside, shown
from xami_core.polygons import mask_cells

CSV_COLUMNS: tuple[str, ...] = ("IMADE_ID", "IMAGE_PATH", "SPLIT")  # sic: the authors' spelling

# Said of a fold file or folder linked from outside the fold folder; nothing of its target.
OUTSIDE_FOLDS = "resolves outside the fold folder (a symbolic link?); not read"




IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})


def export_image_ids(ds: Dataset) -> pd.Series:
    """Ids written to IMADE_ID and COCO exports, indexed by image_id.

    The COCO id from the image's annotation file when those are unique (a single file,
    e.g. the no_splits set, as the authors did); for a split layout, whose per-file ids
    repeat, the dataset's global `image_id` (the position in the union).
    """
    img = ds.images.sort_values("image_id")
    ids = img["coco_id"] if img["coco_id"].is_unique else img["image_id"]
    return pd.Series(ids.to_numpy(np.int64), index=img["image_id"].to_numpy(np.int64))


def fold_csv_frame(ds: Dataset, folds: FoldSet, fold: int, path_prefix: str | None = None) -> pd.DataFrame:
    """The rows of `mskf_{fold}.csv`: IMADE_ID, IMAGE_PATH, SPLIT; train rows, then valid, each ascending.

    IMADE_ID is the image's id in the COCO file (see `export_image_ids`); IMAGE_PATH is
    the absolute path of the image file as loaded (the authors' scripts copy images from
    it), or `path_prefix` + "/" + file name when a prefix is given (the authors wrote
    relative paths such as "../../xami_dataset_no_splits/train/<file>").
    """
    ids = export_image_ids(ds)
    img = ds.images.set_index("image_id")
    frames = []
    for part in PARTS:
        part_ids = folds.part_ids(fold, part)
        if path_prefix is None:
            paths = img.loc[part_ids, "path"].to_numpy()
        else:
            paths = [posixpath.join(path_prefix, name) for name in img.loc[part_ids, "file_name"]]
        frames.append(pd.DataFrame({"IMADE_ID": ids.loc[part_ids].to_numpy(np.int64),
                                    "IMAGE_PATH": pd.Series(paths, dtype="str"),
                                    "SPLIT": pd.Series([part] * len(part_ids), dtype="str")}))
    return pd.concat(frames, ignore_index=True)


def fold_csv_text(ds: Dataset, folds: FoldSet, fold: int, path_prefix: str | None = None) -> str:
    """`mskf_{fold}.csv` as the authors' `csv.DictWriter` writes it (excel dialect, CRLF line ends)."""
    frame = fold_csv_frame(ds, folds, fold, path_prefix)
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS))
    writer.writeheader()
    writer.writerows({"IMADE_ID": int(i), "IMAGE_PATH": p, "SPLIT": s}
                     for i, p, s in zip(frame["IMADE_ID"], frame["IMAGE_PATH"], frame["SPLIT"]))
    return buf.getvalue()


def write_fold_csvs(ds: Dataset, folds: FoldSet, out_dir: Path, path_prefix: str | None = None) -> list[Path]:
    """Write `mskf_{i}.csv` for every fold into a user-chosen folder; returns the paths.

    Raises:
        XamiDataError: the folder cannot be used (see `paths.checked_path`) or written.
    """
    out_dir = checked_path(out_dir, what="fold files folder")
    written = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for fold in folds.folds:
            path = out_dir / f"mskf_{fold}.csv"
            path.write_bytes(fold_csv_text(ds, folds, fold, path_prefix).encode("utf-8"))
            written.append(path)
    except OSError as exc:  # a file where the folder should be, permissions, a full disk
        raise XamiDataError(f"fold files folder '{shown(str(out_dir))}': cannot be written ({exc})") from exc
    return written


def fold_csvs_zip(ds: Dataset, folds: FoldSet, path_prefix: str | None = None) -> bytes:
    """All `mskf_{i}.csv` files in one zip (for a download button)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for fold in folds.folds:
            zf.writestr(f"mskf_{fold}.csv", fold_csv_text(ds, folds, fold, path_prefix).encode("utf-8"))
    return buf.getvalue()


def _number(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def coco_categories(ds: Dataset) -> list[dict]:
    """Categories as the input had them: the hidden Roboflow parent (id 0) first, then the classes."""
    cats = ds.categories
    parents = [s for s in dict.fromkeys(cats["supercategory"]) if s and s != "none" and s not in set(cats["name"])]
    out = [{"id": 0, "name": p, "supercategory": "none"} for p in parents[:1]]
    out += [{"id": int(i), "name": n, "supercategory": s} for i, n, s in zip(cats["class_id"], cats["name"], cats["supercategory"])]
    return out


def coco_records(ds: Dataset) -> tuple[dict[int, dict], pd.DataFrame]:
    """COCO image records by image_id and annotation records (column `record`) with their image_id."""
    ids = export_image_ids(ds)
    img = ds.images.sort_values("image_id")
    images = {int(i): {"id": int(ids[i]), "license": 1, "file_name": f, "height": int(h), "width": int(w)}
              for i, f, h, w in zip(img["image_id"], img["file_name"], img["height"], img["width"])}
    ann = ds.annotations
    ann_ids = ann["coco_id"] if ann["coco_id"].is_unique else ann["ann_id"]
    # A missing stored box is replaced by the one recomputed from the mask.
    box = ann[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(np.float64)
    recomputed = ann[["mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h"]].to_numpy(np.float64)
    box = np.where(np.isnan(box), recomputed, box)
    out_image_ids = ids.loc[ann["image_id"].to_numpy()].to_numpy()
    records = [
        {"id": int(a), "image_id": int(i), "category_id": int(c), "bbox": [_number(v) for v in b],
         "area": _number(area), "segmentation": seg if seg is not None else [], "iscrowd": 0}
        for a, i, c, b, area, seg in zip(ann_ids, out_image_ids, ann["class_id"], box.tolist(), ann["area"],
                                         mask_cells(ann))
    ]
    return images, pd.DataFrame({"image_id": ann["image_id"].to_numpy(np.int64), "record": pd.Series(records, dtype=object)})


def fold_coco(ds: Dataset, folds: FoldSet) -> dict[tuple[int, str], dict]:
    """Per (fold, part), a COCO dict filtered from the dataset's records (categories as in the input)."""
    images, anns = coco_records(ds)
    cats = coco_categories(ds)
    prov = ds.provenance
    info: dict[str, Any] = {"description": f"XAMI fold export ({prov.label}); {folds.label}", "licence": prov.licence}
    if prov.synthetic:  # generated data stays labelled so when the folds are loaded again (provenance.SYNTHETIC_KEY)
        info[SYNTHETIC_KEY] = True
    elif prov.recognised_xami:  # XAMI's citation only for XAMI's own files
        info["citation"] = prov.citation
    licenses = [{"id": 1, "name": prov.licence, "url": prov.url}]
    out = {}
    for fold in folds.folds:
        for part in PARTS:
            ids = folds.part_ids(fold, part)
            chosen = anns.loc[anns["image_id"].isin(ids), "record"]
            out[(fold, part)] = {"info": info | {"fold": fold, "part": part}, "licenses": licenses,
                                 "images": [images[int(i)] for i in ids], "annotations": list(chosen),
                                 "categories": cats}
    return out


def fold_coco_zip(ds: Dataset, folds: FoldSet) -> bytes:
    """A zip of `mskf_{i}/{train,valid}/_annotations.coco.json`, the authors' folder layout (no images)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for (fold, part), coco in fold_coco(ds, folds).items():
            zf.writestr(f"mskf_{fold}/{part}/{COCO_FILE}", json.dumps(coco))
    return buf.getvalue()


FOLD_CSV = re.compile(r"^mskf_(\d+)\.csv$")


FOLD_DIR = re.compile(r"^mskf_(\d+)$")


def _basename(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _names_in_folder(folder: Path) -> list[str]:
    """File names of a fold part folder: from its COCO file if any, else its image files."""
    coco = folder / COCO_FILE
    if coco.is_file():
        try:
            data = json.loads(coco.read_text(encoding="utf-8"))
            return [str(im["file_name"]) for im in data.get("images", []) if isinstance(im, dict) and "file_name" in im]
        except (json.JSONDecodeError, OSError, UnicodeDecodeError, AttributeError, TypeError, RecursionError):
            pass  # fall back to the image files beside it
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def find_fold_files(folder: Path) -> tuple[str, list[tuple[int, Path]], list[Problem]]:
    """The authors' fold files in `folder`: ("csv", [(fold, csv path)]) or ("dirs", [(fold, mskf_i dir)]), and a
    problem for each fold file or folder that resolves outside `folder` (a link; never read, its target not named).

    Raises:
        XamiDataError: the folder cannot be used (see `paths.checked_path`), read, or holds no fold files
            (saying so when its only fold files are links out of it).
    """
    folder = checked_path(folder, what="fold folder")
    if not folder.is_dir():
        raise XamiDataError(f"{shown(str(folder))}: not a folder")
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise XamiDataError(f"fold folder '{shown(str(folder))}': cannot be read ({exc.strerror or exc})") from exc
    # Fold files linked from outside the folder are never read (nor said what they point to).
    named = [p for p in entries if FOLD_CSV.match(p.name) or FOLD_DIR.match(p.name)]
    outside = [p for p in named if not resolves_inside(p, folder)]
    problems = [Problem(str(p), "file", f"{OUTSIDE_FOLDS}; fold skipped") for p in sorted(outside)]
    entries = [p for p in entries if p not in outside]
    csvs = sorted((int(m.group(1)), p) for p in entries if (m := FOLD_CSV.match(p.name)) and p.is_file())
    if csvs:
        return "csv", csvs, problems
    dirs = [(int(m.group(1)), p) for p in entries if (m := FOLD_DIR.match(p.name)) and p.is_dir()]
    if (m := FOLD_DIR.match(folder.name)) and any((folder / part).is_dir() for part in PARTS):
        dirs = [(int(m.group(1)), folder)]
    dirs = sorted(d for d in dirs if any((d[1] / part).is_dir() for part in PARTS))
    if dirs:
        return "dirs", dirs, problems
    if outside:
        raise XamiDataError(f"{folder}: every fold file ({', '.join(shown(p.name, 40) for p in sorted(outside)[:4])}"
                            f"{', ...' if len(outside) > 4 else ''}) {OUTSIDE_FOLDS}")
    raise XamiDataError(f"{folder}: no fold files found. Expected mskf_0.csv, mskf_1.csv, ... (columns "
                        f"{', '.join(CSV_COLUMNS)}) or folders mskf_0/, mskf_1/, ... with train/ and valid/ inside")


def _read_fold_csv(path: Path, problems: list[Problem]) -> pd.DataFrame:
    """(name, part, record) rows of one mskf csv; bad rows become problems."""
    file = str(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        problems.append(Problem(file, "file", f"cannot be read as CSV: {exc}"))
        return pd.DataFrame(columns=["name", "part", "record"])
    missing = [c for c in ("IMAGE_PATH", "SPLIT") if c not in raw.columns]
    if missing:
        problems.append(Problem(file, "header", f"expected columns {', '.join(CSV_COLUMNS)}, found "
                                f"{', '.join(raw.columns) or 'none'}"))
        return pd.DataFrame(columns=["name", "part", "record"])
    split = raw["SPLIT"].str.strip().str.lower()
    bad = ~split.isin(PARTS)
    for row in np.flatnonzero(bad.to_numpy())[:10]:
        problems.append(Problem(file, f"row {row + 2}", f"expected SPLIT train or valid, found {raw['SPLIT'].iloc[row]!r}"))
    if bad.sum() > 10:
        problems.append(Problem(file, "rows", f"{int(bad.sum()) - 10} more rows with an unknown SPLIT"))
    names = raw["IMAGE_PATH"].map(_basename)
    return pd.DataFrame({"name": names[~bad], "part": split[~bad],
                         "record": [f"row {r + 2}" for r in np.flatnonzero(~bad.to_numpy())]})


def read_fold_files(folder: str | Path, ds: Dataset) -> FoldSet:
    """Folds from the authors' files in a folder, matched to the dataset's images by file name.

    Rows that match no image, names in both parts of a fold and dataset images missing
    from a fold are reported as problems; the matched rows make the fold set.

    Raises:
        XamiDataError: the folder cannot be used or read, holds no fold files (see `find_fold_files`),
            or no entry matches an image of the dataset.
    """
    kind, found, problems = find_fold_files(Path(folder))
    img = ds.images
    dup = img["file_name"].duplicated(keep=False)
    by_name = pd.Series(img.loc[~dup, "image_id"].to_numpy(np.int64), index=img.loc[~dup, "file_name"].to_numpy())
    ambiguous = set(img.loc[dup, "file_name"])
    frames = []
    for fold, path in found:
        if kind == "csv":
            rows = _read_fold_csv(path, problems)
        else:
            parts = [pd.DataFrame({"name": names, "part": part, "record": [f"{part}/{n}" for n in names]})
                     for part in PARTS if (path / part).is_dir() and resolves_inside(path / part, Path(folder))
                     for names in [_names_in_folder(path / part)]]
            if not parts:  # its train/ and valid/ are links out of the folder
                problems.append(Problem(str(path), "folder", f"train/ and valid/: {OUTSIDE_FOLDS}; fold skipped"))
                continue
            rows = pd.concat(parts, ignore_index=True)
        file = str(path)
        unknown = ~rows["name"].isin(by_name.index)
        for rec, name in zip(rows.loc[unknown, "record"].head(10), rows.loc[unknown, "name"].head(10)):
            why = "matches several images of the dataset" if name in ambiguous else "matches no image of the loaded dataset"
            problems.append(Problem(file, rec, f"file name {name!r} {why}; skipped"))
        if unknown.sum() > 10:
            problems.append(Problem(file, "rows", f"{int(unknown.sum()) - 10} more unmatched file names skipped"))
        rows = rows[~unknown]
        twice = rows["name"].duplicated(keep=False)
        if twice.any():
            problems.append(Problem(file, rows.loc[twice, "record"].iloc[0],
                                    f"{int(rows.loc[twice, 'name'].nunique())} file name(s) listed more than once "
                                    "(in both parts or repeated); first listing kept", "warning"))
            rows = rows[~rows["name"].duplicated(keep="first")]
        n_absent = len(img) - len(rows)
        if n_absent:
            problems.append(Problem(file, f"fold {fold}", f"{n_absent} of {len(img)} dataset images are not in this "
                                    "fold; they are left out of its balance", "warning"))
        frames.append(pd.DataFrame({"fold": np.full(len(rows), fold, dtype=np.int64),
                                    "image_id": by_name.loc[rows["name"]].to_numpy(np.int64),
                                    "part": pd.Series(rows["part"].to_numpy(), dtype="str")}))
    if not frames:  # every fold skipped
        detail = "; ".join(str(p) for p in problems[:5])
        raise XamiDataError(f"{folder}: no fold file could be read. {detail}".strip())
    assignments = pd.concat(frames, ignore_index=True).sort_values(["fold", "image_id"], ignore_index=True)
    if assignments.empty:
        detail = "; ".join(str(p) for p in problems[:5])
        raise XamiDataError(f"{folder}: no fold file entry matches an image of the loaded dataset. {detail}".strip())
    return FoldSet(assignments, "files", len(found), None, problems=tuple(problems), source=str(folder))


def fold_files_fingerprint(folder: str | Path) -> tuple:
    """What identifies the fold files in a folder: names, sizes and mtimes (for caches).

    Raises:
        XamiDataError: the folder path cannot be used (see `paths.checked_path`).
    """
    folder = checked_path(folder, what="fold folder")
    try:
        if not folder.is_dir():
            return (str(folder), "missing")
        entries = sorted(p for p in folder.iterdir() if FOLD_CSV.match(p.name) or FOLD_DIR.match(p.name))
        resolved = str(folder.resolve())
    except (OSError, RuntimeError):  # unreadable: `find_fold_files` says so with the reason
        return (str(folder), "unreadable")
    out = []
    for p in entries[:64]:
        try:
            st = p.stat()
            out.append((p.name, st.st_size, st.st_mtime_ns))
            if p.is_dir():
                out += [(str(f.relative_to(folder)), f.stat().st_mtime_ns) for f in sorted(p.glob(f"*/{COCO_FILE}"))]
        except OSError:  # a dangling or looping link named like a fold file: skipped by the reader too
            out.append((p.name, "unreadable"))
    return (resolved, *out)


def tables_csv_zip(tables: dict[str, pd.DataFrame]) -> bytes:
    """Several tables as CSV files in one zip (name -> table; wide tables keep their index)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, table in tables.items():
            keep_index = not isinstance(table.index, pd.RangeIndex)
            zf.writestr(f"{name}.csv", table.to_csv(index=keep_index))
    return buf.getvalue()

