"""XAMI Explorer core: loading, indexing and computing what the dashboard shows."""

from __future__ import annotations

from xami_core.io.loader import detect_layout, load_dataset
from xami_core.io.sample import sample_root
from xami_core.model import Dataset, Problem, Provenance, XamiDataError

__all__ = ["Dataset", "Problem", "Provenance", "XamiDataError", "detect_layout", "load_dataset", "sample_root"]
