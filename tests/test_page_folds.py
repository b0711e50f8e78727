"""The Fold balance page as users see it: in AppTest (numbers against sklearn run here on the
sample's COCO files) and in a real browser (charts drawn, widgets changed, an export downloaded)."""

from __future__ import annotations

import base64
import functools
import io
import json
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import plotly.graph_objects as go
import pytest
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold
from scipy.stats import chi2 as chi2_dist
from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold

from tests import builders as b
from tests.apptest import page_test, switch_page, texts
from xami_core.analysis import folds as F
from xami_core.cli import main as cli_main
from xami_core.io import fold_files
from xami_core.io.metadata import SYNTHETIC_OBS_INFO_FILE

PAGE = "pages/folds.py"
F_METHOD, F_K, F_SEED = "fold_method", "fold_k", "fold_seed"  # widget keys, also the query parameters
F_GROUP, F_RADIUS = "fold_group", "fold_radius"
SKY = {F_GROUP: "sky neighbours"}  # the link holds the grouping as the control shows it
LINK = F.METHOD_LABELS  # a bound selectbox puts the option as shown in the link ("K-fold")
CLASS_IDS = (1, 2, 3, 4, 5)
FILTER_NAMES = {"V": "V", "B": "B", "U": "U", "L": "UVW1", "M": "UVM2", "S": "UVW2", "W": "White"}  # by wavelength


# --- an independent computation from the sample's COCO files ----------------------------------


@functools.cache
def sample_rows() -> tuple[list[dict], list[str]]:
    """Per image, pooled train then valid in JSON order: file name, split, category ids of its
    annotations, the authors' label string, the filter letter; and the class names by id.
    Read once, on first use: collecting the tests must not build the sample."""
    from xami_core import sample_root

    rows, names = [], {}
    for split in ("train", "valid"):
        data = json.loads((sample_root() / split / "_annotations.coco.json").read_text())
        names.update({c["id"]: c["name"] for c in data["categories"] if c["id"] in CLASS_IDS})
        per_image = defaultdict(list)
        for ann in data["annotations"]:
            per_image[ann["image_id"]].append(ann["category_id"])
        for im in data["images"]:
            cats = per_image[im["id"]]
            rows.append({"name": im["file_name"], "split": split, "cats": cats,
                         "label": "".join(sorted({str(c) for c in cats})), "filter": im["file_name"][12]})
    return rows, [names[c] for c in CLASS_IDS]


def expected_folds(method: str, k: int = 4, seed: int = 42, fields: list | None = None
                   ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, valid) row positions per fold, from sklearn / iterstrat called directly ("stratified-group":
    StratifiedGroupKFold with `fields` as groups)."""
    rows, _ = sample_rows()
    if method == "published":
        parts = [np.array([i for i, r in enumerate(rows) if r["split"] == p]) for p in ("train", "valid")]
        return [(parts[0], parts[1])]
    x = np.arange(len(rows)).reshape(-1, 1)
    labels = np.array([r["label"] for r in rows])
    if method == "stratified":
        splits = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(x, labels)
    elif method == "kfold":
        splits = KFold(n_splits=k, shuffle=True, random_state=seed).split(x, labels)
    elif method == "stratified-group":
        splits = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(x, labels, fields)
    else:
        y = np.array([[c in r["cats"] for c in CLASS_IDS] for r in rows], dtype=int)
        splits = MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(x, y)
    return [(np.asarray(tr), np.asarray(va)) for tr, va in splits]


def expected_balance(folds: list[tuple[np.ndarray, np.ndarray]], measure: str = "images") -> list[dict]:
    """Per fold: sizes, class counts and shares per part, the authors' mean |d| (keys '0'..'5'),
    the largest |d| and its class, and a chi-square p computed by hand."""
    rows, classes = sample_rows()
    out = []
    for tr, va in folds:
        counts, shares = {}, {}
        for part, idx in (("train", tr), ("valid", va)):
            c = Counter()
            for i in idx:
                c.update(set(rows[i]["cats"]) if measure == "images" else rows[i]["cats"])
            total = sum(c.values())
            counts[part] = [c[cid] for cid in CLASS_IDS]
            shares[part] = [c[cid] / total for cid in CLASS_IDS]
        diffs = [abs(a - b) for a, b in zip(shares["train"], shares["valid"])]
        used = [j for j in range(len(CLASS_IDS)) if counts["train"][j] + counts["valid"][j]]
        table = np.array([[counts[p][j] for j in used] for p in ("train", "valid")], dtype=float)
        expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
        chi2 = float(((table - expected) ** 2 / expected).sum())
        out.append({"train": len(tr), "valid": len(va), "counts": counts, "shares": shares,
                    "authors": sum(diffs) / 6,  # their six keys '0'..'5'; '0' is never used
                    "max": max(diffs), "max_class": classes[int(np.argmax(diffs))],
                    "p": float(chi2_dist.sf(chi2, len(used) - 1))})
    return out


def expected_metrics(bal: list[dict], leak: list[dict]) -> dict[str, str]:
    """The five headline numbers as the page should print them."""
    valid = [b["valid"] for b in bal]
    return {
        "Valid images per fold": f"{min(valid)}" if min(valid) == max(valid) else f"{min(valid)}–{max(valid)}",
        "Mean |train − valid| share (authors)": f"{np.mean([b['authors'] for b in bal]) * 100:.2f} pp",
        "Largest class difference": f"{max(b['max'] for b in bal) * 100:.2f} pp",
        "Smallest chi-square p": f"{min(b['p'] for b in bal):.3f}",
        "Leaking valid frames": f"{sum(x['valid_leaking'] for x in leak) / sum(valid):.1%}",
    }


# --- field groups and leakage, computed here from file names and the sample's metadata file -------------


def obsid_fields() -> list[str]:
    """Per row of `sample_rows`: its field by ObsID (characters 2-11 of the file name)."""
    return [r["name"][1:11] for r in sample_rows()[0]]


def separation_arcmin(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle separation (haversine), degrees in, arcmin out."""
    p1, p2, dl = np.radians(dec1), np.radians(dec2), np.radians(ra2 - ra1)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return float(np.degrees(2 * np.arcsin(np.sqrt(min(h, 1.0)))) * 60)


