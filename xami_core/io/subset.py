"""A selection of images handed on: its file list as CSV, and a COCO subset with its frames as a zip.

The zip is a dataset in Roboflow's COCO layout that `loader.load_dataset` (or any COCO reader)
loads back with the same images, annotations and splits:

    <root>/README.txt                       what this is, the counts, licence, frames left out
    <root>/selection.csv                    `selection_table` of the images
    <root>/missing.csv                      frames not in the zip and why (only when there are any)
    <root>/<split>/_annotations.coco.json   one COCO file per split of the selection
    <root>/<split>/<file_name>              the frames, beside their COCO file

One COCO file per split keeps the split, and keeps the ids of the source files: Roboflow numbers
images and annotations from 0 in each split's file, so ids repeat across splits and one file for
all could not keep them. (A selection from one split with a name of its own, not train, valid,
test or all, loads back as split "all": the loader takes a lone folder of another name for a
wrapper.) The records are the fold export's (`fold_files`), so a subset and a fold part are
written alike. Frames are copied from disk one at a time into the zip (never all held at once);
a selection of more frames, or more bytes of frame files, than the limits (`max_subset_frames`,
`max_subset_bytes`) is refused before anything is written.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pandas as pd

from xami_core.io.fold_files import coco_categories, coco_records
from xami_core.io.image_files import FILE_OK
from xami_core.io.loader import COCO_FILE
from xami_core.io.provenance import SYNTHETIC_KEY
from xami_core.model import SPLIT_ORDER, Dataset, Provenance, XamiDataError, split_order
from xami_core.paths import format_bytes, setting_number

# The export's limits (read at call time, as `paths`' settings are): XAMI has 1,055 frames of about 50 MB in
# all, so the whole dataset fits; a synthetic 100k set does not. The zip is held in memory for the download.
MAX_FRAMES_ENV, DEFAULT_MAX_FRAMES = "XAMI_MAX_SUBSET_FRAMES", 5_000
MAX_MB_ENV, DEFAULT_MAX_MB = "XAMI_MAX_SUBSET_MB", 256.0
README = "README.txt"
SELECTION_CSV = "selection.csv"
MISSING_CSV = "missing.csv"
DEFAULT_ROOT = "xami_subset"
MISSING_COLUMNS = ("split", "file_name", "reason")


class SubsetTooLargeError(XamiDataError):
    """A selection beyond the export's limits (`max_subset_frames` frames, `max_subset_bytes` of frame files)."""


def max_subset_frames() -> int:
    """The most frames a COCO subset export takes (`XAMI_MAX_SUBSET_FRAMES`, default 5,000).

    Raises:
        XamiDataError: the setting is not a positive number.
    """
    return int(setting_number(MAX_FRAMES_ENV, DEFAULT_MAX_FRAMES))


def max_subset_bytes() -> int:
    """The most bytes of frame files a COCO subset export takes (`XAMI_MAX_SUBSET_MB`, default 256 MB).

    Raises:
        XamiDataError: the setting is not a positive number.
    """
    return int(setting_number(MAX_MB_ENV, DEFAULT_MAX_MB) * 1024**2)


@dataclass(frozen=True)
class SubsetSummary:
    """What a subset export holds (or would hold): counts, frame bytes and the frames it leaves out.

    frame_bytes is the size in bytes of the frame files that are copied; missing lists
    (split, file_name, reason) for each frame that is not.
    """

    n_images: int
    n_annotations: int
    splits: tuple[str, ...]
    frame_bytes: int
    missing: tuple[tuple[str, str, str], ...] = ()

    @property
    def n_frames(self) -> int:
        """How many frame files the zip holds."""
        return self.n_images - len(self.missing)

    @property
    def message(self) -> str:
        """One paragraph for the user: what the zip holds and which frames it leaves out."""
        text = (f"{self.n_images:,} image(s) and {self.n_annotations:,} annotation(s) in "
                f"{len(self.splits)} split(s) ({', '.join(self.splits)}); {self.n_frames:,} frame(s), "
                f"{format_bytes(self.frame_bytes)}.")
        if self.missing:
            names = ", ".join(f"{split}/{name}" for split, name, _ in self.missing[:5])
            more = f" and {len(self.missing) - 5:,} more" if len(self.missing) > 5 else ""
            text += (f" {len(self.missing):,} frame(s) left out ({names}{more}): see {MISSING_CSV} in the zip; "
                     "their records stay in the COCO file.")
        return text


