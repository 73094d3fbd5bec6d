"""The decoder type and the registry of formats (see the package docstring)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...errors import UsageError


@dataclass(frozen=True)
class Decoder:
    """A format: its name, the SQL that extracts `paths` from a bytes column, and whether paths
    other than `$` (the whole decoded value) mean anything in it."""

    name: str
    extract: Callable[[str, list[str]], str]
    nested: bool = False

    def check_path(self, path: str, where: str) -> None:
        if path != "$" and not self.nested:
            raise UsageError(f"{where}: {self.name} values have no fields; use $ for the whole value")


DECODERS: dict[str, Decoder] = {}


def register(decoder: Decoder) -> Decoder:
    """Make a format available to `key_format` / `value_format` (a later one of the same name replaces it)."""
    DECODERS[decoder.name] = decoder
    return decoder


def decoder(name: str, where: str) -> Decoder:
    """The registered decoder `name`; UsageError naming the formats there are."""
    try:
        return DECODERS[name]
    except KeyError:
        raise UsageError(f"{where}: unknown format {name!r}; formats are {', '.join(sorted(DECODERS))}") from None


def sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"
