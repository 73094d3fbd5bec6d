"""Bad input never gives a traceback: fuzzed range specs and field mappings, damaged datasets, odd records.

Every input either works or is refused with one line (`evkit: error: ...`, exit code 2) that says
which file or option and why; nothing is analysed silently on partial data.
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

import evkit
from evkit.cli import main
from evkit.dataset import data_files, read_manifests, records_table, write_records
from evkit.fields import FIELDS
from evkit.ranges import parse_position_spec, parse_topic

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FUZZ_SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def run_cli(*argv: str) -> tuple[int, str, str]:
    """Run the evkit CLI in this process; an exception escaping it is the traceback a user would see."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def assert_one_line_refusal(code: int, stderr: str) -> str:
    assert code == 2
    (line,) = stderr.splitlines()
    assert line.startswith("evkit: error: ")
    return line


def assert_works_or_usage_error(parse, *args, **kwargs) -> None:
    try:
        parse(*args, **kwargs)
    except evkit.UsageError as exc:
        assert "\n" not in str(exc) and str(exc)


# --- range specs ---------------------------------------------------------------------------------------------

numbers = st.from_regex(r"\A-?[0-9]{1,25}\Z")
positions = st.one_of(
    st.text(max_size=30),
    numbers,
    st.sampled_from(["beginning", "end", " end ", "", "-", "@", "--1", "0x10", "1e3", "٣"]),
    st.from_regex(r"\A@-?[0-9]{0,25}\Z"),
    st.from_regex(r"\A-[0-9]{1,25}(ms|s|m|h|d|w|)\Z"),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?\Z"),
)
overrides = st.builds(lambda t, p, pos: f"{t}:{p}={pos}", st.sampled_from(["t", "a.b", "", "x:y"]), numbers, positions)
partition_lists = st.one_of(st.text(alphabet="0123456789,- ", max_size=15), st.text(max_size=10))
topic_specs = st.one_of(
    st.text(max_size=30),
    st.builds(lambda name, parts: f"{name}:{parts}", st.text(alphabet=string.ascii_letters + "._-", max_size=12),
              partition_lists),
    st.builds(lambda regex, parts: f"/{regex}/{parts}", st.text(alphabet="ab.*+?()[]{}|\\^$,0123456789", max_size=15),
              st.one_of(st.just(""), partition_lists.map(lambda p: ":" + p), st.text(max_size=5))),
)


@FUZZ
@given(spec=topic_specs)
def test_any_topic_selector_parses_or_is_a_one_line_usage_error(spec):
    assert_works_or_usage_error(parse_topic, spec)


@FUZZ
@given(values=st.lists(st.one_of(positions, overrides), max_size=3))
@example(values=["@99999999999999999999999"])
@example(values=["-9999999999999999999999d"])
@example(values=["1969-12-31T23:59:59.999Z"])  # -1 ms: Kafka would read it as "latest"
def test_any_start_or_end_parses_or_is_a_one_line_usage_error(values):
    try:
        spec = parse_position_spec(values, "beginning", now_ms=1_764_237_600_000)
    except evkit.UsageError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    for position in [spec.default, *spec.overrides.values()]:
        if position.kind == "timestamp":  # what librdkafka and ListOffsets accept as a time
            assert 0 <= position.value < 2**63


@pytest.fixture(scope="module")
def small_topic(bootstrap, admin):
    """A 2-partition topic of 20 records on the shared broker (created once: hypothesis reuses it)."""
    from confluent_kafka.admin import NewTopic

    from conftest import wait_for_leaders
    from dumping import produce

    topic = f"bad-input-{__import__('uuid').uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(30)
    wait_for_leaders(admin, topic, 2)
    produce(bootstrap, topic, [{"key": b"k%d" % i, "value": b"v", "partition": i % 2} for i in range(20)])
    return topic


@pytest.mark.broker
@FUZZ_SLOW
@given(partitions=st.one_of(st.none(), partition_lists), start=st.one_of(positions, overrides),
       end=st.one_of(positions, overrides))
@example(partitions=None, start="@99999999999999999999999", end="end")
def test_dump_cli_with_any_range_plans_or_refuses_in_one_line(bootstrap, small_topic, tmp_path, partitions,
                                                             start, end):
    topic = small_topic if partitions is None else f"{small_topic}:{partitions}"
    code, _, stderr = run_cli("dump", "--bootstrap", bootstrap, "--out", str(tmp_path / "never"), "--topic", topic,
                              "--start", start, "--end", end, "--dry-run", "--quiet", "--timeout", "10")
    if code != 0:
        assert_one_line_refusal(code, stderr)
    assert not (tmp_path / "never").exists()
