"""Where loaded data came from, whether it is XAMI, and which terms the pages show for it.

XAMI's licence (CC BY-NC 3.0 IGO), citation and dataset URL are shown only for data
recognised as XAMI. The rule (`recognise_xami`):

1. data fetched from the published archives on the Hugging Face Hub (source
   `hub.HUB_SOURCE`) is XAMI: the app downloaded it from the authors' repository; or
2. the files look like a XAMI export on two independent counts: their class names are
   exactly the five XAMI classes (the unused Roboflow parent `artefacts` may be there too),
   and every image's file name starts with a XAMI observation key ("S" + 10-digit ObsID +
   "_" + filter letter). A subset of XAMI (a fold, a split, a filtered copy) keeps both
   and stays recognised; another dataset that happens to use the same five names is not,
   unless it also names its files after XMM-Newton observations.

Anything else shows the terms the files themselves carry: the licence from their COCO
`licenses` blocks (names and URLs, deduplicated across splits) and a description from
their `info` blocks (description, contributor, year, URL), or "not stated" when they carry
none (a YOLO export never does). Matching the published counts is a stronger signal still,
but it needs the built dataset; the Overview runs that check for recognised data only.

Generated data is never XAMI: the bundled sample is loaded as synthetic, and so are files whose
COCO `info` block says `"synthetic": true` (`SYNTHETIC_KEY`; the gallery's subset export writes it
for a selection of the sample), so a subset of the sample handed on stays labelled synthetic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from xami_core.io.coco import SplitRecords
from xami_core.io.hub import HUB_SOURCE
from xami_core.io.image_files import base_name  # the label of data downloaded from the published archives
from xami_core.io.tables import OBS_PATTERN
from xami_core.model import CLASS_NAMES, PARENT_CATEGORY, XAMI_CITATION, XAMI_LICENCE, XAMI_URL, Provenance

NOT_STATED = "not stated"
SYNTHETIC_LICENCE = "synthetic, free to use"
SYNTHETIC_KEY = "synthetic"  # `"synthetic": true` in a COCO file's info block: generated data, not real
MAX_TERM_CHARS = 300  # a field of the files' own info/licenses shown at most this long
_OBS_RE = re.compile(OBS_PATTERN)


def _text(value: Any) -> str:
    """A scalar of an info/licenses block as one line of text ('' for lists, objects, null)."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        return ""
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_TERM_CHARS else text[:MAX_TERM_CHARS - 1] + "…"


def _web_url(value: Any) -> str:
    """An http(s) URL, or ''."""
    text = _text(value)
    return text if re.match(r"^https?://\S+$", text) else ""


def recognise_xami(parts: Sequence[SplitRecords], source: str) -> tuple[bool, str]:
    """(recognised, why) for the records of a dataset, by the rule in this module's docstring."""
    if source == HUB_SOURCE:
        return True, "downloaded from the published XAMI archives on the Hugging Face Hub"
    # Roboflow's parent category (XAMI's `artefacts`, "none" above it) is no class.
    cats = [c for r in parts for c in r.categories]
    names = {c["name"] for c in cats} - {c.get("supercategory") for c in cats} - {PARENT_CATEGORY}
    files = [base_name(str(im.get("file_name", ""))) for r in parts for im in r.images]
    match = _OBS_RE.match
    off_pattern = sum(match(f) is None for f in files)
    if names != set(CLASS_NAMES):
        extra, missing = sorted(names - set(CLASS_NAMES)), sorted(set(CLASS_NAMES) - names)
        listing = f"{', '.join(extra[:5])}{'…' if len(extra) > 5 else ''}"
        if not names & set(CLASS_NAMES):
            return False, f"its {len(names)} classes ({listing}) are not XAMI's"
        detail = "; ".join(filter(None, [f"classes not in XAMI: {listing}" if extra else "",
                                         f"XAMI classes missing: {', '.join(missing)}" if missing else ""]))
        return False, f"its classes are not XAMI's five ({detail})"
    if not files:
        return False, "it holds no image records to check against XAMI's observation file names"
    if off_pattern:
        return False, (f"{off_pattern:,} of {len(files):,} file names do not start with a XAMI observation key "
                       "('S' + 10-digit ObsID + '_' + filter letter)")
    n = len(files)
    return True, f"XAMI's five classes, and {'all ' if n > 1 else ''}{n:,} file name{'s' if n > 1 else ''} in XAMI's observation naming"


