"""Imported only in the load workers' fork server (see `worker`): workers never run the server's entry script.

multiprocessing re-runs the parent's `__main__` in every new process. In the Streamlit server that is
the page script of whichever session is running (Streamlit installs it as `__main__`), so a worker
would draw a page instead of loading; a worker only needs the module-level function it is sent.
"""

from __future__ import annotations

from multiprocessing import spawn


def _keep_main(_main: str) -> None:
    """Leave the fork server's `__main__` as it is (the worker's target never refers to it)."""


spawn._fixup_main_from_path = _keep_main  # noqa: SLF001 - this process exists only to fork load workers
spawn._fixup_main_from_name = _keep_main  # noqa: SLF001
