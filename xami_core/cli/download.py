"""`python -m xami_core download`: fetch a published XAMI variant with a terminal progress bar."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xami_core.io.hub import DEFAULT_VARIANT, REPO_ID, VARIANTS, Progress, extract_variant_to, hub_dataset_path


class _TerminalProgress:
    """A tqdm bar per stage (download, extract), fed by `Progress` reports."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars: dict[str, object] = {}

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm  # noqa: PLC0415 - only the command line draws bars

        bar = self.bars.get(p.stage)
        if bar is None:
            label = "Downloading" if p.stage == "download" else "Extracting"
            bar = self.bars[p.stage] = tqdm(total=p.total, unit="B", unit_scale=True, unit_divisor=1024,
                                            desc=label, file=sys.stderr, dynamic_ncols=True)
        if p.total and bar.total != p.total:
            bar.total = p.total
        bar.update(p.done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `download` subcommand."""
    parser = subparsers.add_parser(
        "download", help="download and extract a published XAMI variant from the Hugging Face Hub",
        description=f"Download a variant of {REPO_ID} through huggingface_hub (HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, "
                    "HF_HUB_OFFLINE and HF_TOKEN apply), verify and extract it safely. Downloads are cached: "
                    "a second run does not use the network.")
    parser.add_argument("--variant", choices=list(VARIANTS), default=DEFAULT_VARIANT,
                        help="which archive (default: %(default)s)")
    parser.add_argument("--dest", type=Path, default=None,
                        help="extract into DEST/<variant>/ (default: the XAMI Explorer cache)")
    parser.add_argument("--refresh", action="store_true", help="ask the Hub for a newer revision even if cached")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Download (once), extract, print the folder to load."""
    progress = _TerminalProgress(enabled=not args.quiet)
    try:
        if args.dest is not None:
            folder = extract_variant_to(args.variant, args.dest, progress=progress, refresh=args.refresh)
        else:
            folder = hub_dataset_path(args.variant, progress=progress, refresh=args.refresh)
    finally:
        progress.close()
    print(folder)
    print(f"Load it with: streamlit run app.py -- --data {folder}", file=sys.stderr)
    return 0
