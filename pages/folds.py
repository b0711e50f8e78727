"""Fold balance: how evenly the classes, filters and hard negatives fall into each fold's train and valid parts."""

from __future__ import annotations

import math
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from xami_core.access import check_local_path
from xami_core.analysis import field_groups, fold_balance, fold_tradeoff, leakage
from xami_core.analysis import folds as F
from xami_core.io import fold_files
from xami_core.io.loader import source_fingerprint
from xami_core.model import Dataset, XamiDataError
from xami_core.render.fold_figures import deviation_heatmap, fold_class_figure, method_comparison_figure
from xami_core.render.leakage_figures import (
    BALANCED_LIMIT_PP,
    class_difference_figure,
    fold_verdict,
    tradeoff_figure,
    verdict_words,
)
from xami_ui.cache import (
    cached_empty_per_fold,
    cached_field_groups,
    cached_fold_class_counts,
    cached_fold_files,
    cached_fold_filter_counts,
    cached_folds,
    cached_grouped_folds,
    cached_leaking_groups,
    cached_method_comparison,
    cached_method_tradeoff,
    cached_obs_info,
    cached_rare_labels,
)
from xami_ui.context import current_dataset, current_palette, run_app, synthetic_notice_ui
from xami_ui.export import chart_ui, table_download_ui
from xami_ui.obs_info import obs_info_source_ui
from xami_ui.text import md_literal

FILES = "files"
METHOD_CHOICES = ["stratified", "kfold", "multilabel", *F.GROUPED_METHODS, "published", FILES]
METHOD_HELP = {
    "stratified": "The authors' recipe: StratifiedKFold on each image's label string (its sorted class ids).",
    "kfold": "Plain shuffled KFold, the baseline the authors compared against.",
    "multilabel": "Iterative multilabel stratification (iterative-stratification) on the image x class matrix.",
    "stratified-group": "scikit-learn's StratifiedGroupKFold on the authors' label strings, with the field groups "
                        "below as groups: a field never sits in both train and valid.",
    "multilabel-group": "Grouped iterative stratification (Sechidis et al. 2011, with a field group in the place of "
                        "an image) of the image x class matrix: fields kept whole, classes balanced.",
    "published": "The train/valid split published on Hugging Face, as one fold.",
    FILES: "mskf_k.csv files or mskf_k/{train,valid}/ folders the authors' scripts wrote, matched by file name.",
}
# Widget keys are the query-parameter names: every control is bound to the link (bind="query-params"),
# which also keeps its value across a visit to another page; a value the link cannot hold is dropped.
Q_METHOD, Q_K, Q_SEED, Q_MEASURE, Q_VALUE, Q_DIR = "fold_method", "fold_k", "fold_seed", "fold_measure", "fold_value", "fold_dir"
Q_GROUP, Q_RADIUS = "fold_group", "fold_radius"
BOUND = {"bind": "query-params", "persist_state": "session"}
RADIUS_MAX_ARCMIN = 600.0  # 10 degrees: far beyond any field of the Optical Monitor
OWN_PARAMS = "fold_"  # this page's link parameters start so; the gallery link keeps every other (data source, colours)
GALLERY_SEARCH = "q"  # the gallery's search text (pages/gallery.py), bound to the link
MEAN_PP, WORST_PP, LEAK_SHARE = "mean |Δ| (pp)", "worst fold |Δ| (pp)", "leakage (share of valid)"  # comparison columns


