"""Tables that read like a report, not like pandas: no index column, keys as text, durations as
`5 ms` / `2 min 10 s`, integers without `.0`, empty cells blank, long text wrapping, a caption, "none
found" instead of an empty header, and long tables cut to their first rows with the total stated.

`table(data, caption=...)` takes a DuckDB relation, a pandas DataFrame or a list of dicts and
returns an object that Jupyter (and the HTML export) shows as that table.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from html import escape

from .._text import key_utf8

MAX_ROWS = 15  # a report shows the first rows of a long table and says how many there are


class Shown:
    """HTML for Jupyter (`_repr_html_`) and the same table as plain text lines (`__repr__`)."""

    def __init__(self, html: str, text: str):
        self.html, self.text = html, text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


def duration_text(value: timedelta | float | int | None, *, unit: str = "ms") -> str:
    """`5 ms`, `1.2 s`, `2 min 10 s`, `3 h 5 min`, `2 d 4 h` (a number is taken in `unit`: ms or s)."""
    if value is None:
        return ""
    ms = value.total_seconds() * 1000 if isinstance(value, timedelta) else float(value) * (1000 if unit == "s" else 1)
    sign, ms = ("−", -ms) if ms < 0 else ("", ms)
    if ms < 1000:
        text = f"{ms:.0f} ms" if ms >= 1 or ms == 0 else f"{ms:.2f} ms"
    elif ms < 60_000:
        text = f"{ms / 1000:.1f}".removesuffix(".0") + " s"
    else:
        seconds = round(ms / 1000)
        days, rest = divmod(seconds, 86_400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
        first = next(n for n, (v, _) in enumerate(parts) if v)
        text = " ".join(f"{v} {u}" for v, u in parts[first:first + 2] if v)
    return sign + text


def cell_text(value) -> str:
    """One value as a report shows it."""
    if _missing(value):
        return ""
    if isinstance(value, float):
        return f"{int(value):,}" if value.is_integer() and abs(value) < 1e15 else f"{value:,.3g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal):
        return cell_text(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):  # a key: text where it is printable, else hex
        text = key_utf8(bytes(value))
        return text if text is not None and text.isprintable() else "0x" + bytes(value).hex()
    if isinstance(value, timedelta):
        return duration_text(value)
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        return text.removesuffix(".000")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return ", ".join(f"{k}: {cell_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        return ", ".join(cell_text(v) for v in value)
    if type(value).__name__ in ("NaTType", "NAType"):
        return ""
    if hasattr(value, "to_pytimedelta"):
        return duration_text(value.to_pytimedelta())
    if hasattr(value, "to_pydatetime"):
        return cell_text(value.to_pydatetime())
    return str(value)


def _rows(data, limit: int) -> tuple[list[str], list[tuple], int]:
    """(columns, the first `limit` rows, the total number of rows)."""
    if isinstance(data, list):
        columns = list(data[0]) if data else []
        return columns, [tuple(row.get(c) for c in columns) for row in data[:limit]], len(data)
    if hasattr(data, "itertuples"):  # a pandas DataFrame: its index is not data
        rows = [tuple(None if _missing(v) else v for v in row) for row in data.head(limit).itertuples(index=False)]
        return [str(c) for c in data.columns], rows, len(data)
    (total,), = data.count("*").fetchall()
    return list(data.columns), data.limit(limit).fetchall(), total


def _missing(value) -> bool:
    try:
        return value is None or bool(value != value)  # NaN, NaT, NA
    except (TypeError, ValueError):
        return False


def table(data, *, caption: str, limit: int = MAX_ROWS, empty: str = "none found") -> Shown:
    """`data` (DuckDB relation, DataFrame or list of dicts) as a captioned report table: its first
    `limit` rows, and "first N of TOTAL" in the caption when it has more; `empty` when it has none."""
    columns, rows, total = _rows(data, limit)
    if total == 0:
        return Shown(f'<p class="evkit-table-empty"><b>{escape(caption)}</b>: {escape(empty)}.</p>',
                     f"{caption}: {empty}.")
    shown = f" (first {len(rows):,} of {total:,})" if total > len(rows) else f" ({total:,})"
    cells = [[cell_text(v) for v in row] for row in rows]
    numeric = [all(isinstance(row[i], (int, float, Decimal, timedelta)) and not isinstance(row[i], bool)
                   or row[i] is None for row in rows) for i in range(len(columns))]
    head = "".join(f'<th style="text-align:{"right" if numeric[i] else "left"}">{escape(c)}</th>'
                   for i, c in enumerate(columns))
    body = "".join("<tr>" + "".join(
        f'<td style="text-align:{"right" if numeric[i] else "left"};vertical-align:top;white-space:normal;'
        f'overflow-wrap:break-word">{escape(text)}</td>' for i, text in enumerate(row)) + "</tr>" for row in cells)
    html = (f'<table class="evkit-table"><caption style="text-align:left;caption-side:top;font-weight:600">'
            f'{escape(caption)}{escape(shown)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
    text = "\n".join([caption + shown, " | ".join(columns), *(" | ".join(row) for row in cells)])
    return Shown(html, text)
