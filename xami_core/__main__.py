"""`python -m xami_core <command> ...`: the command line (see `xami_core.cli`)."""

from __future__ import annotations

import sys

from xami_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