def fold_controls_ui() -> tuple[str, int, int, str, str, str]:
    """Method, k, seed, measure, value and fold-file folder, the authors' folds by default."""
    c1, c2, c3, c4, c5 = st.columns([3, 1.6, 1.8, 2.6, 2])
    method = c1.selectbox("Fold method", METHOD_CHOICES, key=Q_METHOD, format_func=F.METHOD_LABELS.get, **BOUND,
                          help=" ".join(f"**{F.METHOD_LABELS[m]}**: {h}" for m, h in METHOD_HELP.items()))
    fixed = method in ("published", FILES)
    k = c2.number_input("Folds k", min_value=F.K_MIN, max_value=F.K_MAX, value=F.AUTHORS_K, step=1, key=Q_K,
                        disabled=fixed, help="The authors used k = 4.", **BOUND)
    seed = c3.number_input("Seed", min_value=0, max_value=2**32 - 1, value=F.AUTHORS_SEED, step=1, key=Q_SEED,
                           disabled=fixed, help="random_state of the shuffling splitter; the authors used 42.", **BOUND)
    measure = c4.segmented_control("Count", list(fold_balance.MEASURES), default="images", key=Q_MEASURE, **BOUND,
                                   help="images: (image, class) pairs, the authors' measure; "
                                        "annotations: artefact instances.") or "images"
    value = c5.segmented_control("Show", ["share", "count"], default="share", key=Q_VALUE, **BOUND) or "share"
    folder = ""
    if method == FILES:
        folder = st.text_input("Folder with fold files", key=Q_DIR, placeholder="/data/xami_folds", **BOUND,
                               help="A folder holding mskf_0.csv, mskf_1.csv, ... (IMADE_ID, IMAGE_PATH, SPLIT) "
                                    "or mskf_0/, mskf_1/, ... each with train/ and valid/.").strip()
    return method, int(k), int(seed), measure, value, folder


def grouping_ui() -> tuple[str, float | None]:
    """How frames are grouped into sky fields (ObsID or sky neighbours) and the neighbour radius (sky only)."""
    c1, c2, _ = st.columns([3, 1.6, 6.4])
    by = c1.segmented_control("Field groups", list(field_groups.GROUPINGS), default="obsid", key=Q_GROUP, **BOUND,
                              format_func=field_groups.GROUPINGS.get,
                              help="Frames that show the same sky field. **same ObsID**: every filter of one "
                                   "observation. **sky neighbours**: observations whose pointings (RA, Dec of the "
                                   "observation metadata) lie within the radius, joined transitively. Leakage is "
                                   "measured against these groups, and the grouped methods keep them whole.") or "obsid"
    if by != "sky":
        return by, None
    radius = c2.number_input("Radius (arcmin)", min_value=0.1, max_value=RADIUS_MAX_ARCMIN,
                             value=field_groups.OM_FOV_ARCMIN, step=1.0, format="%g", key=Q_RADIUS, **BOUND,
                             help="Pointings closer than this join one field; the default, 17 arcmin, is the "
                                  "Optical Monitor's field of view (17 × 17 arcmin).")
    return by, float(radius)


def obs_info_key_ui(ds: Dataset) -> tuple[str, str, tuple] | None:
    """The observation-metadata file for sky groups as the key of `cached_obs_info`; None while there is none."""
    source = obs_info_source_ui(
        ds.provenance.synthetic, key="fold_fetch_obs_info",
        why="Sky groups need the observations' pointings, which are not in the dataset archives; until then every "
            "frame keeps its ObsID group.")
    if source.path is None:
        return None
    try:
        key = (str(source.path), source.label, source_fingerprint(source.path))
        cached_obs_info(*key)  # read (and checked) once per content; the groups read it from the cache
    except (XamiDataError, OSError) as exc:
        st.warning(f"Observation metadata unavailable: {md_literal(exc)} Every frame keeps its ObsID group.",
                   icon=":material/warning:")
        return None
    return key


def groups_caption(groups: field_groups.FieldGroups, meta_label: str | None) -> str:
    """One line on the field groups: how many, how many of several frames, and the frames that fell back."""
    s = field_groups.groups_summary(groups)
    text = (f"Field groups ({groups.label}): {s['groups']:,} groups of {s['images']:,} frames; {s['groups_of_several']:,} "
            f"hold several frames ({s['images_in_groups_of_several']:,} frames, largest {s['largest_group']}).")
    if groups.by == "sky":
        text += (f" Pointings from {md_literal(meta_label)}." if meta_label else "")
        text += (f" **{groups.n_without_position:,} frame{'s' if groups.n_without_position != 1 else ''} without a "
                 f"pointing (no metadata) fell back to {'their' if groups.n_without_position != 1 else 'its'} ObsID "
                 "group.**" if groups.n_without_position else " Every frame with an ObsID has a pointing.")
    if groups.n_without_obsid:
        text += f" {groups.n_without_obsid:,} frames without an ObsID in the file name are groups of their own."
    return text