@functools.cache
def sky_fields(radius: float = 17.0) -> list[int]:
    """Per row of `sample_rows`: its sky field, numbered by first appearance: rows of one ObsID, or with
    pointings (the sample's metadata file) within `radius` arcmin, joined transitively (union-find)."""
    from xami_core.io.sample import sample_dir

    rows, _ = sample_rows()
    info = json.loads((sample_dir() / SYNTHETIC_OBS_INFO_FILE).read_text())
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    obsid = obsid_fields()
    pointing = [info.get(r["name"][:13] + ".fits") for r in rows]
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            near = (pointing[i] and pointing[j] and separation_arcmin(pointing[i]["RA"], pointing[i]["DEC"],
                                                                      pointing[j]["RA"], pointing[j]["DEC"]) <= radius)
            if obsid[i] == obsid[j] or near:
                parent[root(i)] = root(j)
    numbers: dict[int, int] = {}
    return [numbers.setdefault(root(i), len(numbers)) for i in range(len(rows))]


def expected_leakage(folds: list[tuple[np.ndarray, np.ndarray]], fields: list) -> list[dict]:
    """Per fold: frames, leaking groups, frames of leaking groups per part, share of valid leaking."""
    out = []
    for tr, va in folds:
        in_train, in_valid = {fields[i] for i in tr}, {fields[i] for i in va}
        both = in_train & in_valid
        leaking = sum(fields[i] in both for i in va)
        out.append({"train": len(tr), "valid": len(va), "train_groups": len(in_train), "valid_groups": len(in_valid),
                    "groups": len(both), "train_leaking": sum(fields[i] in both for i in tr), "valid_leaking": leaking,
                    "share": leaking / len(va)})
    return out


def display_values(at, column: str):
    """The cells of the shown table with `column`, as the page formats them (its Styler's display values)."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    for df in at.dataframe:
        if column in df.value.columns:
            return convert_arrow_bytes_to_pandas_df(df.proto.arrow_data.styler.display_values)
    raise AssertionError(f"no table with {column!r}")


def verdict(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith(("**Balanced", "**Not balanced", "**Balance")))


def assert_leakage_shows(at, folds: list[tuple[np.ndarray, np.ndarray]], bal: list[dict], fields: list,
                         grouping: str) -> None:
    """The leakage table's cells (formatted as shown), the verdict and the leaking-groups count."""
    leak = expected_leakage(folds, fields)
    table = frame_with(at, "valid share leaking")
    shown = display_values(at, "valid share leaking")
    assert list(table["fold"]) == (["published"] if len(folds) == 1 else [str(f) for f in range(len(folds))])
    assert list(table["train frames"]) == [x["train"] for x in leak]
    assert list(table["valid frames"]) == [x["valid"] for x in leak]
    assert list(table["fields in train"]) == [x["train_groups"] for x in leak]
    assert list(table["leaking groups"]) == [x["groups"] for x in leak]
    assert list(table["train frames of leaking groups"]) == [x["train_leaking"] for x in leak]
    assert list(table["valid frames leaking"]) == [x["valid_leaking"] for x in leak]
    assert list(shown.iloc[:, -1]) == [f"{x['share'] * 100:.1f}%" for x in leak]
    assert f"Leaking groups ({sum(x['groups'] for x in leak)})" in texts(at)

    text = verdict(at)
    worst = max(b["authors"] for b in bal)
    n_valid, n_leaking = sum(x["valid"] for x in leak), sum(x["valid_leaking"] for x in leak)
    balanced = worst * 100 <= 1.0
    assert text.startswith("**Balanced" if balanced else "**Not balanced")
    assert (f"at most {worst * 100:.2f} pp" if balanced else f"reaches {worst * 100:.2f} pp") in text
    assert ("within the 1 pp limit" if balanced else "above the 1 pp limit") in text
    if n_leaking:
        assert "leaking.**" in text
        assert f"{n_leaking} of {n_valid} valid frames ({n_leaking / n_valid:.1%}) share a field ({grouping})" in text
    else:
        assert ", no leakage.**" in text and f"no valid frame shares a field ({grouping}) with train" in text