def _selected_images(ds: Dataset, image_ids: Sequence[int]) -> pd.DataFrame:
    """The image rows of `image_ids`, in the given order, each once.

    Raises:
        ValueError: an id is not an image of the dataset.
    """
    ids = pd.unique(np.asarray(list(image_ids), dtype=np.int64))
    known = ds.images["image_id"].to_numpy(np.int64)
    unknown = ids[~np.isin(ids, known)]
    if len(unknown):
        shown = ", ".join(str(i) for i in unknown[:5])
        raise ValueError(f"{len(unknown)} image id(s) not in the dataset ({shown}{', ...' if len(unknown) > 5 else ''})")
    return ds.images.set_index("image_id", drop=False).loc[ids].reset_index(drop=True)


def selection_table(ds: Dataset, image_ids: Sequence[int]) -> pd.DataFrame:
    """One row per selected image, in selection order: what a colleague or a training script needs.

    Columns: file_name, split, coco_id (the image's id in its split's annotation file), obs_key,
    obsid (text, leading zeros kept), filter_letter, filter (name), width, height (px),
    n_annotations, classes (the class names present, in category order, joined by ";"), then
    one `n_<class>` count per class of the dataset, and file_status (ok, missing, ...).

    Raises:
        ValueError: an id is not an image of the dataset.
    """
    img = _selected_images(ds, image_ids)
    names = ds.class_names
    ann = ds.annotations[ds.annotations["image_id"].isin(img["image_id"])]
    counts = (pd.crosstab(ann["image_id"], pd.Categorical(ann["class_name"], categories=names), dropna=False)
              .reindex(index=img["image_id"], columns=names, fill_value=0))
    table = pd.DataFrame({
        "file_name": img["file_name"], "split": img["split"], "coco_id": img["coco_id"], "obs_key": img["obs_key"],
        "obsid": img["obsid"], "filter_letter": img["filter_letter"], "filter": img["filter_name"],
        "width": img["width"], "height": img["height"], "n_annotations": img["n_annotations"],
        "classes": [";".join(n for n in names if n in present) for present in img["classes"]],
    })
    for name in names:
        table[f"n_{name}"] = counts[name].to_numpy(np.int64)
    table["file_status"] = img["file_status"]
    return table


def selection_csv(ds: Dataset, image_ids: Sequence[int]) -> bytes:
    """`selection_table` as UTF-8 CSV (header row, no index).

    Raises:
        ValueError: an id is not an image of the dataset.
    """
    return selection_table(ds, image_ids).to_csv(index=False).encode("utf-8")


def _integer_ids(table: pd.DataFrame, fallback: str) -> pd.DataFrame:
    """`table` with its `coco_id` replaced by the integer column `fallback` when the file's ids are not integers."""
    if table["coco_id"].dtype == np.int64:
        return table
    return table.assign(coco_id=table[fallback].to_numpy(np.int64))


def coco_subset(ds: Dataset, image_ids: Sequence[int]) -> dict[str, dict]:
    """The selected images' COCO files, one per split (in split order): {split: COCO dict}.

    Each holds the split's selected images and all their annotations, with the ids of the
    source annotation file (0-based in Roboflow's files; a file's non-integer ids, or ids
    repeated in it, are replaced by the dataset's row ids) and the categories as the input
    had them (the hidden Roboflow parent first). Segmentations are written as loaded:
    polygon lists, RLE dicts, `[]` for a box-only annotation.

    Raises:
        ValueError: an id is not an image of the dataset.
    """
    img = _selected_images(ds, image_ids)
    ann = ds.annotations[ds.annotations["image_id"].isin(img["image_id"])]
    cats = coco_categories(ds)
    prov = ds.provenance
    licenses = [{"id": 1, "name": prov.licence, "url": prov.url}]
    out = {}
    for split in split_order(img["split"]):
        part_images = img[img["split"] == split]
        part = Dataset(images=_integer_ids(part_images, "image_id"),
                       annotations=_integer_ids(ann[ann["split"] == split], "ann_id"),
                       categories=ds.categories, provenance=prov)
        images, records = coco_records(part)
        out[split] = {"info": subset_info(prov, split), "licenses": licenses,
                      "images": [images[int(i)] for i in part_images["image_id"]],
                      "annotations": list(records["record"]), "categories": cats}
    return out


