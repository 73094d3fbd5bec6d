"""Benchmark: `evkit mask` records/s on N records, against reading and rewriting the same dataset
unmasked in the same run.

    cd benchmarks && ../.venv/bin/python bench_mask.py --records 1000000 --work /tmp/bench-diff

The dataset is bench_checks' clean stream (~250-byte JSON values, 100k distinct keys, a unique
traceparent header per record, 12 partitions; shared with bench_diff.py in the same --work). The
baseline reads every file and writes it again through evkit's partition writer with no masking:
what `evkit mask` costs before it masks anything. Two rule sets: `json` (keys hashed, a JSON field
hashed and one redacted: each value parsed and walked) and `bytes` (key, value and headers hashed
whole: no parsing). Each run is a child process reporting wall and CPU seconds and peak RSS.
`--old-src DIR` adds the same masks by an older evkit package in DIR (`git archive REV evkit | tar
-x -C DIR`) in the same run, and says whether its files are byte-identical to the new code's. Run
by hand; the figures go to docs/benchmarks.md and docs/sharing.md.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import bench_checks

KEY = b"bench-mask-key-0123456789abcdef"
RULES = {
    "json": {"defaults": {"key": "hash"}, "topics": {bench_checks.TOPIC: {"$.user_id": "hash", "$.pad": "redact"}}},
    "bytes": {"defaults": {"key": "hash", "value": "hash", "header:*": "hash"}},
}


def copy_unmasked(source: Path, out: Path) -> int:
    """Read each file of the verified dataset and write it again with evkit's writer: the baseline."""
    import pyarrow.parquet as pq

    from evkit.analysis.verify import load_dataset
    from evkit.store.records import RECORD_SCHEMA
    from evkit.store.writer import PartitionFileWriter

    dataset = load_dataset(source, quiet=True)
    rows = 0
    for manifest in dataset.manifests:
        for part in manifest.partitions:
            for entry in part.files:
                table = pq.read_table(source / entry.path, schema=RECORD_SCHEMA)
                writer = PartitionFileWriter(out, part.topic, part.partition, entry.start, run_id=manifest.run_id)
                writer.write(table)
                writer.commit(entry.end)
                rows += table.num_rows
    return rows


def child(source: str, out: str, rules: str) -> None:
    import evkit

    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    if rules == "none":
        records = copy_unmasked(Path(source), Path(out))
    else:
        records = sum(m.records for m in evkit.mask(source, out=out, rules=RULES[rules], key=KEY, quiet=True))
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    files = hashlib.sha256()  # what the Parquet files hold, to compare the old code's with the new
    for path in sorted(Path(out).rglob("*.parquet")):
        files.update(path.relative_to(out).as_posix().encode() + path.read_bytes())
    shutil.rmtree(out, ignore_errors=True)
    print(json.dumps({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "records": records,
                      "peak_mb": usage.ru_maxrss / 1024, "files": files.hexdigest()}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-mask"))
    parser.add_argument("--rules", nargs="+", default=["json", "bytes"], choices=sorted(RULES))
    parser.add_argument("--old-src", type=Path, help="a directory holding an older evkit package, run in the same run")
    args = parser.parse_args()
    source = args.work / f"a-{args.records}"
    if not source.exists():
        bench_checks.generate(source, args.records)
    floor, new_files = None, {}
    runs = [(rules, None) for rules in ["none", *args.rules]] + [(rules, args.old_src) for rules in args.rules if args.old_src]
    for rules, src in runs:
        load = os.getloadavg()[0]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(src or ""), os.environ.get("PYTHONPATH")]))}
        out = subprocess.run([sys.executable, __file__, "--child", str(source), str(args.work / "masked"), rules],
                             capture_output=True, text=True, check=True, env=env).stdout
        result = json.loads(out.splitlines()[-1])
        floor = floor or result
        name = "read + rewrite, unmasked (baseline)" if rules == "none" else f"evkit mask, {rules} rules"
        if src:
            name += f", old: {'same' if result['files'] == new_files[rules] else 'OTHER'} files"
        else:
            new_files[rules] = result["files"]
        print(f"{result['records']:>11,} records, {name:<44}: {result['seconds']:7.1f}s wall "
              f"({result['records'] / result['seconds']:9,.0f} records/s, {result['seconds'] / floor['seconds']:5.2f}x), "
              f"{result['cpu']:7.1f}s CPU ({result['records'] / result['cpu']:9,.0f} records/CPU-s, "
              f"{result['cpu'] / floor['cpu']:5.2f}x), peak {result['peak_mb']:5.0f} MB, load {load:.0f}-{os.getloadavg()[0]:.0f}",
              flush=True)


if __name__ == "__main__":
    main()
