"""Command line: `python -m xami_core <command> ...` (e.g. `download`, `folds`).

Each command lives in its own module exposing `add_parser(subparsers)` and
`run(args) -> int`; register it in `COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from xami_core.model import XamiDataError

# Registration list: one module per subcommand, in the order `--help` shows them.
COMMAND_MODULES: tuple[str, ...] = (
    "xami_core.cli.download",  # download   (real data: Hugging Face variants)
    "xami_core.cli.folds",  # folds      (the authors' k folds)
    "xami_core.cli.figures",  # figures  (paper figures and LaTeX tables)
    "xami_core.cli.evaluate",  # evaluate (predictions scored with pycocotools COCOeval)
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand that is installed."""
    parser = argparse.ArgumentParser(prog="python -m xami_core", description="XAMI Explorer command line tools.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a missing dependency inside the module is a real error
                raise
            continue  # a command not written yet
        before = set(subparsers.choices)
        module.add_parser(subparsers)
        for command in set(subparsers.choices) - before:  # the module's run() handles what it added
            subparsers.choices[command].set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the chosen command, and turn data errors into a message and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args))
    except XamiDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing half-written was kept", file=sys.stderr)
        return 130

