"""Half-open offset intervals `[start, end)` as lists of `[start, end]` pairs: merge, subtract, gaps."""
from __future__ import annotations


def merge_intervals(intervals: list[list[int]]) -> list[list[int]]:
    """Sorted half-open intervals with touching or overlapping ones joined."""
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def subtract(intervals: list[list[int]], taken: list[list[int]]) -> list[list[int]]:
    """The parts of half-open `intervals` not inside any of `taken` (both sorted)."""
    result = []
    for start, end in intervals:
        cursor = start
        for t_start, t_end in taken:
            if t_end <= cursor or t_start >= end:
                continue
            if t_start > cursor:
                result.append([cursor, t_start])
            cursor = max(cursor, t_end)
        if cursor < end:
            result.append([cursor, end])
    return result


def offset_gaps(offsets: list[int], start: int, end: int) -> list[list[int]]:
    """The half-open intervals of [start, end) that `offsets` (sorted, unique) does not cover."""
    gaps = []
    expected = start
    for offset in offsets:
        if offset > expected:
            gaps.append([expected, offset])
        expected = offset + 1
    if end > expected:
        gaps.append([expected, end])
    return gaps