def gallery_link(obsids: str) -> str:
    """A link to the gallery searching for `obsids` ("a, b": all their frames), on the same data source and colours."""
    params = {name: value for name, value in st.query_params.to_dict().items()
              if not name.startswith(OWN_PARAMS) and name not in (GALLERY_SEARCH, "image")}
    return "gallery?" + urlencode({**params, GALLERY_SEARCH: obsids})


def leakage_ui(ds: Dataset, folds: F.FoldSet, groups: field_groups.FieldGroups, table: pd.DataFrame,
               tag: str) -> dict[str, pd.DataFrame]:
    """Per fold (`table`: `leakage.fold_leakage`), the frames whose field sits on both sides, and the leaking
    groups with gallery links; returns the tables for the export."""
    st.subheader("Field leakage per fold")
    n_folds = len(table)
    shown = table.assign(fold=[fold_name_text(f, n_folds) for f in table["fold"]]).rename(columns={
        "train_images": "train frames", "valid_images": "valid frames", "train_groups": "fields in train",
        "valid_groups": "fields in valid", "leaking_groups": "leaking groups",
        "train_images_leaking": "train frames of leaking groups", "valid_images_leaking": "valid frames leaking",
        "valid_share_leaking": "valid share leaking"})
    st.dataframe(shown.style.format({"valid share leaking": "{:.1%}"}, na_rep="n/a"), width="stretch", hide_index=True)
    st.caption(f"A field group ({groups.label}) leaks when it has frames in both train and valid of a fold. Valid "
               "frames leaking: valid frames whose field is also in train; valid share leaking: their share of the "
               "fold's valid frames. A fold set that keeps fields whole (the grouped methods) has 0 everywhere.")
    table_download_ui(shown, name=f"fold_leakage_{tag}", key="fold_leakage_table", index=False,
                      caption=f"Field leakage per fold ({folds.label}; field groups: {groups.label}).")
    leaks = cached_leaking_groups(ds, folds, groups)
    st.subheader(f"Leaking groups ({len(leaks):,})")
    if leaks.empty:
        st.caption("No field group has frames on both sides of a fold.")
    else:
        listed = pd.DataFrame({
            "fold": [fold_name_text(f, n_folds) for f in leaks["fold"]], "group": leaks["group"],
            "ObsIDs": leaks["obsids"], "train frames": leaks["train_images"], "valid frames": leaks["valid_images"],
            "gallery": [gallery_link(o) for o in leaks["obsids"]]})
        st.dataframe(listed, width="stretch", hide_index=True, height=min(36 * (len(listed) + 1) + 2, 400),
                     column_config={"gallery": st.column_config.LinkColumn(
                         "open in gallery", display_text="open ↗",
                         help="Opens the gallery (in a new tab) searching for the group's ObsIDs: all their frames, "
                              "side by side.")})
        st.caption("Each link opens the gallery searching for the group's ObsIDs (every one, for sky neighbours "
                   "that join several observations), which shows all the group's frames side by side, train and valid.")
    return {"fold_leakage": table, "leaking_groups": leaks}


def fold_name_text(fold: int, n_folds: int) -> str:
    """A fold as the tables name it: its number, or "published" for the single published fold."""
    return "published" if n_folds == 1 else str(int(fold))


