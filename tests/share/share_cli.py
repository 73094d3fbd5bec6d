"""Run the evkit CLI in this process and capture what a user sees (tests/share)."""
from __future__ import annotations

import contextlib
import io

from evkit.cli import main


def run_cli(*argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `evkit ARGV`; an exception escaping is the traceback a user would see."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()