# --- reading the page ------------------------------------------------------------------------


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frame_with(at, column: str):
    """The shown table that has `column` (in its columns or as its index name)."""
    for df in at.dataframe:
        v = df.value
        if column in v.columns or v.index.name == column:
            return v
    raise AssertionError(f"no table with {column!r}")


def _decode(obj):
    """Plotly's typed arrays ({"dtype", "bdata", "shape"}) back to numpy, recursively."""
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"]))
            shape = obj.get("shape")
            return arr.reshape([int(n) for n in str(shape).split(",")]) if shape else arr
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def figures(at) -> list[go.Figure]:
    """The plotly figures of the page, decoded from what was sent to the browser."""
    return [go.Figure(_decode(json.loads(c.proto.spec))) for c in at.get("plotly_chart")]


def class_figure(at):
    return next(f for f in figures(at) if "share of the part" in (f.layout.yaxis.title.text or "")
                or f.layout.yaxis.title.text in ("images containing the class", "annotations"))


def comparison_figure(at):
    return next(f for f in figures(at) if any(t.name == "K-fold" for t in f.data))


def assert_page_shows(at, method: str, k: int, seed: int, measure: str = "images", value: str = "share",
                      fields: list | None = None, grouping: str = "same ObsID") -> None:
    """Every number the page shows for these folds equals the independent computation (leakage against
    `fields`, by default by ObsID)."""
    rows, classes = sample_rows()
    fields = obsid_fields() if fields is None else fields
    folds = expected_folds(method, k, seed, fields)
    bal = expected_balance(folds, measure)
    assert metrics(at) == expected_metrics(bal, expected_leakage(folds, fields))
    assert_leakage_shows(at, folds, bal, fields, grouping)

    table = frame_with(at, "mean |Δ| (authors)")
    assert list(table["fold"]) == list(range(len(folds)))
    assert list(table["train images"]) == [b["train"] for b in bal]
    assert list(table["valid images"]) == [b["valid"] for b in bal]
    assert table["mean |Δ| (authors)"].to_numpy() == pytest.approx([b["authors"] for b in bal], abs=1e-12)
    assert table["max |Δ|"].to_numpy() == pytest.approx([b["max"] for b in bal], abs=1e-12)
    assert list(table["class of max"]) == [b["max_class"] for b in bal]
    assert table["p"].to_numpy() == pytest.approx([b["p"] for b in bal], rel=1e-9)

    # Small multiples: per fold a train and a valid trace; panel titles carry the fold's mean |d|.
    fig = class_figure(at)
    bars = [t for t in fig.data if t.showlegend is False]
    assert len(bars) == 2 * len(folds)
    for f, fold_balance in enumerate(bal):
        for j, part in enumerate(("train", "valid")):
            want = fold_balance["shares"][part] if value == "share" else fold_balance["counts"][part]
            assert list(bars[2 * f + j].x) == classes
            assert np.asarray(bars[2 * f + j].y, float) == pytest.approx(want, abs=1e-12)
    titles = [a.text for a in fig.layout.annotations]
    name = (lambda f: "published split") if method == "published" else (lambda f: f"fold {f}")
    assert titles == [f"{name(f)} · mean |Δ| {b['authors'] * 100:.2f} pp" for f, b in enumerate(bal)]

    # Hard negatives and filters per fold and part.
    empty = frame_with(at, "without artefacts")
    for f, (tr, va) in enumerate(folds):
        for part, idx in (("train", tr), ("valid", va)):
            row = empty[(empty["fold"] == f) & (empty["part"] == part)].iloc[0]
            assert row["images"] == len(idx)
            assert row["without artefacts"] == sum(not rows[i]["cats"] for i in idx)
    filters = frame_with(at, "filter")
    present = {r["filter"] for r in rows}
    assert list(filters.index) == [FILTER_NAMES[x] for x in FILTER_NAMES if x in present]  # by wavelength
    for f, (tr, va) in enumerate(folds):
        for part, idx in (("train", tr), ("valid", va)):
            got = filters[f"published {part}" if method == "published" else f"fold {f} {part}"]
            want = Counter(FILTER_NAMES[rows[i]["filter"]] for i in idx)
            assert {n: int(v) for n, v in got.items() if v} == dict(want)