def tradeoff_ui(ds: Dataset, folds: F.FoldSet, method: str, k: int, seed: int, measure: str, grouping: tuple,
                groups: field_groups.FieldGroups) -> pd.DataFrame | None:
    """Every method made with this k and seed (and the fold set shown), on class balance and leakage at once."""
    st.subheader(f"Balance against leakage, every method (k = {k}, seed = {seed})")
    methods = fold_tradeoff.COMPARED_METHODS
    if {"train", "valid"} <= set(ds.images["split"]):
        methods = ("published", *methods)
    try:
        table = cached_method_tradeoff(ds, k, seed, measure, methods, *grouping)
    except XamiDataError as exc:
        st.warning(f"The methods cannot all be compared at k = {k}: {md_literal(exc)}", icon=":material/warning:")
        return None
    if method == FILES:  # the files are not one of the methods: compared beside them
        table = pd.concat([table, fold_tradeoff.fold_set_tradeoff(ds, [folds], groups, measure)], ignore_index=True)
    chart_ui(tradeoff_figure(table, current=method), name=f"balance_vs_leakage_k{k}_seed{seed}_{groups.by}",
             key="fold_tradeoff_chart", aspect=0.6)
    shown = pd.DataFrame({
        "method": [F.METHOD_LABELS[m] if m in F.METHODS else label for m, label in zip(table["method"], table["label"])],
        "verdict": [verdict_words(d, s) for d, s in zip(table["authors_max_diff"],
                                                                                 table["valid_share_leaking"])],
        MEAN_PP: table["authors_mean_diff"] * 100, WORST_PP: table["authors_max_diff"] * 100,
        "JS (bits)": table["js_divergence_bits"], LEAK_SHARE: table["valid_share_leaking"],
        "leaking valid frames": table["valid_images_leaking"], "leaking groups": table["leaking_groups"]})
    st.dataframe(shown.style.format({MEAN_PP: "{:.2f}", WORST_PP: "{:.2f}", "JS (bits)": "{:.5f}", LEAK_SHARE: "{:.1%}"},
                                    na_rep="n/a"), width="stretch", hide_index=True,
                 column_config={
                                MEAN_PP: st.column_config.Column(help="The authors' mean |train − valid| class share, "
                                                                      "mean over folds, percentage points"),
                                WORST_PP: st.column_config.Column(help="The same, largest over folds"),
                                "JS (bits)": st.column_config.Column(help="Jensen-Shannon divergence of the train and "
                                                                          "valid class distributions, mean over folds"),
                                LEAK_SHARE: st.column_config.Column(help="Valid frames whose field is also in train, "
                                                                         "pooled over folds")})
    st.caption(f"Each method made live with k = {k}, seed = {seed}; leakage against the field groups above "
               f"({groups.label}). Class balance: the authors' mean |train − valid| share of {measure_words(measure)}, "
               "mean and largest over folds, in percentage points, and the Jensen-Shannon divergence (base 2, mean "
               "over folds) of the train and valid class distributions. Leakage: valid frames whose field is also in "
               "train, pooled over folds. Best is the origin of the chart: no leakage and the smallest difference; "
               "the ringed point is the fold set shown above. "
               f"Verdict: balanced when every fold is within {BALANCED_LIMIT_PP:g} pp; leaks when any valid frame "
               "shares a field with train.")
    table_download_ui(shown.assign(**{f"{LEAK_SHARE} (%)": shown[LEAK_SHARE] * 100}).drop(columns=LEAK_SHARE),
                      name=f"balance_vs_leakage_k{k}_seed{seed}_{groups.by}", key="fold_tradeoff_table", index=False,
                      caption=f"Fold methods (k = {k}, seed = {seed}): class balance and leakage ({groups.label}).")
    return table


def measure_words(measure: str) -> str:
    """What the balance counts, in words."""
    return "(image, class) pairs" if measure == "images" else "annotations"


