"""The differential test: evkit's findings equal the reference model's on generated streams.

Each example is a set of Kafka logs with faults (tests/reference/generate.py), written as evkit
datasets exactly as dumps of them would be (one directory per non-overlapping set of dumps), opened
with `evkit.open` and checked; the plain-Python model (tests/reference/) computes the findings from
the same records, ranges and configs. Every check is compared on every example, as sets of
(check, severity, topic, partition, key, offsets).

`make test` runs a fixed, derandomized set of examples. Before any change to a check, run
`make fuzz`: 10,000 random examples with a printed seed (EVKIT_FUZZ_SEED=N reruns one).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings

import evkit
from evkit.store.records import records_table
from evkit.store.writer import write_records
from reference.generate import BASE_MS, Scenario, scenarios
from reference.model import CHECKS, findings as model_findings
from reference.stream import Finding

FUZZ_EXAMPLES = int(os.environ.get("EVKIT_FUZZ_EXAMPLES", "0"))
EXAMPLES = settings(max_examples=FUZZ_EXAMPLES or 300, deadline=None, derandomize=not FUZZ_EXAMPLES,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], print_blob=True)


def write_scenario(scenario: Scenario, root: Path) -> tuple[list[Path], dict[int, int]]:
    """Write each dump of the scenario as a run into its dataset directory; return the directories
    and each dump's recorded end_fixed_at (epoch ms)."""
    moments = {}
    for number, dump in enumerate(scenario.dumps):
        rows = scenario.dumped_rows(dump)
        latest = max((row["timestamp"] for row in rows), default=BASE_MS)
        manifest = write_records(
            root / f"d{dump.dataset}", records_table(rows), cluster_id=scenario.cluster_id,
            topic_configs=scenario.configs, partition_counts=scenario.partition_counts, ranges=dump.ranges,
            run_id=f"run{number}", isolation=dump.isolation,
            watermarks={place: (dump.lows[place], end) for place, (_, end) in dump.ranges.items()},
            end_fixed_at=None if dump.end_fixed_at is None else latest + dump.end_fixed_at,
        )
        moments[number] = max(_epoch_ms(p.end_fixed_at) for p in manifest.partitions)
    return sorted({root / f"d{d.dataset}" for d in scenario.dumps}), moments


def _epoch_ms(iso: str) -> int:
    from datetime import datetime
    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def evkit_findings(paths: list[Path], scenario: Scenario) -> tuple[set[Finding], dict[Finding, str]]:
    """evkit's findings as Finding tuples, and each one's detail (to explain a difference)."""
    with evkit.open(*paths, config=scenario.config(), quiet=True) as dataset:
        dataset.materialize()
        rows = dataset.findings(list(CHECKS)).fetchall()
    found = {}
    for check, severity, topic, partition, key, offsets, *_, detail in rows:
        found[Finding(check, severity, topic, partition, None if key is None else bytes(key),
                      tuple(offsets or ()))] = detail
    return set(found), found


def explain(expected: set[Finding], actual: set[Finding], details: dict[Finding, str]) -> str:
    lines = ["evkit and the reference model disagree:"]
    lines += [f"  only evkit: {f} -- {details[f]}" for f in sorted(actual - expected, key=repr)]
    lines += [f"  only model: {f}" for f in sorted(expected - actual, key=repr)]
    return "\n".join(lines)


def check_scenario(scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory(prefix="evkit-model-") as tmp:
        if not scenario.dumps:
            return
        paths, moments = write_scenario(scenario, Path(tmp))
        actual, details = evkit_findings(paths, scenario)
    expected = model_findings(scenario.stream(moments))
    assert actual == expected, explain(expected, actual, details)


_seeded = seed(int(os.environ["EVKIT_FUZZ_SEED"])) if os.environ.get("EVKIT_FUZZ_SEED") else (lambda test: test)


@pytest.mark.timeout(1800)  # 300 examples of 15 checks and rules: ~7 min on 2 idle cores, more when shared
@_seeded
@EXAMPLES
@given(scenarios())
def test_evkit_findings_equal_the_reference_model(scenario):
    check_scenario(scenario)
