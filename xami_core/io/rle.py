"""Check COCO run-length encodings before pycocotools sees them.

pycocotools trusts its input: negative, overflowing or malformed run lengths raise from
inside its C code or decode to garbage. Every RLE that enters the product is checked here
first, with the run lengths decoded in numpy (no per-run Python loop).
"""

from __future__ import annotations

import numpy as np

# One run length in the compressed form is at most this many characters (5 bits each):
# 7 characters hold 35 bits, more than any frame's pixel count (at most `limits.MAX_IMAGE_SIDE` squared).
MAX_CHARS_PER_RUN = 7
_FIRST_CHAR, _LAST_CHAR = 48, 48 + 63


def decode_counts_string(counts: str | bytes) -> np.ndarray | str:
    """Run lengths of a compressed COCO RLE `counts` string, or why it is not one.

    The format is pycocotools' `rleToString` (maskApi.c): each run is a little-endian base-32
    number, 5 bits a character offset by 48, bit 0x20 meaning "more characters follow" and
    bit 0x10 of the last character the sign; from the third run on, each value is stored as
    its difference from the run two before.

    Returns:
        int64 array of shape (n_runs,), or a message (str) saying what is wrong.
    """
    if isinstance(counts, str) and not counts.isascii():
        return "characters outside '0'..'o' (non-ASCII text)"
    raw = counts.encode("ascii") if isinstance(counts, str) else bytes(counts)
    if not raw:
        return np.zeros(0, dtype=np.int64)
    c = np.frombuffer(raw, dtype=np.uint8).astype(np.int64)
    if c.min() < _FIRST_CHAR or c.max() > _LAST_CHAR:
        return f"characters outside '0'..'o' (codes {_FIRST_CHAR}..{_LAST_CHAR})"
    c -= _FIRST_CHAR
    ends = (c & 0x20) == 0
    if not ends[-1]:
        return "the last run is cut off (its final character says more follow)"
    run_of_char = np.concatenate(([0], np.cumsum(ends)[:-1]))
    starts = np.flatnonzero(np.concatenate(([True], ends[:-1])))
    k = np.arange(len(c)) - starts[run_of_char]
    if k.max() >= MAX_CHARS_PER_RUN:
        return f"a run longer than {MAX_CHARS_PER_RUN} characters (it would overflow)"
    values = np.add.reduceat((c & 0x1F) << (5 * k), starts)
    last = c[ends]
    n_chars = np.diff(np.concatenate((starts, [len(c)])))
    values = np.where(last & 0x10, values - (np.int64(1) << (5 * n_chars)), values)
    out = values.copy()
    out[1::2] = np.cumsum(values[1::2])
    out[2::2] = np.cumsum(values[2::2])
    return out


def rle_problem(rle: dict, height: int, width: int) -> str | None:
    """Why `rle` is not a valid COCO RLE of a `height` x `width` mask, or None when it is.

    Checks `size` against the frame, the run lengths' types (integers, or a compressed
    string), that none is negative, and that they add up to height x width pixels.
    """
    size, counts = rle.get("size"), rle.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(type(v) is int for v in size)):
        return f"expected RLE 'size' [height, width] of two integers, found {size!r}"[:160]
    if size != [height, width]:
        return f"RLE size {size} does not match the image's size [{height}, {width}]"
    if isinstance(counts, str):
        runs = decode_counts_string(counts)
        if isinstance(runs, str):
            return f"RLE counts string is not valid: {runs}"
    elif isinstance(counts, list):
        if len(counts) > height * width + 1:
            return f"expected at most {height * width + 1} run lengths, found {len(counts)}"
        if not set(map(type, counts)) <= {int}:
            kinds = sorted({type(v).__name__ for v in counts} - {"int"})
            return f"expected integer run lengths, found {', '.join(kinds)} values"
        try:
            runs = np.array(counts, dtype=np.int64)
        except OverflowError:
            return "a run length does not fit in 64 bits"
    else:
        return f"expected RLE 'counts' as a list of integers or a string, found {type(counts).__name__}"
    if len(runs) and runs.min() < 0:
        return f"negative run length {int(runs.min())}"
    if len(runs) and runs.max() > height * width:
        return f"run length {int(runs.max())} is longer than the frame ({height * width} pixels)"
    total = int(runs.sum()) if len(runs) else 0
    if total != height * width:
        return f"run lengths add up to {total} pixels, expected {height} x {width} = {height * width}"
    return None