def page() -> None:
    """The Fold balance page: how evenly classes, filters and hard negatives fall into each fold's parts."""
    ds = current_dataset()
    palette = current_palette()

    st.title("Fold balance")
    st.caption("Are the artefact classes, observation filters and hard negatives spread evenly over each fold's train "
               "and valid parts? The authors' folds (stratified K-fold, k = 4, seed 42) are shown first; change the "
               "method, k or seed to see the effect.")
    synthetic_notice_ui(ds)

    method, k, seed, measure, value, folder = fold_controls_ui()
    by, radius = grouping_ui()
    obs_info = obs_info_key_ui(ds) if by == "sky" else None
    grouping = (by, radius, obs_info)  # the arguments of the cached field groups

    try:
        groups = cached_field_groups(ds, *grouping)
        if method == FILES:
            if not folder:
                st.info("Enter the folder that holds the fold files (mskf_k.csv or mskf_k/ folders).")
                st.stop()
            check_local_path(folder, what="fold files folder", instead="")  # a deployment's allowed roots apply to fold folders too
            folds = cached_fold_files(ds, folder, fold_files.fold_files_fingerprint(folder))
        elif method in F.GROUPED_METHODS:
            folds = cached_grouped_folds(ds, method, k, seed, *grouping)
        else:
            folds = cached_folds(ds, method, k, seed)
    except XamiDataError as exc:
        st.error(f"{md_literal(exc)}\n\nPick another fold method, or check the folder.", icon=":material/error:")
        st.stop()
    st.caption(groups_caption(groups, obs_info[1] if obs_info else None))

    n_folds = len(folds.folds)
    kept_whole = f" · fields kept whole: {groups.label}" if method in F.GROUPED_METHODS else ""
    st.markdown(f"**{md_literal(folds.label)}**{kept_whole} · {n_folds} fold{'s' if n_folds > 1 else ''} over {ds.images['image_id'].nunique():,} "
                f"images" + (f" (splits pooled: {md_literal(', '.join(ds.splits))})" if len(ds.splits) > 1 and method != "published" else ""))
    for note in folds.warnings:
        st.warning(f"Splitter warning: {md_literal(note)} See the rare label combinations below.", icon=":material/warning:")
    if folds.problems:
        with st.expander(f"Fold file problems ({len(folds.problems)})", expanded=True):
            st.dataframe([vars(p) for p in folds.problems], width="stretch", hide_index=True)

    counts = cached_fold_class_counts(ds, folds)
    balance = fold_balance.fold_balance(ds, folds, measure, counts=counts)
    deviation = fold_balance.fold_deviation(counts, measure)
    summary = fold_balance.balance_summary(balance)
    leak_table = leakage.fold_leakage(folds, groups)
    leak = leakage.leakage_summary(leak_table)
    verdict = fold_verdict(balance, leak_table, groups.label)
    st.markdown(verdict.text)

    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("Valid images per fold", f"{summary.valid_min:,}" if summary.valid_min == summary.valid_max
              else f"{summary.valid_min:,}–{summary.valid_max:,}")
    m2.metric("Mean |train − valid| share (authors)", fold_balance.pp_text(summary.mean_authors_diff),
              help="Averaged over folds; per fold: mean over the six keys '0'..'5' of the authors' notebook (one of "
                   "which never holds a class, so the sum over five classes is divided by six), in percentage points (pp).")
    m3.metric("Largest class difference", fold_balance.pp_text(summary.worst_diff),
              help=f"{md_literal(summary.worst_class)} in fold {summary.worst_fold}" if summary.worst_class else None)
    m4.metric("Smallest chi-square p", "n/a" if math.isnan(summary.min_p) else f"{summary.min_p:.3f}",
              help="Chi-square test of independence between part (train/valid) and class, per fold; a small p "
                   "(below 0.05) means the class mix differs between train and valid.")
    m5.metric("Leaking valid frames", "n/a" if math.isnan(leak.valid_share) else f"{leak.valid_share:.1%}",
              help=f"{leak.valid_images_leaking:,} of {int(leak_table['valid_images'].sum()):,} valid frames, pooled over "
                   f"folds, share a field ({groups.label}) with the fold's train part.")

    tag = f"{method}_k{n_folds}" + (f"_seed{seed}" if method not in ("published", FILES) else "")
    if method in F.GROUPED_METHODS:
        tag += f"_{by}" + (f"{radius:g}arcmin" if by == "sky" else "")

    st.subheader("Train vs valid per class, every fold")
    what = "(image, class) pairs" if measure == "images" else "annotations"
    st.caption(f"Bars: {'share of the part’s ' + what if value == 'share' else 'number of ' + ('images containing the class' if measure == 'images' else 'annotations')}; "
               "solid = train, hatched = valid, in the class colours. Panel titles: the fold's mean |train − valid| "
               "share (authors' measure) in percentage points (pp).")
    chart_ui(fold_class_figure(counts, measure=measure, value=value, palette=palette,
                               fold_diffs=dict(zip(balance["fold"], balance["authors_mean_diff"]))),
             name=f"fold_classes_{tag}", key="fold_classes_chart", aspect=0.4, wide=True)

    st.subheader("Train minus valid per class")
    chart_ui(class_difference_figure(counts, measure=measure, palette=palette), name=f"fold_class_differences_{tag}",
             key="fold_difference_chart", aspect=0.4, wide=True)
    st.caption(f"Per class and fold: the class's share of the train part's {what} minus its share of the valid part's, "
               "in percentage points (pp), on a scale that fits the largest difference: above 0 the class is more "
               "common in train, below 0 in valid. Differences of a few tenths of a pp cannot be seen on the bars above.")

    st.subheader("Balance per fold")
    shown = balance.rename(columns={
        "train_images": "train images", "valid_images": "valid images", "authors_mean_diff": "mean |Δ| (authors)",
        "mean_abs_diff": "mean |Δ| (classes)", "max_abs_diff": "max |Δ|", "max_diff_class": "class of max",
        "js_divergence": "Jensen-Shannon (bits)", "chi2": "chi-square", "p_value": "p"})
    pp = ["mean |Δ| (authors)", "mean |Δ| (classes)", "max |Δ|"]
    st.dataframe(shown.style.format({**{c: fold_balance.pp_text for c in pp},
                                     "Jensen-Shannon (bits)": "{:.5f}", "chi-square": "{:.2f}", "p": "{:.3f}"}, na_rep="n/a"),
                 width="stretch", hide_index=True,
                 column_order=["fold", "train images", "valid images", *pp, "class of max", "Jensen-Shannon (bits)",
                               "chi-square", "p"])
    st.caption(f"|Δ| = |train share − valid share| of a class's {what}, in percentage points (pp). The authors' mean "
               "divides the sum over the five classes by six (their notebook averages over six keys '0'..'5', one of "
               "which never holds a class); the class mean divides by five. Jensen-Shannon divergence (base 2) of the train "
               "and valid class distributions: 0 = identical. Chi-square: part × class contingency table of counts, "
               "with its degrees of freedom in the CSV export.")

    leak_tables = leakage_ui(ds, folds, groups, leak_table, tag)

    # The downloads carry the differences in percentage points, as the table shows them.
    in_pp = shown.assign(**{c: shown[c] * 100 for c in pp}).rename(columns={c: f"{c} (pp)" for c in pp})
    table_download_ui(in_pp[["fold", "train images", "valid images", *(f"{c} (pp)" for c in pp), "class of max",
                             "Jensen-Shannon (bits)", "chi-square", "p"]],
                      name=f"fold_balance_{tag}", key="fold_balance_table", index=False,
                      caption=f"Balance of the folds ({folds.label}): |train - valid| class shares in percentage points.")

    st.subheader("Deviation per fold and class")
    chart_ui(deviation_heatmap(deviation, n_folds=n_folds), name=f"fold_class_deviation_{tag}", key="fold_deviation_chart",
             aspect=0.5)
    st.caption("Valid share minus train share, in percentage points; blue: the class is more common in valid, red: in "
               "train. The colour scale spans at least ± 5 pp, so a balanced fold stays pale.")

    if method in ("stratified", "kfold", "multilabel"):
        compared = ("kfold", "stratified", "multilabel") if method == "multilabel" else ("kfold", "stratified")
        st.subheader("K-fold vs stratified K-fold (the authors' comparison)")
        comparison = cached_method_comparison(ds, k, seed, measure, compared)
        chart_ui(method_comparison_figure(comparison), name=f"kfold_vs_stratified_k{k}_seed{seed}", key="fold_comparison_chart")
        means = fold_balance.comparison_means(comparison)
        st.caption(f"Computed live for k = {k}, seed = {seed}: mean |train − valid| share per fold (authors' measure, "
                   "percentage points); lower is better balanced. Mean over folds: "
                   + ", ".join(f"{F.METHOD_LABELS[m]} {fold_balance.pp_text(v)}" for m, v in means.items()) + ".")
    else:
        comparison = None

    tradeoff = tradeoff_ui(ds, folds, method, k, seed, measure, grouping, groups)

    st.subheader("Observation filters per fold")
    filter_counts = cached_fold_filter_counts(ds, folds)
    chart_ui(deviation_heatmap(fold_balance.fold_filter_deviation(filter_counts), what="filter", n_folds=n_folds),
             name=f"fold_filter_deviation_{tag}", key="fold_filter_chart", aspect=0.5)
    st.caption("Valid minus train share of images per filter, filters from long (V) to short (UVW2) wavelength, "
               "the broad-band White filter last. Filters are not stratified: only chance balances them. "
               "Image counts per filter, fold and part:")
    st.dataframe(fold_balance.fold_filter_table(filter_counts), width="stretch")

    empty = cached_empty_per_fold(ds, folds)
    k_used = n_folds if method in ("published", FILES) else k
    rare = cached_rare_labels(ds, k_used)
    left, right = st.columns([2, 3])
    with left:
        st.subheader("Images without artefacts")
        st.dataframe(empty.rename(columns={"empty_images": "without artefacts", "empty_share": "share"})
                     .style.format({"share": "{:.1%}"}), width="stretch", hide_index=True)
        st.caption("Hard negatives (galaxies, clusters, nebulae) per fold and part.")
    with right:
        st.subheader(f"Rare label combinations ({len(rare)})")
        if rare.empty:
            st.caption(f"Every label combination has at least as many images as there are folds ({k_used}).")
        else:
            st.dataframe(rare, width="stretch", hide_index=True)
            st.caption(f"Class combinations held by fewer images than folds (k = {k_used}): stratification cannot place "
                       "one in every fold; this is what sklearn's warning is about. Label: the sorted category ids.")

    st.subheader("Export")
    prefix = st.text_input("IMAGE_PATH prefix (optional)", key="fold_path_prefix",
                           placeholder="leave empty for the absolute path of each image on this machine",
                           help="The authors' scripts copy each image from IMAGE_PATH. Empty: the absolute path where "
                                "the image was loaded from; otherwise prefix + '/' + file name, e.g. "
                                "../../xami_dataset_no_splits/data").strip() or None
    tables = {"fold_balance": balance, "fold_class_counts": counts, "fold_class_deviation": deviation,
              "fold_filter_counts": filter_counts, "empty_per_fold": empty, "rare_label_combinations": rare}
    if comparison is not None:
        tables["kfold_vs_stratified"] = comparison
    tables |= leak_tables
    if tradeoff is not None:
        tables["balance_vs_leakage"] = tradeoff
    d1, d2, d3 = st.columns(3)
    d1.download_button("mskf_k.csv files (zip)", data=lambda: fold_files.fold_csvs_zip(ds, folds, prefix),
                       file_name=f"mskf_csv_{tag}.zip", mime="application/zip", on_click="ignore",
                       icon=":material/download:", help="One mskf_i.csv per fold (IMADE_ID, IMAGE_PATH, SPLIT), "
                       "as the authors' notebook writes them.")
    d2.download_button("Per-fold COCO JSONs (zip)", data=lambda: fold_files.fold_coco_zip(ds, folds),
                       file_name=f"mskf_coco_{tag}.zip", mime="application/zip", on_click="ignore",
                       icon=":material/download:", help="mskf_i/{train,valid}/_annotations.coco.json filtered from "
                       "the loaded records, categories as in the input (parent id 0 included); no images.")
    d3.download_button("Tables on this page (CSV zip)", data=lambda: fold_files.tables_csv_zip(tables),
                       file_name=f"fold_balance_{tag}.zip", mime="application/zip", on_click="ignore",
                       icon=":material/table:")
    st.caption("IMADE_ID (the authors' spelling) is the image id of the COCO file when the folds come from a single "
               "file (the no_splits set, as the authors did); for a split layout, whose files reuse ids, it is the "
               "image's position in the pooled set, the id the COCO export uses too. Same folds from the command line: "
               f"`python -m xami_core folds --data PATH --method {method if method != FILES else 'stratified'} --k {k} "
               f"--seed {seed}{group_args(by, radius) if method in F.GROUPED_METHODS else ''} --out DIR`.")


def group_args(by: str, radius: float | None) -> str:
    """The `folds` command's grouping options for the groups shown (`--group sky --radius-arcmin 17`)."""
    return f" --group {by}" + (f" --radius-arcmin {radius:g}" if by == "sky" else "")


if __name__ == "__main__":  # run as a script by Streamlit's legacy pages/ mode (see run_app)
    run_app()
