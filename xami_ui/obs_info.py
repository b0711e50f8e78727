"""The observation-metadata file a page needs: where it is, and the offer to fetch it when it is not here."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from xami_core.io import metadata
from xami_core.model import XamiDataError

from .sidebar import current_obs_info_path
from .text import md_literal


def obs_info_source_ui(synthetic: bool, why: str, key: str) -> metadata.ObsInfoSource:
    """The metadata source for this session; without a file, an offer to fetch the authors' copy.

    Args:
        synthetic: the dataset is the bundled sample (its own made-up metadata file is used).
        why: the sentence the offer starts with (what the page needs the metadata for).
        key: the fetch button's widget key, unique per page.

    Returns the source; its `path` is None while no file is here (not offered, not fetched, or
    the fetch failed, which is shown as a warning).
    """
    source = metadata.obs_info_source(local=current_obs_info_path(), synthetic=synthetic)
    if source.path is not None:
        return source
    offer = st.empty()  # the offer goes once the file is here
    with offer.container():
        st.info(f"{why} The authors publish the metadata in their GitHub repository: fetch it once (about "
                f"{metadata.APPROX_KB} kB; it is cached), or give a local copy in the sidebar under *Observation "
                "metadata file*.", icon=":material/travel_explore:")
        fetch = st.button("Fetch observation metadata from GitHub", key=key, icon=":material/download:")
    if not fetch:
        return source
    try:
        with st.spinner(f"Fetching {md_literal(source.url)}…"):
            source = replace(source, path=metadata.fetch_obs_info(source.url))
        offer.empty()
    except XamiDataError as exc:
        st.warning(md_literal(exc), icon=":material/cloud_off:")
    return source
