"""An on-disk cache of loaded datasets: a later process opens a large set without parsing it again.

One entry per key, a folder `cache_dir()/index/<key>/` holding the three tables as Parquet files
and `meta.json` (the column codecs, provenance and problems; no pickle). The key names everything
the loader's output depends on: the source's fingerprint (size and mtime of the annotation files
or the archive), the modification times of the folders whose files it reads (a frame or label
file added, removed or renamed), the path and provenance flags, the loader's code, the schema and
the library versions. An edited source therefore gets a new key; the old entry is evicted in time.

An entry is written into a hidden temporary folder beside it (`.<key>-….xami-partial`, with an
owner file, so `archive.remove_stale_temps` clears what a killed writer left) and renamed into
place once its marker file is written: a reader sees a complete entry or none. Two writers of
one key both succeed: the second rename fails and finds the first one's entry. An entry that
cannot be read is deleted and the data loaded again. Entries join the cache's quota
(`archive.evictable_entries`) and are touched when read, so eviction goes by last use.

The polygon column (`xami_core.polygons`: Arrow nested lists of float64, flat coordinates with
offsets) is written as it is and read back as Arrow buffers, no Python object per coordinate or
part. Object columns are stored so they read back equal, with their types: cells (RLE dicts, ids
that mix integers and text) as one JSON text each, None as null (the sparse RLE column costs only
its RLEs), sets of names as codes into their distinct values.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from xami_core.io.archive import INDEX, INDEX_MARKER, OWNER_FILE, PARTIAL_SUFFIX, evict_cache, remove_stale_temps
from xami_core.limits import max_image_pixels
from xami_core.model import Dataset, Problem, Provenance
from xami_core.paths import cache_dir, max_json_bytes
from xami_core.polygons import POLYGON_TYPE
from xami_core.schema import TABLES

# Bump when the loader's output changes in a way its code digest below would not show.
LOADER_VERSION = 2  # 2: polygons column-wise (`xami_core.polygons`), RLE dicts in their own column
FORMAT_VERSION = 3  # of the entry's files (this module's codecs)
INDEX_CACHE_ENV = "XAMI_INDEX_CACHE"  # "0" (or false, no, off) turns the cache off
# Entries are written only for data sets at least this large. Measured (BENCHMARKS.md, Loading): the
# sample (687 annotations) parses in 0.08 s and reads in 0.02 s, a saving no one notices for an entry
# on disk; at XAMI size (6,183) 0.30 s against 0.05 to 0.09 s, at 20k images 5.2 s against 0.4 s.
MIN_ANNOTATIONS = 2_000
META_FILE = "meta.json"
STAMP_DEPTH = 2  # folder levels under a split (or YOLO) folder whose modification times join the key
SKIP_FOLDERS = {"__MACOSX"}
# The modules whose code decides the loaded tables: a change to any of them gives new keys.
_CODE = ("io/loader.py", "io/coco.py", "io/yolo.py", "io/tables.py", "io/image_files.py", "io/provenance.py",
         "io/rle.py", "io/index_cache.py", "model.py", "schema.py", "limits.py", "polygons.py")
# Arrow-backed column types stored as they are (the "arrow" codec names one by its index here).
ARROW_TYPES = (POLYGON_TYPE,)


class UncachableError(Exception):
    """A table holds a value this cache cannot store exactly (the dataset is then loaded, not cached)."""


def index_cache_enabled() -> bool:
    """Whether loads use the disk cache (`XAMI_INDEX_CACHE`, default on; "0", "false", "no", "off" turn it off)."""
    return os.environ.get(INDEX_CACHE_ENV, "").strip().lower() not in {"0", "false", "no", "off"}


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """A digest of the loader's source files, the schema and the libraries that write and read the tables."""
    digest = hashlib.sha256(f"{LOADER_VERSION} {FORMAT_VERSION} {pd.__version__} {pa.__version__} {np.__version__}".encode())
    package = Path(__file__).resolve().parent.parent
    for name in _CODE:
        try:
            digest.update((package / name).read_bytes())
        except OSError:
            digest.update(f"no {name}".encode())
    digest.update(repr({table: [(c.name, c.dtype) for c in columns] for table, columns in TABLES.items()}).encode())
    return digest.hexdigest()


