"""Fold balance: how evenly the classes, filters and hard negatives fall into each fold's train and valid parts."""

from __future__ import annotations

import math

import streamlit as st

from xami_core.access import check_local_path
from xami_core.analysis import fold_balance
from xami_core.analysis import folds as F
from xami_core.io import fold_files
from xami_core.model import XamiDataError
from xami_core.render.fold_figures import deviation_heatmap, fold_class_figure, method_comparison_figure
from xami_ui.cache import cached_fold_files, cached_folds, cached_method_comparison
from xami_ui.context import current_dataset, current_palette, run_app, synthetic_notice_ui
from xami_ui.export import chart_ui, table_download_ui
from xami_ui.text import md_literal

FILES = "files"
METHOD_CHOICES = ["stratified", "kfold", "multilabel", "published", FILES]
METHOD_HELP = {
    "stratified": "The authors' recipe: StratifiedKFold on each image's label string (its sorted class ids).",
    "kfold": "Plain shuffled KFold, the baseline the authors compared against.",
    "multilabel": "Iterative multilabel stratification (iterative-stratification) on the image x class matrix.",
    "published": "The train/valid split published on Hugging Face, as one fold.",
    FILES: "mskf_k.csv files or mskf_k/{train,valid}/ folders the authors' scripts wrote, matched by file name.",
}
# Widget keys are the query-parameter names: every control is bound to the link (bind="query-params"),
# which also keeps its value across a visit to another page; a value the link cannot hold is dropped.
Q_METHOD, Q_K, Q_SEED, Q_MEASURE, Q_VALUE, Q_DIR = "fold_method", "fold_k", "fold_seed", "fold_measure", "fold_value", "fold_dir"
BOUND = {"bind": "query-params", "persist_state": "session"}


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

    try:
        if method == FILES:
            if not folder:
                st.info("Enter the folder that holds the fold files (mskf_k.csv or mskf_k/ folders).")
                st.stop()
            check_local_path(folder)  # a deployment's allowed roots apply to fold folders too
            folds = cached_fold_files(ds, folder, fold_files.fold_files_fingerprint(folder))
        else:
            folds = cached_folds(ds, method, k, seed)
    except XamiDataError as exc:
        st.error(f"{md_literal(exc)}\n\nPick another fold method, or check the folder.", icon=":material/error:")
        st.stop()

    n_folds = len(folds.folds)
    st.markdown(f"**{md_literal(folds.label)}** · {n_folds} fold{'s' if n_folds > 1 else ''} over {ds.images['image_id'].nunique():,} "
                f"images" + (f" (splits pooled: {md_literal(', '.join(ds.splits))})" if len(ds.splits) > 1 and method != "published" else ""))
    for note in folds.warnings:
        st.warning(f"Splitter warning: {md_literal(note)} See the rare label combinations below.", icon=":material/warning:")
    if folds.problems:
        with st.expander(f"Fold file problems ({len(folds.problems)})", expanded=True):
            st.dataframe([vars(p) for p in folds.problems], width="stretch", hide_index=True)

    counts = fold_balance.fold_class_counts(ds, folds)
    balance = fold_balance.fold_balance(ds, folds, measure, counts=counts)
    deviation = fold_balance.fold_deviation(counts, measure)
    summary = fold_balance.balance_summary(balance)

    m1, m2, m3, m4 = st.columns(4)
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

    tag = f"{method}_k{n_folds}" + (f"_seed{seed}" if method not in ("published", FILES) else "")

    st.subheader("Train vs valid per class, every fold")
    what = "(image, class) pairs" if measure == "images" else "annotations"
    st.caption(f"Bars: {'share of the part’s ' + what if value == 'share' else 'number of ' + ('images containing the class' if measure == 'images' else 'annotations')}; "
               "solid = train, hatched = valid, in the class colours. Panel titles: the fold's mean |train − valid| "
               "share (authors' measure) in percentage points (pp).")
    chart_ui(fold_class_figure(counts, measure=measure, value=value, palette=palette,
                               fold_diffs=dict(zip(balance["fold"], balance["authors_mean_diff"]))),
             name=f"fold_classes_{tag}", key="fold_classes_chart", aspect=0.4, wide=True)

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

    st.subheader("Observation filters per fold")
    filter_counts = fold_balance.fold_filter_counts(ds, folds)
    chart_ui(deviation_heatmap(fold_balance.fold_filter_deviation(filter_counts), what="filter", n_folds=n_folds),
             name=f"fold_filter_deviation_{tag}", key="fold_filter_chart", aspect=0.5)
    st.caption("Valid minus train share of images per filter, filters from long (V) to short (UVW2) wavelength, "
               "the broad-band White filter last. Filters are not stratified: only chance balances them. "
               "Image counts per filter, fold and part:")
    st.dataframe(fold_balance.fold_filter_table(filter_counts), width="stretch")

    empty = fold_balance.empty_per_fold(ds, folds)
    k_used = n_folds if method in ("published", FILES) else k
    rare = F.rare_labels(ds, k_used)
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
               f"--seed {seed} --out DIR`.")


if __name__ == "__main__":  # run as a script by Streamlit's legacy pages/ mode (see run_app)
    run_app()
