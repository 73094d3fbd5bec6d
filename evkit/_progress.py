"""Progress output, on stderr only and only where someone watches: a bar (tqdm) on a terminal, a
widget in Jupyter; nothing in a file or a cron log, and nothing with `quiet=True`."""
from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm


def shown(quiet: bool) -> bool:
    """True where progress helps: not quiet, and stderr is a terminal or a Jupyter kernel draws it."""
    return not quiet and (sys.stderr.isatty() or _in_kernel())


def _in_kernel() -> bool:
    """True inside a running Jupyter kernel (not merely where ipykernel was imported, as in a test
    process that ran a notebook)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def bar(*, quiet: bool, **options) -> tqdm:
    """A tqdm bar on stderr where `shown(quiet)`, else a silent one."""
    return tqdm(disable=not shown(quiet), file=sys.stderr, **options)


class Progress:
    """A long stage (a dump's read, synth's produce) as a bar with records, MB, rate and ETA."""

    def __init__(self, *, quiet: bool = False):
        self.quiet = quiet
        self.show = shown(quiet)
        self.bar: tqdm | None = None
        self.records = 0
        self.data_bytes = 0
        self._last_status = 0.0

    def start(self, *, total: int, unit: str) -> None:
        if self.show and total:
            self.bar = tqdm(total=total, unit=f" {unit}", unit_scale=True, dynamic_ncols=True, file=sys.stderr,
                            mininterval=0.5, smoothing=0.1)

    def update(self, advance: int, *, records: int, data_bytes: int) -> None:
        """Move the bar by `advance` units; `records` and `data_bytes` are added to the totals."""
        self.records += records
        self.data_bytes += data_bytes
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.records:,} records, {self.data_bytes / 1e6:,.1f} MB", refresh=False)
            self.bar.update(advance)

    def status(self, text: str) -> None:
        """A transient state (e.g. waiting for the broker), at most every 5 s: on the bar, or as a line
        where there is none (a cron log should say why a dump is slow)."""
        if self.quiet or time.monotonic() - self._last_status < 5:
            return
        self._last_status = time.monotonic()
        if self.bar is not None:
            self.bar.set_postfix_str(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
