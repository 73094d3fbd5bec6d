"""Progress for long work: a tqdm bar (terminal or Jupyter widget) with records, MB, rate and ETA."""
from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm


class Progress:
    """Messages go to stdout, the bar to stderr; `quiet=True` silences both (errors still raise)."""

    def __init__(self, *, quiet: bool = False):
        self.quiet = quiet
        self.bar: tqdm | None = None
        self.records = 0
        self.data_bytes = 0
        self._last_status = 0.0

    def message(self, text: str) -> None:
        if not self.quiet:
            if self.bar is not None:
                self.bar.write(text, file=sys.stdout)
            else:
                print(text, flush=True)

    def start(self, *, total: int, unit: str) -> None:
        if self.quiet or total == 0:
            return
        self.bar = tqdm(total=total, unit=f" {unit}", unit_scale=True, dynamic_ncols=True, file=sys.stderr,
                        mininterval=0.5, smoothing=0.1)

    def update(self, advance: int, *, records: int, data_bytes: int) -> None:
        """Move the bar by `advance` offsets; `records` and `data_bytes` are added to the totals."""
        self.records += records
        self.data_bytes += data_bytes
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.records:,} records, {self.data_bytes / 1e6:,.1f} MB", refresh=False)
            self.bar.update(advance)

    def status(self, text: str) -> None:
        """A transient state (e.g. waiting for the broker), at most every 5 s."""
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
