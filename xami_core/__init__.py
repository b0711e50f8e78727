"""XAMI Explorer core: loading, indexing and computing what the dashboard shows."""

from __future__ import annotations

from .loader import detect_layout, load_dataset
from .model import Dataset, Problem, Provenance, XamiDataError
from .sample import sample_root

__all__ = ["Dataset", "Problem", "Provenance", "XamiDataError", "detect_layout", "load_dataset", "sample_root"]
