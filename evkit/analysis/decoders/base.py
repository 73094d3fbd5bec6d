"""The decoder type and the registry of formats (see the package docstring)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...errors import UsageError


@dataclass(frozen=True)
class Decoder:
    """A format: its name, the SQL that extracts `paths` from a bytes column, whether paths other
    than `$` (the whole decoded value) mean anything in it, and the Schema Registry schema types
    (`AVRO`, `PROTOBUF`, `JSON`) whose framed values a decode step turns into JSON text first
    (decoders/step.py); the SQL then reads that text from `<column>_decoded`, and `<column>_failure`
    says why a value did not decode."""

    name: str
    extract: Callable[[str, list[str]], str]
    nested: bool = False
    schema_types: tuple[str, ...] = ()

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


def decoded_extract(column: str, paths: list[str]) -> str:
    """The paths from the decode step's JSON text of `column` (NULL where it did not decode)."""
    return f"try(json_extract_string({column}_decoded, {sql_list(paths)}))"


def registry_decoder(name: str, schema_type: str) -> Decoder:
    """A format whose values are always framed by a Schema Registry: every value that is not framed
    by a stored schema of `schema_type`, or does not decode in it, is undecodable."""
    return Decoder(name, decoded_extract, nested=True, schema_types=(schema_type,))