def _folder_stamps(folders: Sequence[Path]) -> list[tuple]:
    """Per folder, and its subfolders `STAMP_DEPTH` levels down: (path, mtime in ns, and of its YOLO label files
    (`*.txt`) the count, total bytes and latest mtime in ns).

    A folder's mtime changes when a file in it is added, removed or renamed, not when one is
    rewritten in place; label files are text a user may edit in place, so their own times count.

    Raises:
        OSError: a folder cannot be looked up or listed.
    """
    stamps: list[tuple] = []
    level = [Path(f) for f in folders]
    for depth in range(STAMP_DEPTH + 1):
        below: list[Path] = []
        for folder in level:
            mtime = folder.stat().st_mtime_ns
            with os.scandir(folder) as listing:
                entries = list(listing)
            labels = [e.stat() for e in entries if e.name.endswith(".txt")]
            if depth < STAMP_DEPTH:
                below += [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)
                          and not e.name.startswith(".") and e.name not in SKIP_FOLDERS]
            stamps.append((str(folder), mtime, len(labels), sum(st.st_size for st in labels),
                           max((st.st_mtime_ns for st in labels), default=0)))
        level = sorted(below)
    return stamps


def index_key(path: str, source: str, synthetic: bool, fingerprint: tuple, folders: Sequence[Path]) -> str | None:
    """The cache key of loading `path` (64 hex characters), or None when the cache is off or the folders cannot be read.

    Args:
        path: the path as `load_dataset` was given it (it is the provenance's path).
        source, synthetic: the provenance flags of the load.
        fingerprint: `loader.source_fingerprint(path)`.
        folders: the folders the loader reads files from (split folders, a YOLO root).
    """
    if not index_cache_enabled():
        return None
    try:
        stamps = _folder_stamps(folders)
        # Lower limits may refuse a file, or call a frame too large, that the entry was made with.
        limits = (max_json_bytes(), max_image_pixels())
    except Exception:  # noqa: BLE001 - an unreadable folder or a bad setting: the load says why, uncached
        return None
    text = repr((_code_digest(), str(path), source, bool(synthetic), fingerprint, stamps, limits))
    return hashlib.sha256(text.encode()).hexdigest()


def index_dir() -> Path:
    """The folder of the index entries, `cache_dir()/index`.

    Raises:
        OSError: the cache folder cannot be made.
    """
    return cache_dir() / INDEX


# --- writing ---------------------------------------------------------------------------------


def _json_cells(values: Sequence[object], where: str) -> pa.Array:
    """Cells as JSON text (bytes), checked to read back equal and of the same type; None cells are nulls
    (a sparse column, the RLE dicts, costs little to write and read).

    Raises:
        UncachableError: a cell JSON cannot hold exactly (a NaN, a tuple, a numpy scalar, bytes).
    """
    rows = np.flatnonzero(np.fromiter((v is not None for v in values), dtype=bool, count=len(values)))
    chosen = [values[i] for i in rows.tolist()]
    try:
        texts = [orjson.dumps(v) for v in chosen]
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise UncachableError(f"{where}: {exc}") from exc
    back = [orjson.loads(t) for t in texts]
    if back != chosen or any(type(a) is not type(b) for a, b in zip(back, chosen)):
        raise UncachableError(f"{where}: a value does not read back from JSON as written")
    placed: list[bytes | None] = [None] * len(values)
    for i, text in zip(rows.tolist(), texts):
        placed[i] = text
    return pa.array(placed, type=pa.large_binary())


def _encode_object(name: str, values: np.ndarray, where: str) -> tuple[dict[str, Any], dict[str, pa.Array]]:
    """An object column's codec description and its Arrow columns.

    Raises:
        UncachableError: a value cannot be stored exactly.
    """
    cells = values.tolist()
    types = set(map(type, cells))
    if cells and types == {frozenset}:
        distinct: dict[frozenset, int] = {}
        codes = np.fromiter((distinct.setdefault(c, len(distinct)) for c in cells), dtype=np.int32, count=len(cells))
        members = [sorted(s) for s in distinct]
        if not all(type(m) is str for m in chain.from_iterable(members)):
            raise UncachableError(f"{where}: sets of other values than text")
        return {"codec": "sets", "values": members}, {name: pa.array(codes)}
    # Text in an object column (pandas 2's text columns), missing as NaN or as None (one of them).
    one_missing = not (float in types and type(None) in types)
    if (str in types and types <= {str, float, type(None)} and one_missing
            and all(c != c for c in cells if type(c) is float)):
        text = pa.array([c if type(c) is str else None for c in cells], type=pa.large_string())
        return {"codec": "object_text", "missing": "nan" if float in types else "none"}, {name: text}
    return {"codec": "json"}, {name: _json_cells(cells, where)}