def rare_expected(k: int) -> dict[str, int]:
    counts = Counter(r["label"] for r in sample_rows()[0])
    return {lab: n for lab, n in counts.items() if n < k}


# --- AppTest ---------------------------------------------------------------------------------


def test_default_view_is_the_authors_folds():
    at = page_test(PAGE)
    assert at.selectbox(key=F_METHOD).value == "stratified"
    assert (at.number_input(key=F_K).value, at.number_input(key=F_SEED).value) == (4, 42)
    assert "stratified K-fold (authors), k = 4, seed = 42" in texts(at)
    assert_page_shows(at, "stratified", 4, 42)

    # The authors' comparison, computed live: K-fold and stratified bars per fold.
    fig = comparison_figure(at)
    assert [t.name for t in fig.data] == ["K-fold", "stratified K-fold (authors)"]
    for trace, method in zip(fig.data, ("kfold", "stratified")):
        want = [b["authors"] * 100 for b in expected_balance(expected_folds(method))]
        assert np.asarray(trace.y, float) == pytest.approx(want, abs=1e-10)

    # Rare label strings: the sklearn warning is shown, and the table lists them with counts.
    rare = frame_with(at, "strat_label")
    assert dict(zip(rare["strat_label"], rare["images"])) == rare_expected(4)
    assert f"Rare label combinations ({len(rare_expected(4))})" in texts(at)
    assert any("least populated class" in w.value for w in at.warning)


# Widget changes applied one after another; each must change the numbers and the widgets bound to
# the link (the browser writes a bound widget's value into the link; test_folds_in_chromium sees it).
CHANGES = [
    ("method", "kfold", ("kfold", 4, 42)),  # the authors' baseline
    ("k", 6, ("kfold", 6, 42)),  # more folds
    ("seed", 3, ("kfold", 6, 3)),  # another shuffle
    ("method", "stratified", ("stratified", 6, 3)),  # back to stratification, same k and seed
    ("method", "multilabel", ("multilabel", 6, 3)),  # iterative stratification
]


def test_changing_method_k_and_seed_changes_the_numbers():
    at = page_test(PAGE)
    before = frame_with(at, "mean |Δ| (authors)")["mean |Δ| (authors)"].to_numpy()
    for widget, value, (method, k, seed) in CHANGES:
        if widget == "method":
            at.selectbox(key=F_METHOD).set_value(value).run()
        else:
            at.number_input(key=F_K if widget == "k" else F_SEED).set_value(value).run()
        assert not at.exception, [e.value for e in at.exception]
        assert_page_shows(at, method, k, seed)
        after = frame_with(at, "mean |Δ| (authors)")["mean |Δ| (authors)"].to_numpy()
        assert len(after) != len(before) or not np.allclose(after, before)  # the change is visible
        before = after
        assert (at.selectbox(key=F_METHOD).value, at.number_input(key=F_K).value,
                at.number_input(key=F_SEED).value) == (method, k, seed)
    # With multilabel chosen, its bars join the authors' comparison.
    fig = comparison_figure(at)
    assert [t.name for t in fig.data] == ["K-fold", "stratified K-fold (authors)", "multilabel stratified K-fold"]
    want = [b["authors"] * 100 for b in expected_balance(expected_folds("multilabel", 6, 3))]
    assert np.asarray(fig.data[2].y, float) == pytest.approx(want, abs=1e-10)


def test_the_view_survives_a_visit_to_another_page():
    # Streamlit drops the state of widgets a run does not draw, and the browser's link loses the
    # fold parameters on the other page: the page must still come back as the user left it.
    at = page_test(PAGE)
    at.selectbox(key=F_METHOD).set_value("kfold").run()
    at.number_input(key=F_K).set_value(6).run()
    switch_page(at, "pages/overview.py").run()
    assert not at.exception
    for name in [n for n in at.query_params if n.startswith("fold_")]:
        del at.query_params[name]
    switch_page(at, PAGE).run()
    assert at.selectbox(key=F_METHOD).value == "kfold" and at.number_input(key=F_K).value == 6
    assert_page_shows(at, "kfold", 6, 42)
    assert (at.query_params[F_METHOD], at.query_params[F_K]) == (LINK["kfold"], "6")  # the link has them again