def subset_info(prov: Provenance, split: str) -> dict[str, object]:
    """The COCO `info` block of one exported split: where the selection came from, under which terms.

    Generated data (the sample, or a subset of it) carries `"synthetic": true`
    (`provenance.SYNTHETIC_KEY`), which the loader reads back; XAMI's citation and URL are written
    only for data recognised as XAMI, the source files' own URL for other data.
    """
    exported = f"Exported from XAMI Explorer's gallery; split {split}."
    if prov.synthetic:
        description = f"Selection of generated data, not real XAMI data ({prov.description}). {exported}"
    elif prov.recognised_xami:
        description = f"Selection of the XAMI dataset (source: {prov.source}). {exported}"
    else:
        description = (f"Selection of a dataset not recognised as XAMI (source: {prov.source}; its description: "
                       f"{prov.description}). {exported}")
    info: dict[str, object] = {"description": description, "split": split, "source": prov.source,
                               "licence": prov.licence}
    if prov.synthetic:
        info[SYNTHETIC_KEY] = True
    elif prov.recognised_xami:
        info |= {"citation": prov.citation, "url": prov.url}
    elif prov.url:
        info["url"] = prov.url
    return info


def subset_summary(ds: Dataset, image_ids: Sequence[int], max_frames: int | None = None) -> SubsetSummary:
    """What `write_subset_zip` would write, from the file system as it is now (one stat per frame).

    Frames the loader could not open (missing, unreadable, outside the dataset folder, ...)
    are left out and listed with the loader's reason; so are frames gone since loading.
    Beyond `max_frames` images (default: the setting, `max_subset_frames`) the files are not
    looked at: frame_bytes is 0 and nothing is listed missing.

    Raises:
        ValueError: an id is not an image of the dataset.
        XamiDataError: the frame limit's setting is not a positive number.
    """
    img = _selected_images(ds, image_ids)
    frame_bytes, missing = 0, []
    if len(img) <= (max_subset_frames() if max_frames is None else max_frames):  # past the limit the export is refused anyway: no need to look at the files
        for split, name, path, status in zip(img["split"], img["file_name"], img["path"], img["file_status"]):
            size, reason = _frame_size(path, status)
            frame_bytes += size
            if reason:
                missing.append((split, name, reason))
    n_ann = int(ds.annotations["image_id"].isin(img["image_id"]).sum())
    return SubsetSummary(n_images=len(img), n_annotations=n_ann, splits=tuple(split_order(img["split"])),
                         frame_bytes=frame_bytes, missing=tuple(missing))


def _frame_size(path: str, status: str) -> tuple[int, str]:
    """(bytes, "") of a frame to copy, or (0, why it is left out)."""
    if status != FILE_OK:
        return 0, f"not copied: the file is {status} (as when the dataset was loaded)"
    try:
        return os.stat(path).st_size, ""
    except OSError as exc:
        return 0, f"not copied: {exc.strerror or exc} (gone since the dataset was loaded)"


def limit_problem(summary: SubsetSummary, max_frames: int | None = None, max_bytes: int | None = None) -> str | None:
    """Why a subset is too large to export (naming the limit), or None when it is within the limits.

    The limits default to the settings (`max_subset_frames`, `max_subset_bytes`).

    Raises:
        XamiDataError: a limit's setting is not a positive number.
    """
    max_frames = max_subset_frames() if max_frames is None else max_frames
    max_bytes = max_subset_bytes() if max_bytes is None else max_bytes
    if summary.n_images > max_frames:
        return (f"{summary.n_images:,} images selected: the COCO subset export takes at most {max_frames:,} frames. "
                "Narrow the selection (classes, filters, split) or export the file list alone.")
    if summary.frame_bytes > max_bytes:
        return (f"the selected frames take {format_bytes(summary.frame_bytes)}: the COCO subset export takes at most "
                f"{format_bytes(max_bytes)} of frames. Narrow the selection or export the file list alone.")
    return None


