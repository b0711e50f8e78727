"""User-typed paths: one check (`paths.checked_path`) turns what the system cannot look up into a clear message.

Every place a user path enters (local data path, metadata file, `load_dataset`, fold
folders for import and export, the command line's --data/--out/--dest) is driven with
a NUL byte, a name longer than the file system allows and a symbolic link loop.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from xami_core import XamiDataError, load_dataset
from xami_core.access import check_local_path
from xami_core.analysis import folds as F
from xami_core.cli import main as cli_main
from xami_core.io import fold_files
from xami_core.io import hub as hub_mod
from xami_core.paths import checked_path, shown


def _name_max(folder: Path) -> int:
    return os.pathconf(folder, "PC_NAME_MAX")


def bad_path(kind: str, tmp_path: Path) -> str:
    """A path the system cannot look up, of one kind (made in `tmp_path`)."""
    if kind == "nul":
        return str(tmp_path / "xami\x00dataset")
    if kind == "long name":
        return str(tmp_path / ("x" * (_name_max(tmp_path) + 1)))
    if kind == "link loop":
        (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
        (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
        return str(tmp_path / "loop_a" / "xami_dataset")
    raise AssertionError(kind)


# What each kind's message must say (independent of the code's wording elsewhere).
EXPECTED = {
    "nul": r"contains a NUL byte",
    "long name": r"is \d+ bytes long; this file system allows at most \d+ \(ENAMETOOLONG\)",
    "link loop": r"symbolic links loop at '.*loop_a'.*ELOOP",
}
KINDS = list(EXPECTED)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        # a NUL byte, e.g. pasted from a binary file
        (lambda t: "/data/xami\x00", r"data path '/data/xami\\x00': contains a NUL byte"),
        # one name one byte longer than the file system's limit
        (lambda t: str(t / ("y" * (_name_max(t) + 1))), r"the name 'y+…y+ \(\d+ characters\)' is \d+ bytes long"),
        # a path longer than PATH_MAX, every name within the limit
        (lambda t: str(t.joinpath(*["z" * 200] * 30)), r"the path is \d+ bytes long, more than this system allows"),
        # two links pointing at each other, the loop at the end of the path
        (lambda t: bad_path("link loop", t).rsplit("/", 1)[0], r"symbolic links loop at '.*/loop_a'"),
        # the loop in the middle of the path
        (lambda t: bad_path("link loop", t), r"symbolic links loop at '.*/loop_a' "),
        # '~user' for a user this system does not know
        (lambda t: "~no_such_user_xami/data", r"'~' cannot be expanded here"),
    ],
)
def test_bad_paths_are_refused_with_the_reason(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(XamiDataError, match=message):
        checked_path(path, what="data path")


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("missing/folder", "missing/folder"),  # not there yet (an output folder): accepted, callers decide
        ("", "."),  # the current folder
        ("a/../b", "a/../b"),  # '..' kept: resolving is the caller's choice (allowed roots)
    ],
)
def test_usable_paths_pass_unchanged(tmp_path, relative, expected):
    assert checked_path(tmp_path / relative) == tmp_path / expected


def test_long_name_message_gives_the_file_systems_numbers(tmp_path):
    limit = _name_max(tmp_path)
    with pytest.raises(XamiDataError, match=rf"is {limit + 1} bytes long; this file system allows at most {limit} "):
        checked_path(tmp_path / ("é" * ((limit + 1) // 2)) if limit % 2 else tmp_path / ("x" * (limit + 1)))


def test_home_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert checked_path("~/data") == tmp_path / "data"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain/path", "plain/path"),  # nothing to change
        ("a\x00b", "a\\x00b"),  # NUL shown escaped, not cut off by a terminal
        ("tab\there", "tab\\there"),  # other control characters too
        ("é/ü", "é/ü"),  # letters of any language stay as they are
    ],
)
def test_shown_escapes_control_characters(text, expected):
    assert shown(text) == expected


def test_shown_shortens_long_text():
    text = "a" * 100 + "b" * 100 + "c" * 100
    out = shown(text, limit=60)
    assert out.startswith("a" * 40 + "…") and out.endswith("c" * 15 + " (300 characters)")


# ---------------------------------------------------------------- every entry point


def _entry_points(ds):
    """(name, call with a path) for each place a user path enters the core."""
    folds = F.make_folds(ds, "stratified", 4, 42)
    return {
        "allowed-roots check (sidebar path box, ?data=, metadata file)": lambda p: check_local_path(p, what="data path"),
        "load_dataset (--data, XAMI_DATA)": lambda p: load_dataset(p),
        "fold folder import": lambda p: fold_files.read_fold_files(p, ds),
        "fold folder fingerprint": lambda p: fold_files.fold_files_fingerprint(p),
        "fold files export": lambda p: fold_files.write_fold_csvs(ds, folds, p),
        "download --dest": lambda p: hub_mod.extract_variant_to("xami_dataset", p),
    }


ENTRY_NAMES = ["allowed-roots check (sidebar path box, ?data=, metadata file)", "load_dataset (--data, XAMI_DATA)",
               "fold folder import", "fold folder fingerprint", "fold files export", "download --dest"]


@pytest.mark.parametrize("entry", ENTRY_NAMES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_entry_point_refuses_bad_paths_with_a_message(sample_ds, tmp_path, entry, kind, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may reach a network (the check comes first anyway)
    path = bad_path(kind, tmp_path)
    with pytest.raises(XamiDataError, match=EXPECTED[kind]) as err:
        _entry_points(sample_ds)[entry](path)
    assert shown(path)[:40] in str(err.value)  # the message names the path given


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        (["folds", "--data", "{bad}", "--out", "{tmp}/out"], "long name"),  # folds --data
        (["folds", "--data", "{sample}", "--out", "{bad}"], "link loop"),  # folds --out
        (["folds", "--data", "{sample}", "--out", "{bad}"], "nul"),  # folds --out with NUL (argv from Python)
        (["download", "--dest", "{bad}", "--quiet"], "long name"),  # download --dest
    ],
)
def test_command_line_says_error_and_exits_2(tmp_path, capsys, argv, kind, monkeypatch):
    from xami_core import sample_root

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bad = bad_path(kind, tmp_path)
    args = [a.format(bad=bad, tmp=tmp_path, sample=sample_root()) for a in argv]
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert err.count("\n") == 1 and re.search(EXPECTED[kind], err)
    assert not (tmp_path / "out").exists()  # nothing written


def test_fold_export_into_a_file_is_a_message(sample_ds, tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("a file where the folder should be")
    folds = F.make_folds(sample_ds, "stratified", 4, 42)
    with pytest.raises(XamiDataError, match=r"fold files folder '.*taken/sub': cannot be written"):
        fold_files.write_fold_csvs(sample_ds, folds, blocker / "sub")


def test_fold_fingerprint_skips_a_looping_fold_file(sample_ds, tmp_path):
    folds = F.make_folds(sample_ds, "stratified", 4, 42)
    fold_files.write_fold_csvs(sample_ds, folds, tmp_path)
    (tmp_path / "mskf_9.csv").symlink_to(tmp_path / "mskf_9.csv")  # a link to itself, named like a fold file
    fingerprint = fold_files.fold_files_fingerprint(tmp_path)
    assert ("mskf_9.csv", "unreadable") in fingerprint
    back = fold_files.read_fold_files(tmp_path, sample_ds)  # the four real files still load
    assert back.assignments["fold"].nunique() == 4


@pytest.mark.parametrize("what, instead, advice", [
    ("data path", "upload the zip", "; upload the zip or choose another path"),  # the sidebar's data path
    ("predictions path", "upload the file", "; upload the file or choose another path"),  # a .json results file
    ("metadata file", "", "; choose another path"),  # nothing to upload in its place
    ("fold files folder", "", "; choose another path"),
])
def test_a_path_inside_the_cache_folder_is_refused_with_advice_that_fits(what, instead, advice):
    from xami_core.paths import cache_dir

    inside = cache_dir() / "uploads"
    with pytest.raises(XamiDataError) as err:
        check_local_path(inside, what=what, instead=instead)
    message = str(err.value)
    assert message.startswith(f"{what} '") and message.endswith(f"never opened as a path{advice}")
