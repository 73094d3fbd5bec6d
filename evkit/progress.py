"""Progress for long work: a tqdm bar (terminal or Jupyter widget) with records, MB, rate and ETA."""
from __future__ import annotations

import sys

from tqdm.auto import tqdm


class Progress:
    """Messages go to stdout, the bar to stderr; `quiet=True` silences both (errors still raise)."""

    def __init__(self, *, quiet: bool = False):
        self.quiet = quiet
        self.bar: tqdm | None = None

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
        if self.bar is not None:
            self.bar.set_postfix_str(f"{records:,} records, {data_bytes / 1e6:,.1f} MB", refresh=False)
            self.bar.update(advance)

    def status(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(text)
        elif not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
