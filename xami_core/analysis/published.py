"""The numbers the XAMI authors published, and a check of a loaded dataset against them."""

from __future__ import annotations

import pandas as pd

from xami_core.model import Dataset, filter_keys, filter_name, filter_order

# The published split (xami_dataset): images and annotations per split.
PUBLISHED_SPLITS: dict[str, tuple[int, int]] = {"train": (791, 5298), "valid": (264, 1723)}
PUBLISHED_TOTAL: tuple[int, int] = (1055, 7021)
# Annotations per class: (train, valid).
PUBLISHED_CLASSES: dict[str, tuple[int, int]] = {
    "central-ring": (500, 168),
    "other": (32, 9),
    "read-out-streak": (2122, 677),
    "smoke-ring": (1267, 402),
    "star-loop": (1377, 467),
}
# Images and annotations per filter letter, both splits together.
PUBLISHED_FILTER_IMAGES: dict[str, int] = {"V": 102, "B": 116, "U": 193, "L": 403, "M": 175, "S": 63, "W": 3}
PUBLISHED_FILTER_ANNOTATIONS: dict[str, int] = {"V": 880, "B": 1259, "U": 1837, "L": 2127, "M": 681, "S": 226, "W": 11}


def published_comparison(ds: Dataset) -> pd.DataFrame:
    """Each published number beside the loaded dataset's; splits are compared only where present.

    Columns: quantity (text), published and found (int counts), difference (int, found minus
    published), match (bool). A dataset without train/valid splits (the no_splits variant) is
    compared on totals, classes and filters only.
    """
    img, ann = ds.images, ds.annotations
    rows: list[tuple[str, int, int]] = []
    splits = set(ds.splits)
    per_split = splits >= set(PUBLISHED_SPLITS)
    if per_split:
        for split, (n_img, n_ann) in PUBLISHED_SPLITS.items():
            rows.append((f"{split} images", n_img, int((img["split"] == split).sum())))
            rows.append((f"{split} annotations", n_ann, int((ann["split"] == split).sum())))
    rows.append(("all images", PUBLISHED_TOTAL[0], len(img)))
    rows.append(("all annotations", PUBLISHED_TOTAL[1], len(ann)))
    by_class = ann.groupby(["class_name", "split"]).size()
    total_by_class = ann.groupby("class_name").size()
    # A class the authors did not publish is compared too, with published counts of 0.
    extra_classes = {name: (0, 0) for name in ds.class_names if name not in PUBLISHED_CLASSES}
    for name, (n_train, n_valid) in (PUBLISHED_CLASSES | extra_classes).items():
        if per_split:
            rows.append((f"{name} annotations, train", n_train, int(by_class.get((name, "train"), 0))))
            rows.append((f"{name} annotations, valid", n_valid, int(by_class.get((name, "valid"), 0))))
        else:
            rows.append((f"{name} annotations", n_train + n_valid, int(total_by_class.get(name, 0))))
    # Every filter key found is compared: one the authors did not publish (an unknown letter,
    # a name without an observation key) has a published count of 0.
    keys = filter_keys(img["filter_letter"])
    images_by_filter = keys.groupby(keys).size()
    anns_by_filter = img.groupby(keys)["n_annotations"].sum()
    extra = [f for f in filter_order(keys) if f not in PUBLISHED_FILTER_IMAGES]
    for letter in [*PUBLISHED_FILTER_IMAGES, *extra]:
        rows.append((f"{filter_name(letter)} images", PUBLISHED_FILTER_IMAGES.get(letter, 0), int(images_by_filter.get(letter, 0))))
    for letter in [*PUBLISHED_FILTER_ANNOTATIONS, *extra]:
        rows.append((f"{filter_name(letter)} annotations", PUBLISHED_FILTER_ANNOTATIONS.get(letter, 0),
                     int(anns_by_filter.get(letter, 0))))
    out = pd.DataFrame(rows, columns=["quantity", "published", "found"]).astype({"published": "int64", "found": "int64"})
    out["difference"] = out["found"] - out["published"]
    out["match"] = out["difference"] == 0
    return out


def difference_text(row: pd.Series) -> str:
    """One row of `published_comparison` in words: "train images: 790 found, 791 published (−1)"."""
    diff = int(row["difference"])
    sign = "+" if diff > 0 else "−" if diff < 0 else "±"
    return f"{row['quantity']}: {int(row['found']):,} found, {int(row['published']):,} published ({sign}{abs(diff):,})"


def differences_text(table: pd.DataFrame, most: int = 4) -> str:
    """The mismatches of `published_comparison` in words, the largest first, at most `most` of them named."""
    off = table[~table["match"]]
    off = off.iloc[(-off["difference"].abs()).argsort(kind="stable")]  # ties keep the table's order
    named = "; ".join(difference_text(row) for _, row in off.head(most).iterrows())
    more = len(off) - most
    return named + (f"; and {more} more" if more > 0 else "")