@pytest.mark.parametrize(("query", "shown"), [
    # a shared link: K-fold, k 3, seed 7, annotations as counts
    ({F_METHOD: LINK["kfold"], F_K: "3", F_SEED: "7", "fold_measure": "annotations", "fold_value": "count"},
     ("kfold", 3, 7, "annotations", "count")),
    # the published split as one fold
    ({F_METHOD: LINK["published"]}, ("published", 4, 42, "images", "share")),
    # the authors' folds with annotation shares
    ({"fold_measure": "annotations"}, ("stratified", 4, 42, "annotations", "share")),
    # nonsense in the link falls back to the authors' settings
    ({F_METHOD: "random", F_K: "99", F_SEED: "-5", "fold_measure": "pixels"}, ("stratified", 4, 42, "images", "share")),
])
def test_query_params_round_trip(query, shown):
    method, k, seed, measure, value = shown
    at = page_test(PAGE, query=query)
    assert at.selectbox(key=F_METHOD).value == method
    assert (at.number_input(key=F_K).value, at.number_input(key=F_SEED).value) == (k, seed)
    # The link keeps what differs from the authors' view, and drops what it cannot hold.
    shown_in_link = {F_METHOD: LINK[method], F_K: str(k), F_SEED: str(seed), "fold_measure": measure, "fold_value": value}
    default = {F_METHOD: LINK["stratified"], F_K: "4", F_SEED: "42", "fold_measure": "images", "fold_value": "share"}
    want = {key: v for key, v in shown_in_link.items() if v != default[key]}
    assert {key: v for key, v in at.query_params.items() if key.startswith("fold_")} == want
    assert_page_shows(at, method, k, seed, measure, value)


def write_with_page_export(out: Path, method: str, k: int, seed: int) -> None:
    """What the page's "mskf_k.csv files (zip)" button holds, unpacked into a folder."""
    from xami_core import load_dataset, sample_root

    ds = load_dataset(sample_root())
    with zipfile.ZipFile(io.BytesIO(fold_files.fold_csvs_zip(ds, F.make_folds(ds, method, k, seed)))) as zf:
        zf.extractall(out)


def write_with_command(out: Path, method: str, k: int, seed: int) -> None:
    """`python -m xami_core folds ...`, the cluster way."""
    from xami_core import sample_root

    assert cli_main(["folds", "--data", str(sample_root()), "--method", method, "--k", str(k), "--seed", str(seed),
                     "--out", str(out)]) == 0


@pytest.mark.parametrize(("writer", "method", "k", "seed"), [
    (write_with_page_export, "kfold", 3, 5),  # the page's own export, read back
    (write_with_command, "multilabel", 5, 2),  # the command's files, read back
])
def test_fold_files_mode_reads_exported_csvs(tmp_path, writer, method, k, seed):
    writer(tmp_path, method, k, seed)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"mskf_{i}.csv" for i in range(k)]
    at = page_test(PAGE, query={F_METHOD: LINK["files"], "fold_dir": str(tmp_path)})
    assert at.text_input(key="fold_dir").value == str(tmp_path)
    assert f"fold files: {k} folds from {tmp_path}" in texts(at)
    assert not any("Fold file problems" in e.label for e in at.expander)
    assert_page_shows(at, method, k, seed)
    assert at.query_params["fold_dir"] == str(tmp_path)


def test_fold_files_with_a_bad_row_and_an_empty_folder(tmp_path):
    write_with_page_export(tmp_path / "folds", "stratified", 4, 42)
    path = tmp_path / "folds" / "mskf_2.csv"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ",test"  # a SPLIT the authors never wrote
    path.write_text("\n".join(lines) + "\n")
    at = page_test(PAGE, query={F_METHOD: LINK["files"], "fold_dir": str(tmp_path / "folds")})
    assert any(e.label == "Fold file problems (2)" for e in at.expander)  # the bad row; the image it leaves out
    problems = frame_with(at, "record")
    assert "row 2" in set(problems["record"])
    assert metrics(at)["Valid images per fold"] == "40"

    (tmp_path / "empty").mkdir()
    at = page_test(PAGE, query={F_METHOD: LINK["files"], "fold_dir": str(tmp_path / "empty")})
    assert any("no fold files found" in e.value for e in at.error)
    assert not at.metric