def licence_from_files(licenses: Iterable[dict[str, Any]]) -> str:
    """The licences the files' `licenses` blocks name ("CC BY 4.0 (https://…)"), deduplicated, or "not stated"."""
    seen: dict[str, None] = {}
    for lic in licenses:
        if not isinstance(lic, dict):
            continue
        name, url = _text(lic.get("name")), _web_url(lic.get("url"))
        text = f"{name} ({url})" if name and url else name or url
        if text:
            seen.setdefault(text, None)
    return "; ".join(seen) if seen else NOT_STATED


def description_from_files(infos: Iterable[dict[str, Any]]) -> tuple[str, str]:
    """(description, url) from the files' `info` blocks: description · contributor · year · url, deduplicated.

    Returns ("not stated", "") when no block says any of these.
    """
    seen: dict[str, None] = {}
    first_url = ""
    for info in infos:
        if not isinstance(info, dict):
            continue
        url = _web_url(info.get("url"))
        first_url = first_url or url
        contributor = _text(info.get("contributor"))
        fields = [_text(info.get("description")), f"contributor {contributor}" if contributor else "",
                  _text(info.get("year")), url]
        text = " · ".join(f for f in fields if f)
        if text:
            seen.setdefault(text, None)
    return (" | ".join(seen) if seen else NOT_STATED), first_url


def marked_synthetic(infos: Iterable[Any]) -> bool:
    """Whether any of the files' `info` blocks marks the data as generated (`"synthetic": true`, the JSON boolean)."""
    return any(isinstance(info, dict) and info.get(SYNTHETIC_KEY) is True for info in infos)


def make_provenance(parts: Sequence[SplitRecords], *, source: str, path: str, layout: str,
                    synthetic: bool = False) -> Provenance:
    """The `Provenance` of loaded records: XAMI's terms when recognised as XAMI, else the files' own.

    The data is synthetic when the caller says so (the bundled sample) or when a split's `info`
    block marks it so (`marked_synthetic`: a subset exported from the sample).
    """
    description, info_url = description_from_files(r.info for r in parts)
    if synthetic:
        return Provenance(source=source, path=path, layout=layout, synthetic=True, licence=SYNTHETIC_LICENCE,
                          citation=XAMI_CITATION, url="", recognised_xami=False,
                          recognition="generated sample modelled on XAMI, not real data", description=description)
    if marked_synthetic(r.info for r in parts):
        # Files the app did not make itself: their own terms, and XAMI's never.
        return Provenance(source=source, path=path, layout=layout, synthetic=True,
                          licence=licence_from_files(lic for r in parts for lic in r.licenses), citation=description,
                          url=info_url, recognised_xami=False, description=description,
                          recognition=f"its COCO info marks it generated (\"{SYNTHETIC_KEY}\": true), not real data")
    recognised, why = recognise_xami(parts, source)
    if recognised:
        return Provenance(source=source, path=path, layout=layout, synthetic=False, licence=XAMI_LICENCE,
                          citation=XAMI_CITATION, url=XAMI_URL, recognised_xami=True, recognition=why,
                          description=description)
    return Provenance(source=source, path=path, layout=layout, synthetic=False,
                      licence=licence_from_files(lic for r in parts for lic in r.licenses),
                      citation=description, url=info_url, recognised_xami=False, recognition=why,
                      description=description)
