"""Read the YOLOv8-seg layout (`{train,valid}/{images,labels}` + `data.yaml`) into split records."""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from xami_core.io.coco import SplitRecords
from xami_core.io.image_files import FILE_OK, probe_images
from xami_core.limits import MAX_POLYGON_VERTICES, YOLO_COORD_MAX, YOLO_COORD_MIN
from xami_core.model import CLASS_IDS, PARENT_CATEGORY, Problem, split_key
from xami_core.paths import OUTSIDE_ROOT, resolves_inside

DATA_FILE = "data.yaml"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
YAML_SPLIT_KEYS = (("train", "train"), ("val", "valid"), ("test", "test"))
MIN_POLYGON_NUMBERS = 6  # three points
BOX_NUMBERS = 4  # a detection line: cx cy w h
EDGE_TOLERANCE = 0.01  # exporters round; a polygon on the frame edge may sit just outside 0..1
MAX_DATA_FILE_BYTES = 1 << 20  # a data.yaml names a few folders and classes: a few hundred bytes
ALIASES_REFUSED = "data.yaml uses YAML aliases (&/*), which this reader refuses"


class _NoAliasLoader(yaml.SafeLoader):
    """A safe loader that refuses anchors and aliases: nested aliases expand to billions of nodes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        """PyYAML's node composition, refusing an anchor or alias.

        Raises:
            yaml.composer.ComposerError: the next event is an alias or carries an anchor.
        """
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(None, None, ALIASES_REFUSED, event.start_mark)
        return super().compose_node(parent, index)


def _class_names(data: dict, file: str, problems: list[Problem]) -> list[str] | None:
    """Class names by YOLO id, from a list or an {id: name} mapping."""
    names = data.get("names")
    if isinstance(names, dict):
        by_id: dict[int, Any] = {}
        for key, name in names.items():
            if isinstance(key, bool) or not (isinstance(key, int) or (isinstance(key, str) and key.isascii()
                                                                     and key.isdigit() and len(key) < 10)):
                problems.append(Problem(file, "names", f"expected integer class ids as keys, found {_short(key)}"))
                return None
            by_id[int(key)] = name
        ids = sorted(by_id)
        if ids != list(range(len(ids))):
            problems.append(Problem(file, "names", f"expected class ids 0..{len(ids) - 1}, found {_short(ids)}"))
            return None
        names = [by_id[k] for k in ids]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        problems.append(Problem(file, "names", f"expected a list of class names, found {_short(names)}"))
        return None
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        problems.append(Problem(file, "names", f"expected distinct class names, found {_short(repeated)} more than once"))
        return None
    nc = data.get("nc")
    if nc is not None and nc != len(names):
        problems.append(Problem(file, "nc", f"nc is {_short(nc)} but {len(names)} names are listed; using the names",
                                "warning"))
    return names


def _short(value: Any) -> str:
    """A bounded repr for messages: YAML aliases can make a tiny file expand to a huge structure."""
    return _SHORT.repr(value)


_SHORT = reprlib.Repr()  # keyword arguments arrive only in Python 3.12
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 1, 6, 6, 60, 60


def _categories(names: list[str]) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """COCO-style categories (with the Roboflow parent, id 0) and YOLO id -> category id.

    XAMI names keep their COCO ids (YOLO id + 1 in the published order), so label
    strings and colours line up with the COCO variants whatever the names' order.
    """
    xami = all(n in CLASS_IDS or n == PARENT_CATEGORY for n in names) and len(set(names)) == len(names)
    ids = [(0 if n == PARENT_CATEGORY else CLASS_IDS[n]) if xami else i + 1 for i, n in enumerate(names)]
    cats = [{"id": 0, "name": PARENT_CATEGORY, "supercategory": "none"}]
    cats += [{"id": c, "name": n, "supercategory": PARENT_CATEGORY} for c, n in zip(ids, names) if n != PARENT_CATEGORY]
    return cats, dict(enumerate(ids))


def _is_dir_inside(path: Path, root: Path) -> bool:
    """Whether `path` is a folder inside `root`; False for names the file system refuses (too long, NUL, loops)."""
    try:
        return path.is_dir() and resolves_inside(path, root)
    except (OSError, ValueError):
        return False


def _split_dirs(root: Path, data: dict, file: str, problems: list[Problem]) -> list[tuple[str, Path]]:
    """(split, folder holding images/ and labels/) from data.yaml, else from the folders present."""
    found: dict[Path, str] = {}
    for key, default_name in YAML_SPLIT_KEYS:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        rel = value.strip()
        # Roboflow writes '../train/images' (relative to a parent folder): try both readings,
        # and never leave the dataset folder.
        candidates = [root / rel.lstrip("./"), root / rel]
        hit = next((c for c in candidates if _is_dir_inside(c, root)), None)
        if hit is None:
            if key != "test":  # exporters often name a test split that was not exported
                problems.append(Problem(file, key, f"folder {_short(rel)} not found in {root}; using the split folders present", "warning"))
            continue
        folder = hit.parent if hit.name == "images" else hit
        name = folder.name if folder != root else default_name
        found.setdefault(folder.resolve(), name)
    for sub in sorted(p for p in root.iterdir() if (p / "images").is_dir()):
        if _is_dir_inside(sub, root):
            found.setdefault(sub.resolve(), sub.name)
        else:  # a split folder linked from elsewhere is never read
            problems.append(Problem(str(sub), "folder", f"{OUTSIDE_ROOT}; split skipped"))
    return [(name, folder) for folder, name in found.items()]


def _parse_label_file(path: Path, width: int, height: int, yolo_to_cat: dict[int, int], image_index: int,
                      problems: list[Problem], next_id: int) -> list[dict[str, Any]]:
    """The annotations of one label file, in pixel coordinates; bad lines become problems."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(file, "file", f"cannot be read: {exc}"))
        return []
    out: list[dict[str, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.split():
            continue
        parsed = _label_line(line, f"line {lineno}", yolo_to_cat, file, problems)
        if parsed is not None:
            cls, values = parsed
            out.append(_label_annotation(values, (width, height), yolo_to_cat[cls], next_id + len(out), image_index))
    return out


def _label_line(line: str, record: str, yolo_to_cat: dict[int, int], file: str,
                problems: list[Problem]) -> tuple[int, np.ndarray] | None:
    """(YOLO class id, normalised numbers) of one label line, or None with the reason reported."""
    tokens = line.split()
    try:
        cls = int(tokens[0])
        values = np.array(tokens[1:], dtype=np.float64)
    except ValueError:
        problems.append(Problem(file, record, f"expected 'class x1 y1 x2 y2 ...' of numbers, found {line.strip()[:60]!r}"))
        return None
    if cls not in yolo_to_cat:
        problems.append(Problem(file, record, f"expected a class id 0..{len(yolo_to_cat) - 1} from data.yaml, found {cls}"))
        return None
    n = len(values)
    if not np.isfinite(values).all():
        problems.append(Problem(file, record, "expected finite coordinates, found NaN or infinity"))
        return None
    if n != BOX_NUMBERS and (n % 2 or n < MIN_POLYGON_NUMBERS):
        problems.append(Problem(file, record, f"expected an even number (at least {MIN_POLYGON_NUMBERS}) of polygon "
                                              f"coordinates or 4 box numbers, found {n}"))
        return None
    if n == BOX_NUMBERS:  # centre and size: the box's corners are what must lie near the frame
        values_at = np.concatenate((values[:2] - values[2:] / 2, values[:2] + values[2:] / 2))
    else:
        values_at = values
    if values_at.min() < YOLO_COORD_MIN or values_at.max() > YOLO_COORD_MAX or (n == BOX_NUMBERS and values[2:].min() < 0):
        # Far outside the frame: it would send the rasteriser into a canvas of that size.
        problems.append(Problem(file, record, f"expected coordinates normalised to 0..1, found "
                                              f"{values.min():.4g}..{values.max():.4g}, far outside the frame "
                                              f"(allowed {YOLO_COORD_MIN:g}..{YOLO_COORD_MAX:g}); line skipped"))
        return None
    if values.min() < -EDGE_TOLERANCE or values.max() > 1 + EDGE_TOLERANCE:
        problems.append(Problem(file, record, f"expected coordinates normalised to 0..1, found "
                                              f"{values.min():.4g}..{values.max():.4g}; kept", "warning"))
    if n // 2 > MAX_POLYGON_VERTICES:
        problems.append(Problem(file, record, f"more than {MAX_POLYGON_VERTICES:,} vertices; line skipped"))
        return None
    return cls, values


def _label_annotation(values: np.ndarray, size: tuple[int, int], category_id: int, coco_id: int,
                      image_index: int) -> dict[str, Any]:
    """An annotation record in pixels from a checked line's numbers: a polygon, or a box (4 numbers: centre, size)."""
    scale = np.array(size, dtype=np.float64)
    ann: dict[str, Any] = {"coco_id": coco_id, "coco_image_id": image_index, "category_id": category_id,
                           "area": None, "parts": None, "rle": None}
    if len(values) == BOX_NUMBERS:  # a box-only instance: centre and size
        cx, cy, w, h = values * np.tile(scale, 2)
        ann["bbox"] = [float(cx - w / 2), float(cy - h / 2), float(w), float(h)]
    else:
        pts = values.reshape(-1, 2) * scale
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        ann["parts"] = [pts.ravel().tolist()]
        ann["bbox"] = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
    return ann


def _read_split(split: str, folder: Path, yolo_to_cat: dict[int, int], cats: list[dict[str, Any]],
                root: Path) -> SplitRecords:
    image_dir, label_dir = folder / "images", folder / "labels"
    recs = SplitRecords(split=split, source_file=str(label_dir), image_dir=image_dir, categories=list(cats))
    if not image_dir.is_dir():
        recs.problems.append(Problem(str(image_dir), "folder", "images/ folder missing; split skipped"))
        return recs
    # Nothing is read from outside the dataset folder `root`, links followed; what points out is said
    # without a word about its target (its content, or whether it exists).
    for sub in (image_dir, label_dir):
        if sub.exists() and not resolves_inside(sub, root):
            recs.problems.append(Problem(str(sub), "folder", f"{OUTSIDE_ROOT}; split skipped"))
            return recs
    images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    labels = {p.stem: p for p in label_dir.glob("*.txt")} if label_dir.is_dir() else {}
    for stem, label in list(labels.items()):
        # labels/ is inside `root`: only a link can lead out, and only links pay for resolving.
        if label.is_symlink() and not resolves_inside(label, root):
            recs.problems.append(Problem(str(label), "file", OUTSIDE_ROOT))
            del labels[stem]
    if not label_dir.is_dir():
        recs.problems.append(Problem(str(label_dir), "folder", "labels/ folder missing; images load without annotations", "warning"))
    probe = probe_images(image_dir, [p.name for p in images])
    for index, (path, row) in enumerate(zip(images, probe.itertuples(index=False))):
        if row.file_status != FILE_OK:
            detail = f" ({row.file_detail})" if row.file_detail else ""
            recs.problems.append(Problem(str(path), "image", f"cannot read the image size: the file is "
                                                             f"{row.file_status}{detail}; image and labels skipped"))
            labels.pop(path.stem, None)
            continue
        if row.exif_orientation not in (0, 1):
            recs.problems.append(Problem(str(path), "image", f"the file carries EXIF orientation {row.exif_orientation}; "
                                                             "it is shown as stored (not rotated), as the labels' "
                                                             "coordinates assume", "warning"))
        width, height = int(row.file_width), int(row.file_height)
        # YOLO has no declared size: the file's header is the only one.
        recs.images.append({"coco_id": index, "file_name": path.name, "width": width, "height": height,
                            "declared_width": width, "declared_height": height, "size_problem": None,
                            "path": row.path, "file_status": row.file_status,
                            "exif_orientation": int(row.exif_orientation)})
        label = labels.pop(path.stem, None)
        if label is not None:  # no label file: an image without artefacts (a hard negative)
            recs.annotations.extend(_parse_label_file(label, width, height, yolo_to_cat, index, recs.problems,
                                                      next_id=len(recs.annotations)))
    for stem in sorted(labels)[:20]:
        recs.problems.append(Problem(str(labels[stem]), "file", "label file without a matching image; ignored", "warning"))
    if len(labels) > 20:
        recs.problems.append(Problem(str(label_dir), "folder", f"{len(labels) - 20} more label files without an image", "warning"))
    return recs


def read_yolo(root: Path, confine: Path | None = None) -> tuple[list[SplitRecords], list[Problem]]:
    """Read a YOLOv8-seg dataset: splits as `SplitRecords` (pixel polygons), plus file-level problems.

    `confine` (default `root`): the dataset folder nothing is read outside of, links followed.
    """
    root = Path(root)
    confine = Path(confine) if confine is not None else root
    file = str(root / DATA_FILE)
    problems: list[Problem] = []
    if not resolves_inside(root / DATA_FILE, confine):
        return [], [Problem(file, "file", OUTSIDE_ROOT)]
    try:
        size = (root / DATA_FILE).stat().st_size
        if size > MAX_DATA_FILE_BYTES:
            return [], [Problem(file, "file", f"{size:,} bytes; a data.yaml is a few hundred bytes and this reader "
                                              f"reads at most {MAX_DATA_FILE_BYTES:,}")]
        data = yaml.load((root / DATA_FILE).read_text(encoding="utf-8"), Loader=_NoAliasLoader)  # noqa: S506 - safe loader
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(file, "file", f"cannot be read: {exc}")]
    except RecursionError:
        return [], [Problem(file, "file", "YAML nested deeper than can be read; a data.yaml is two levels deep")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        problem = getattr(exc, "problem", None) or exc
        if problem == ALIASES_REFUSED:
            return [], [Problem(file, where, f"{ALIASES_REFUSED}; write each value out in full")]
        return [], [Problem(file, where, f"malformed YAML: {problem}")]
    if not isinstance(data, dict):
        return [], [Problem(file, "top level", f"expected a mapping with 'names', found {type(data).__name__}")]
    names = _class_names(data, file, problems)
    if names is None:
        return [], problems
    cats, yolo_to_cat = _categories(names)
    splits = _split_dirs(root, data, file, problems)
    if not splits:
        problems.append(Problem(file, "train/val", f"expected split folders with images/ under {root}, found none"))
    parts = [_read_split(split, folder, yolo_to_cat, cats, confine) for split, folder in splits]
    # The conventional split order; YOLO's "val" folder is the valid split.
    parts.sort(key=lambda r: (split_key("valid" if r.split == "val" else r.split), r.split))
    return parts, problems