def test_sky_groups_show_their_leakage_and_each_group_opens_the_gallery(sample_ds):
    at = page_test(PAGE, query=SKY)
    assert at.segmented_control(key=F_GROUP).value == "sky" and at.number_input(key=F_RADIUS).value == 17.0
    assert "Field groups (sky neighbours within 17 arcmin)" in texts(at)
    assert "Every frame with an ObsID has a pointing." in texts(at)  # the sample's metadata covers every frame
    assert_page_shows(at, "stratified", 4, 42, fields=sky_fields(), grouping="sky neighbours within 17 arcmin")

    # One row per fold and leaking group, with the group's ObsIDs; each link searches the gallery for all of them.
    rows, fields, obsid = sample_rows()[0], sky_fields(), obsid_fields()
    want = []
    for f, (tr, va) in enumerate(expected_folds("stratified")):
        for g in {fields[i] for i in tr} & {fields[i] for i in va}:
            want.append((str(f), ", ".join(sorted({obsid[i] for i in range(len(rows)) if fields[i] == g}))))
    listed = frame_with(at, "gallery")
    assert sorted(zip(listed["fold"], listed["ObsIDs"])) == sorted(want)
    assert any(", " in o for o in listed["ObsIDs"])  # sky neighbours join observations
    for link, obsids in zip(listed["gallery"], listed["ObsIDs"]):
        url = urlsplit(link)
        assert url.path == "gallery" and parse_qs(url.query) == {"data": ["sample"], "q": [obsids]}

    # Following links: the gallery shows every frame of the group's observations, and only those.
    for link in (listed.loc[listed["valid frames"] + listed["train frames"] >= 3, "gallery"].iloc[0],
                 listed.loc[listed["ObsIDs"].str.contains(", "), "gallery"].iloc[0]):  # one of several ObsIDs
        query = {name: values[0] for name, values in parse_qs(urlsplit(link).query).items()}
        gallery = page_test("pages/gallery.py", query=query)
        wanted = query["q"].split(", ")
        n = sum(obsid.count(o) for o in wanted)
        assert n >= 2 and f"**{n}** of 160 images match" in texts(gallery)
        ids = sample_ds.images.loc[sample_ds.images["file_name"].str[1:11].isin(wanted), "image_id"]
        assert sorted(open_buttons(gallery)) == sorted(ids)


def open_buttons(at) -> list[int]:
    """The image ids of the gallery's thumbnails (their Open buttons)."""
    return [int(btn.key.rsplit("_", 1)[1]) for btn in at.button if btn.key and btn.key.startswith("gallery_open_")]


def test_grouping_controls_follow_the_link():
    # By ObsID (the default) there is no radius; a link with sky neighbours and a radius restores both.
    at = page_test(PAGE)
    assert at.segmented_control(key=F_GROUP).value == "obsid"
    assert F_RADIUS not in [w.key for w in at.number_input]
    at = page_test(PAGE, query=SKY | {F_RADIUS: "5"})
    assert at.number_input(key=F_RADIUS).value == 5.0
    assert "Field groups (sky neighbours within 5 arcmin)" in texts(at)
    assert_page_shows(at, "stratified", 4, 42, fields=sky_fields(5.0), grouping="sky neighbours within 5 arcmin")


