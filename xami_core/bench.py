"""`python -m xami_core.bench [--quick] [--only SECTION ...]`: the benchmark command.

The benchmarks themselves live in the top-level `benchmarks` package, outside the runtime core.
"""

from __future__ import annotations

import sys

from benchmarks.run import main

if __name__ == "__main__":
    sys.exit(main())