def root_folder(name: str) -> str:
    """The zip's top folder for a download called `name`: letters, digits, '-', '_' and '.', never a split's name."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:80]
    return stem if stem and stem not in SPLIT_ORDER and stem != "data" else DEFAULT_ROOT


def write_subset_zip(ds: Dataset, image_ids: Sequence[int], out: BinaryIO, name: str = DEFAULT_ROOT,
                     max_frames: int | None = None, max_bytes: int | None = None) -> SubsetSummary:
    """Write the selection as a COCO dataset zip (layout in the module docstring) to the binary stream `out`.

    Frames are copied one at a time from disk (stored, JPEG does not shrink); frames that cannot
    be copied are left out, listed in `missing.csv`, the README and the returned summary, and
    keep their records in the COCO file (so the counts load back unchanged). `name` names the
    zip's top folder (see `root_folder`).

    Raises:
        ValueError: an id is not an image of the dataset.
        SubsetTooLargeError: more than `max_frames` images, or more than `max_bytes` of frame files (by
            default the settings, `max_subset_frames` and `max_subset_bytes`); nothing is written.
        XamiDataError: a limit's setting is not a positive number.
    """
    summary = subset_summary(ds, image_ids, max_frames)
    problem = limit_problem(summary, max_frames, max_bytes)
    if problem is not None:
        raise SubsetTooLargeError(problem)
    img = _selected_images(ds, image_ids)
    root = root_folder(name)
    left_out = {(split, file): reason for split, file, reason in summary.missing}
    missing, frame_bytes = [], 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for split, coco in coco_subset(ds, image_ids).items():
            zf.writestr(f"{root}/{split}/{COCO_FILE}", json.dumps(coco))
        written: set[str] = set()
        for split, file, path in zip(img["split"], img["file_name"], img["path"]):
            member = f"{root}/{split}/{file}"
            reason = left_out.get((split, file))
            if reason is None and member in written:
                continue  # two records name one file: it is in the zip once, for both
            if reason is None:
                try:
                    zf.write(path, member, compress_type=zipfile.ZIP_STORED)
                    written.add(member)
                    frame_bytes += zf.getinfo(member).file_size
                    continue
                except OSError as exc:  # gone between the look and the copy
                    reason = f"not copied: {exc.strerror or exc} (gone since the dataset was loaded)"
            missing.append((split, file, reason))
        summary = SubsetSummary(n_images=summary.n_images, n_annotations=summary.n_annotations,
                                splits=summary.splits, frame_bytes=frame_bytes, missing=tuple(missing))
        if missing:
            zf.writestr(f"{root}/{MISSING_CSV}", _missing_csv(missing))
        zf.writestr(f"{root}/{SELECTION_CSV}", selection_csv(ds, image_ids))
        zf.writestr(f"{root}/{README}", readme_text(ds, summary))
    return summary


def subset_zip_bytes(ds: Dataset, image_ids: Sequence[int], name: str = DEFAULT_ROOT) -> tuple[bytes, SubsetSummary]:
    """`write_subset_zip` into memory: the zip's bytes and its summary (for a download button).

    Raises:
        ValueError: an id is not an image of the dataset.
        SubsetTooLargeError: the selection is beyond the export's limits.
        XamiDataError: a limit's setting is not a positive number.
    """
    buf = io.BytesIO()
    summary = write_subset_zip(ds, image_ids, buf, name=name)
    return buf.getvalue(), summary


def _missing_csv(missing: list[tuple[str, str, str]]) -> str:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(MISSING_COLUMNS)
    writer.writerows(missing)
    return buf.getvalue()


def readme_text(ds: Dataset, summary: SubsetSummary) -> str:
    """The zip's README.txt: what the subset is, where from, under which terms, how to load it, what is left out."""
    prov = ds.provenance
    lines = [
        "A subset of an XAMI-style dataset, exported from XAMI Explorer's gallery.",
        "",
        f"Source: {prov.label}",
        f"Licence: {prov.licence or 'not stated'}",
        (f'Generated data, not real XAMI data: each COCO file\'s info says "{SYNTHETIC_KEY}": true, and XAMI '
         "Explorer labels the subset synthetic when it loads it.") if prov.synthetic else
        f"Cite: {prov.citation or 'not stated'}",
        "",
        summary.message,
        "",
        "Layout: one COCO file per split (<split>/_annotations.coco.json, Roboflow's layout), the frames",
        "beside it. Image and annotation ids are those of the source annotation files (Roboflow numbers",
        "them from 0 in each split's file, so they repeat across splits). Categories are as in the source,",
        "the unused parent category (id 0) included. selection.csv lists the images, one row each.",
        "Load it with any COCO reader, or with XAMI Explorer (open the zip or the extracted folder).",
    ]
    if summary.missing:
        lines += ["", f"Frames left out ({len(summary.missing):,}, also in {MISSING_CSV}):"]
        lines += [f"  {split}/{file}: {reason}" for split, file, reason in summary.missing]
    return "\n".join(lines) + "\n"