def test_grouped_folds_keep_fields_whole_and_every_method_is_compared():
    fields = sky_fields()
    at = page_test(PAGE, query=SKY | {F_METHOD: LINK["stratified-group"]})
    assert at.selectbox(key=F_METHOD).value == "stratified-group"
    assert "fields kept whole: sky neighbours within 17 arcmin" in texts(at)
    assert_page_shows(at, "stratified-group", 4, 42, fields=fields, grouping="sky neighbours within 17 arcmin")
    assert metrics(at)["Leaking valid frames"] == "0.0%" and "Leaking groups (0)" in texts(at)
    assert "--group sky --radius-arcmin 17" in texts(at)  # the same folds from the command line

    # Balance against leakage, each method made here with sklearn / iterstrat, leakage against the sky fields.
    table = frame_with(at, "leakage (share of valid)")
    shown = display_values(at, "leakage (share of valid)").set_axis(table.columns, axis=1)
    labels = {m: F.METHOD_LABELS[m] for m in ("published", "kfold", "stratified", "multilabel", "stratified-group")}
    for method, label in labels.items():
        row = table.index[table["method"] == label][0]
        folds = expected_folds(method, 4, 42, fields)
        bal, leak = expected_balance(folds), expected_leakage(folds, fields)
        mean, worst = np.mean([b["authors"] for b in bal]), max(b["authors"] for b in bal)
        share = sum(x["valid_leaking"] for x in leak) / sum(x["valid"] for x in leak)
        assert table.loc[row, "mean |Δ| (pp)"] == pytest.approx(mean * 100, abs=1e-9)
        assert shown.loc[row, "mean |Δ| (pp)"] == f"{mean * 100:.2f}"
        assert table.loc[row, "worst fold |Δ| (pp)"] == pytest.approx(worst * 100, abs=1e-9)
        assert shown.loc[row, "leakage (share of valid)"] == f"{share:.1%}"
        assert table.loc[row, "leaking groups"] == sum(x["groups"] for x in leak)
        assert table.loc[row, "verdict"] == (f"{'balanced' if worst * 100 <= 1 else 'not balanced'} · "
                                             f"{'leaks' if share else 'no leakage'}")
    grouped = table[table["method"] == F.METHOD_LABELS["multilabel-group"]].iloc[0]
    assert grouped["leaking groups"] == 0 and grouped["verdict"].endswith("· no leakage")

    # The chart holds the same numbers, one labelled point per method, the fold set shown ringed.
    fig = next(f for f in figures(at) if any(t.name == "fold methods" for t in f.data))
    points = fig.data[0]
    assert np.asarray(points.y, float) == pytest.approx(table["mean |Δ| (pp)"].to_numpy(float), abs=1e-9)
    assert len(points.text) == len(table)
    assert [w == 3 for w in points.marker.line.width] == list(table["method"] == F.METHOD_LABELS["stratified-group"])

    # The train minus valid chart: per class, train share minus valid share per fold, in pp.
    diff = next(f for f in figures(at) if "train − valid share" in (f.layout.yaxis.title.text or ""))
    bal = expected_balance(expected_folds("stratified-group", 4, 42, fields))
    _, classes = sample_rows()
    for j, trace in enumerate(diff.data):
        assert trace.name == classes[j]
        want = [(b["shares"]["train"][j] - b["shares"]["valid"][j]) * 100 for b in bal]
        assert np.asarray(trace.y, float) == pytest.approx(want, abs=1e-9)