def _encode_table(frame: pd.DataFrame, where: str) -> tuple[list[dict[str, Any]], pa.Table]:
    """A table's column codecs (in column order) and the Arrow table that stores it.

    Raises:
        UncachableError: the table has an index other than 0..n-1, or a value that cannot be stored exactly.
    """
    if not frame.index.equals(pd.RangeIndex(len(frame))) or type(frame.index) is not pd.RangeIndex:
        raise UncachableError(f"{where}: an index other than 0..n-1")
    specs, arrays = [], {}
    for name in frame.columns:
        column = frame[name]
        dtype = column.dtype
        if isinstance(dtype, pd.StringDtype):
            specs.append({"name": name, "codec": "text", "storage": dtype.storage,
                          "na": "nan" if dtype.na_value is not pd.NA else "NA"})
            arrays[name] = pa.array(column.to_numpy(dtype=object, na_value=None), type=pa.large_string())
        elif dtype in (np.dtype(np.int64), np.dtype(np.float64), np.dtype(np.bool_), np.dtype(np.int32)):
            specs.append({"name": name, "codec": "numpy", "dtype": dtype.str})
            arrays[name] = pa.array(column.to_numpy())
        elif isinstance(dtype, pd.ArrowDtype) and dtype.pyarrow_dtype in ARROW_TYPES:
            # The polygons' flat coordinates and offsets, as they are (Parquet nested lists).
            specs.append({"name": name, "codec": "arrow", "type": ARROW_TYPES.index(dtype.pyarrow_dtype)})
            arrays[name] = column.array.__arrow_array__()
        elif dtype == np.dtype(object):
            spec, columns = _encode_object(name, column.to_numpy(), f"{where}, column {name!r}")
            specs.append({"name": name, **spec})
            arrays |= columns
        else:
            raise UncachableError(f"{where}: column {name!r} of dtype {dtype}")
    return specs, pa.table(arrays) if arrays else pa.table({"#rows": pa.array(np.zeros(len(frame), dtype=np.int8))})


