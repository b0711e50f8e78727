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

import numpy as np
import plotly.graph_objects as go
import pytest
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold
from scipy.stats import chi2 as chi2_dist
from sklearn.model_selection import KFold, StratifiedKFold

from tests import builders as b
from tests.apptest import page_test, switch_page, texts
from xami_core.analysis import folds as F
from xami_core.cli import main as cli_main
from xami_core.io import fold_files

PAGE = "pages/folds.py"
F_METHOD, F_K, F_SEED = "fold_method", "fold_k", "fold_seed"  # widget keys, also the query parameters
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


def expected_folds(method: str, k: int = 4, seed: int = 42) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, valid) row positions per fold, from sklearn / iterstrat called directly."""
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


def expected_metrics(bal: list[dict]) -> dict[str, str]:
    """The four headline numbers as the page should print them."""
    valid = [b["valid"] for b in bal]
    return {
        "Valid images per fold": f"{min(valid)}" if min(valid) == max(valid) else f"{min(valid)}–{max(valid)}",
        "Mean |train − valid| share (authors)": f"{np.mean([b['authors'] for b in bal]) * 100:.2f} pp",
        "Largest class difference": f"{max(b['max'] for b in bal) * 100:.2f} pp",
        "Smallest chi-square p": f"{min(b['p'] for b in bal):.3f}",
    }


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


def assert_page_shows(at, method: str, k: int, seed: int, measure: str = "images", value: str = "share") -> None:
    """Every number the page shows for these folds equals the independent computation."""
    rows, classes = sample_rows()
    folds = expected_folds(method, k, seed)
    bal = expected_balance(folds, measure)
    assert metrics(at) == expected_metrics(bal)

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


# --- the real browser ------------------------------------------------------------------------


@pytest.mark.browser
def test_folds_in_chromium(browser, tmp_path):
    from playwright.sync_api import expect

    # Enter through the entrypoint, then follow the navigation link (test_app_frame opens a cold deep link).
    page = browser.open("", wait_for="XAMI dataset overview")
    page.get_by_role("link", name="Fold balance").click()
    page.get_by_text("Train vs valid per class, every fold").wait_for()
    browser.settle()
    # small multiples, class deviation, K-fold vs stratified, filter deviation (plotly draws them one by one)
    expect(page.locator(".js-plotly-plot")).to_have_count(4, timeout=60_000)
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
    expect(page.locator(".js-plotly-plot")).to_have_count(4, timeout=60_000)
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
    monkeypatch.setenv("XAMI_ALLOWED_ROOTS", str(tmp_path / "allowed"))
    at = page_test(PAGE, query={"fold_method": LINK["files"], "fold_dir": str(outside)})
    assert any("outside the folders this deployment allows" in e.value for e in at.error)