def test_sky_groups_without_metadata_fall_back_to_the_obsid(tmp_path, monkeypatch):
    # Not the sample: no metadata file, none downloaded. Eight frames, four observations in two filters each.
    monkeypatch.delenv("XAMI_OBS_INFO", raising=False)
    monkeypatch.setenv("XAMI_OBS_INFO_URL", "http://127.0.0.1:9/never-fetched.json")  # nothing reaches the network
    images = [b.image(i, b.file_name(700 + i // 2, "LU"[i % 2])) for i in range(8)]
    b.write_split(tmp_path / "ds" / "data", b.coco(images, []))
    at = page_test(PAGE, query={"data": str(tmp_path / "ds"), **SKY, F_METHOD: LINK["kfold"], F_K: "2"})
    assert "**8 frames without a pointing (no metadata) fell back to their ObsID group.**" in texts(at)
    assert "4 groups of 8 frames" in texts(at)
    assert at.button(key="fold_fetch_obs_info").label == "Fetch observation metadata from GitHub"
    # The gallery links keep the link's data source (here a local folder), not this page's own parameters.
    source = {name: [value] for name, value in at.query_params.items() if not name.startswith("fold_")}
    assert source and all(name in ("data", "path", "palette") for name in source)
    links = frame_with(at, "gallery")["gallery"]
    assert len(links) > 0
    for link in links:
        query = parse_qs(urlsplit(link).query)
        assert query == source | {"q": query["q"]} and set(query["q"][0].split(", ")) <= {f"{700 + i:010d}" for i in range(4)}


# --- the real browser ------------------------------------------------------------------------


@pytest.mark.browser
def test_folds_in_chromium(browser, tmp_path):
    from playwright.sync_api import expect

    # Enter through the entrypoint, then follow the navigation link (test_app_frame opens a cold deep link).
    page = browser.open("", wait_for="XAMI dataset overview")
    page.get_by_role("link", name="Fold balance").click()
    page.get_by_text("Train vs valid per class, every fold").wait_for()
    browser.settle()
    # small multiples, train minus valid, class deviation, K-fold vs stratified, balance against leakage, filter
    # deviation (plotly draws them one by one)
    expect(page.locator(".js-plotly-plot")).to_have_count(6, timeout=60_000)
    expect(page.locator(".js-plotly-plot .annotation-text").filter(has_text="fold 3 ·")).to_have_count(1)
    browser.screenshot("folds_authors", full_height=4200)

    # k = 5: five panels, and the link follows.
    k_input = page.get_by_role("spinbutton", name="Folds k")
    k_input.fill("5")
    k_input.press("Enter")
    page.get_by_text("stratified K-fold (authors), k = 5, seed = 42").wait_for()
    browser.settle()
    expect(page.locator(".js-plotly-plot .annotation-text").filter(has_text="fold 4 ·")).to_have_count(1)
    assert "fold_k=5" in page.url and "fold_method" not in page.url and "fold_seed" not in page.url  # defaults stay out

    # K-fold instead of stratified.
    page.get_by_label("Fold method", exact=True).click()
    page.get_by_role("option", name="K-fold", exact=True).click()
    page.get_by_text("K-fold, k = 5, seed = 42").first.wait_for()
    browser.settle()
    expect(page.locator(".js-plotly-plot")).to_have_count(6, timeout=60_000)
    page.wait_for_function("() => new URLSearchParams(location.search).get('fold_method') === 'K-fold'")
    assert "fold_k=5" in page.url

    # Away to the Overview and back: the page comes back as it was left.
    page.get_by_role("link", name="Overview").click()
    page.get_by_text("XAMI dataset overview").wait_for()
    page.get_by_role("link", name="Fold balance").click()
    page.get_by_text("K-fold, k = 5, seed = 42").first.wait_for()
    browser.settle()
    assert page.get_by_role("spinbutton", name="Folds k").input_value() == "5"

    # The authors' files, downloaded: one mskf_i.csv per fold with their header.
    with page.expect_download() as download:
        page.get_by_role("button", name="mskf_k.csv files (zip)").click()
    target = tmp_path / download.value.suggested_filename
    download.value.save_as(target)
    assert target.name == "mskf_csv_kfold_k5_seed42.zip"
    with zipfile.ZipFile(target) as zf:
        assert zf.namelist() == [f"mskf_{i}.csv" for i in range(5)]
        for name in zf.namelist():
            text = zf.read(name).decode()
            assert text.startswith("IMADE_ID,IMAGE_PATH,SPLIT\r\n")
            assert Counter(line.rsplit(",", 1)[-1] for line in text.splitlines()[1:]) == {"train": 128, "valid": 32}
    browser.screenshot("folds_kfold_k5", full_height=4200)


@pytest.mark.browser
def test_sky_leakage_in_chromium(browser):
    from playwright.sync_api import expect

    leak = expected_leakage(expected_folds("stratified"), sky_fields())
    page = browser.open("folds", wait_for="Field leakage per fold")
    assert page.get_by_role("spinbutton", name="Radius (arcmin)").count() == 0  # by ObsID: no radius
    page.locator("[data-testid='stButtonGroup'] button", has_text="sky neighbours").click()
    page.get_by_text("Field groups (sky neighbours within 17 arcmin)").wait_for()
    browser.settle()
    page.get_by_text(f"Leaking groups ({sum(x['groups'] for x in leak)})").wait_for()
    expect(page.get_by_role("spinbutton", name="Radius (arcmin)")).to_have_value("17")
    page.wait_for_function("() => new URLSearchParams(location.search).get('fold_group') === 'sky neighbours'")
    share = sum(x["valid_leaking"] for x in leak) / sum(x["valid"] for x in leak)
    expect(page.get_by_test_id("stMetricValue").filter(has_text=f"{share:.1%}")).to_have_count(1)
    expect(page.locator(".js-plotly-plot")).to_have_count(6, timeout=60_000)
    table = page.locator("[data-testid='stDataFrame']").nth(1)  # balance per fold, then leakage per fold
    browser.scroll_to(table)
    expect(table).to_be_visible()
    browser.screenshot("folds_sky_leakage", full_height=7400)


def test_dataset_without_annotations_shows_the_folds(tmp_path):
    # Twelve frames, no annotation at all: shares are undefined, the page still lays out the folds.
    b.write_split(tmp_path / "ds" / "data", b.coco([b.image(i) for i in range(12)], []))
    at = page_test(PAGE, query={"data": str(tmp_path / "ds"), "fold_method": LINK["kfold"]})
    assert not at.exception
    assert "4 folds over 12 images" in texts(at)


def test_fold_folder_outside_the_allowed_roots_is_refused(tmp_path, monkeypatch):
    # A deployment that allows only one folder: the fold files elsewhere are not read.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "mskf_0.csv").write_text("IMADE_ID,IMAGE_PATH,SPLIT\r\n")
    (tmp_path / "allowed").mkdir()
    monkeypatch.setenv("XAMI_ALLOWED_ROOTS", str(tmp_path / "allowed"))
    at = page_test(PAGE, query={"fold_method": LINK["files"], "fold_dir": str(outside)})
    assert any("outside the folders this deployment allows" in e.value for e in at.error)