def _make_temp(parent: Path, key: str) -> Path:
    """A new hidden temporary folder in `parent`, marked with this process as its owner."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-", suffix=PARTIAL_SUFFIX, dir=parent))
    (tmp / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}\n")
    return tmp


def save_index(ds: Dataset, key: str) -> Path:
    """Write `ds` as the entry of `key` and return its folder (an existing entry of the key is kept as it is).

    Raises:
        UncachableError: a table holds a value that cannot be stored exactly.
        OSError: the entry cannot be written (no space, no permission).
    """
    parent = index_dir()
    parent.mkdir(parents=True, exist_ok=True)
    dest = parent / key
    if (dest / INDEX_MARKER).is_file():
        return dest
    remove_stale_temps(parent)
    encoded = {table: _encode_table(getattr(ds, table), f"{ds.provenance.path}: {table}") for table in TABLES}
    tmp = _make_temp(parent, key)
    try:
        for table, (_, arrow) in encoded.items():
            pq.write_table(arrow, tmp / f"{table}.parquet")
        meta = {"key": key, "format": FORMAT_VERSION, "tables": {t: specs for t, (specs, _) in encoded.items()},
                "provenance": dataclasses.asdict(ds.provenance),
                "problems": [dataclasses.astuple(p) for p in ds.problems], "content_key": ds.content_key}
        (tmp / META_FILE).write_bytes(orjson.dumps(meta))
        (tmp / OWNER_FILE).unlink()
        (tmp / INDEX_MARKER).write_text(f"{key}\n")  # last: an entry without it is never read
        try:
            os.replace(tmp, dest)
        except OSError:
            if not (dest / INDEX_MARKER).is_file():  # not another writer's entry of the same key
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after the rename; a failed write's leftovers
    return dest


def write_index(ds: Dataset, key: str | None) -> Path | None:
    """`save_index` for a data set of at least `MIN_ANNOTATIONS` annotations, then the cache's eviction; the entry's
    folder, or None when nothing was written (no key, too small, or the write failed: the load goes on uncached)."""
    if key is None or len(ds.annotations) < MIN_ANNOTATIONS:
        return None
    try:
        dest = save_index(ds, key)
        evict_cache(keep=(dest,))
    except Exception:  # noqa: BLE001 - a cache that cannot be written is no error for the user
        return None
    return dest


# --- reading ---------------------------------------------------------------------------------


def _decode_json(column: pa.ChunkedArray) -> list[Any]:
    """JSON text cells back to Python values (nulls: None), only the non-null ones parsed."""
    out: list[Any] = [None] * len(column)
    present = np.flatnonzero(column.is_valid().to_numpy(zero_copy_only=False)).tolist()
    if present:
        for i, text in zip(present, column.take(pa.array(present, type=pa.int64())).to_pylist()):
            out[i] = orjson.loads(text)
    return out


def _object_array(cells: Sequence[Any]) -> np.ndarray:
    """A 1-d object array holding `cells` as they are (lists stay elements, not a second dimension)."""
    out = np.empty(len(cells), dtype=object)
    out[:] = cells
    return out


def _decode_table(table: pa.Table, specs: list[dict[str, Any]]) -> pd.DataFrame:
    """A DataFrame with the columns, dtypes and values `_encode_table` stored."""
    columns: dict[str, Any] = {}
    for spec in specs:
        name, codec = spec["name"], spec["codec"]
        if codec == "numpy":
            columns[name] = table.column(name).to_numpy().astype(np.dtype(spec["dtype"]), copy=False)
        elif codec == "text":
            dtype = pd.StringDtype(storage=spec["storage"], na_value=np.nan if spec["na"] == "nan" else pd.NA)
            columns[name] = pd.array(table.column(name), dtype=dtype)  # no copy for Arrow-backed text
        elif codec == "sets":
            distinct = _object_array([frozenset(m) for m in spec["values"]])
            columns[name] = distinct[table.column(name).to_numpy()] if len(distinct) else _object_array([])
        elif codec == "object_text":
            cells = table.column(name).to_numpy(zero_copy_only=False).astype(object, copy=False)
            if spec["missing"] == "nan":
                cells[table.column(name).is_null().to_numpy(zero_copy_only=False)] = np.nan
            columns[name] = pd.Series(cells, dtype=object, copy=False)  # no text inference (pandas 3)
        elif codec == "json":
            columns[name] = _object_array(_decode_json(table.column(name)))
        elif codec == "arrow":
            arrow_type = ARROW_TYPES[spec["type"]]
            columns[name] = pd.arrays.ArrowExtensionArray(table.column(name).cast(arrow_type))
        else:
            raise ValueError(f"unknown column codec {codec!r}")
    frame = pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows), copy=False)
    return frame if specs else frame.iloc[:, :0]


def load_index(key: str) -> Dataset:
    """The dataset stored under `key`, and the entry touched as just used.

    Raises:
        KeyError: there is no complete entry for `key`.
        Exception: the entry is damaged (any error reading or decoding it, a SchemaError included).
    """
    entry = index_dir() / key
    if not (entry / INDEX_MARKER).is_file():
        raise KeyError(f"no index entry {key}")
    meta = orjson.loads((entry / META_FILE).read_bytes())
    if meta.get("key") != key or meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{entry}: written for another key or format")
    # One thread: as fast as the thread pool here (the files are read once), at half the CPU and steadier.
    tables = {name: _decode_table(pq.read_table(entry / f"{name}.parquet", use_threads=False), meta["tables"][name])
              for name in TABLES}
    ds = Dataset(**tables, provenance=Provenance(**meta["provenance"]),
                 problems=tuple(Problem(*p) for p in meta["problems"]), content_key=meta["content_key"])
    try:
        os.utime(entry)  # "last used", for eviction
    except OSError:
        pass
    return ds


def read_index(key: str | None) -> Dataset | None:
    """The dataset stored under `key`, or None when there is none (no key, no entry); a damaged entry is deleted."""
    if key is None:
        return None
    try:
        return load_index(key)
    except KeyError:
        return None
    except Exception:  # noqa: BLE001 - truncated files, a bad codec, a schema mismatch: load the data instead
        delete_entry(key)
        return None


def delete_entry(key: str) -> None:
    """Remove the entry of `key`, renamed first to a hidden temporary name so no reader sees it half deleted. Never raises."""
    try:
        entry = index_dir() / key
        doomed = entry.with_name(f".{key[:16]}-{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
        os.replace(entry, doomed)  # without an owner file, stale for `remove_stale_temps` after a grace period
    except OSError:
        return
    shutil.rmtree(doomed, ignore_errors=True)
