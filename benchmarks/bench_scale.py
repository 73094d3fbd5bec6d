"""Scale-out: a dump by the local engine vs Spark local[2] vs kcat, and the checks from S3 vs local disk.

    .venv/bin/python benchmarks/bench_scale.py --records 5000000            # dump part, private broker
    .venv/bin/python benchmarks/bench_scale.py --skip-dump --check-records 10000000   # checks part
    .venv/bin/python benchmarks/bench_scale.py --skip-dump --memory-limits 1GB,2GB    # does the peak follow the limit?

Dump part: produces N records (bench_dump.py's records: ~200-byte JSON values, small keys, one
header) to a topic of a private broker (kafka/kafkactl.py in a temporary directory), then, one after
the other in the same run, each in its own process: kcat writing every field to a file, `evkit dump`
(local engine, its default workers) and `evkit dump --engine spark` on local[2] (Spark's session
start and the job timed apart). Prints records/s and records/s per Spark core.

Checks part: bench_checks.py's dataset (generated when missing), copied to a bucket of a private S3
server (kafka/s3ctl.py: moto, in memory, on loopback), then the six analysis checks over the local
directory and over `s3://`, each in a child process. Run by hand; figures go to docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "kafka"))
sys.path.insert(0, str(REPO / "benchmarks"))
import bench_checks  # noqa: E402
import bench_dump  # noqa: E402
import kafkactl  # noqa: E402
import s3ctl  # noqa: E402

JARS = REPO / "kafka" / "target" / "spark-jars"

SPARK_CHILD = r"""
import json, os, sys, time
started = time.monotonic()
os.environ["PYSPARK_PYTHON"] = sys.executable  # Spark's Python workers import evkit: this interpreter
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]").config("spark.jars", sys.argv[3])
         .config("spark.ui.showConsoleProgress", "false").config("spark.driver.memory", "2g").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
ready = time.monotonic()
import evkit
manifest = evkit.dump(bootstrap=sys.argv[1], out=sys.argv[2], topics=[sys.argv[4]], engine="spark", quiet=True)
done = time.monotonic()
print(json.dumps({"session": ready - started, "job": done - ready, "records": manifest.records}))
"""

CHECK_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
import bench_checks
started = time.perf_counter()
counts = bench_checks.run_evkit(sys.argv[1], sys.argv[3])
print(json.dumps({"seconds": time.perf_counter() - started, "findings": counts,
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def dump_part(records: int, partitions: int, bootstrap: str) -> list[tuple[str, float, int, float, str]]:
    topic = f"bench-scale-{records}"
    bench_dump.produce(bootstrap, topic, records, partitions)
    rows = []
    if shutil.which("kcat"):
        with tempfile.TemporaryDirectory() as tmp:
            secs, rss, cpu, _ = bench_dump.measured(
                ["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
                 "-f", r"%k\t%s\t%o\t%T\t%h\n", "-c", str(records)], stdout_file=f"{tmp}/out.txt")
        rows.append(("kcat (text lines to a file)", secs, rss, cpu, ""))
    with tempfile.TemporaryDirectory() as tmp:
        secs, rss, cpu, _ = bench_dump.measured([sys.executable, "-m", "evkit.cli", "dump", "-b", bootstrap, "-o",
                                            f"{tmp}/ds", "-t", topic, "-q"])
    rows.append(("evkit, local engine (its default reader: native when built)", secs, rss, cpu, ""))
    jars = ",".join(str(p) for p in sorted(JARS.glob("*.jar")))
    with tempfile.TemporaryDirectory() as tmp:
        secs, rss, cpu, out = bench_dump.measured([sys.executable, "-c", SPARK_CHILD, bootstrap, f"{tmp}/ds", jars, topic])
    spark = json.loads(out.strip().splitlines()[-1])
    assert spark["records"] == records, spark
    rows.append(("evkit, Spark local[2] (session start + job)", secs, rss, cpu,
                 f"session {spark['session']:.1f} s, job {spark['job']:.1f} s = "
                 f"{records / spark['job']:,.0f} rec/s, {records / spark['job'] / 2:,.0f} rec/s per core"))
    return rows


def checks_part(records: int, work: Path, memory_limits: list[str]) -> list[tuple[str, float, int, float, str]]:
    root = work / str(records)  # where bench_checks.py keeps it
    if not (root / "_evkit" / "runs").exists():
        bench_checks.generate(root, records)
    state = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    endpoint = s3ctl.up(state)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1")
    try:
        import pyarrow.fs as pafs

        s3 = pafs.S3FileSystem(endpoint_override=endpoint.split("://")[1], scheme="http", allow_bucket_creation=True)
        s3.create_dir("bench-scale")
        started = time.monotonic()
        pafs.copy_files(str(root), "bench-scale/ds", source_filesystem=pafs.LocalFileSystem(), destination_filesystem=s3)
        print(f"  uploaded {root} in {time.monotonic() - started:.0f}s", file=sys.stderr)
        rows = []
        for limit in memory_limits:  # the peak should follow the limit on S3 as on disk, not the dataset
            for name, location in (("local disk", str(root)), ("S3 (moto on loopback)",
                                                                f"s3://bench-scale/ds?endpoint_override={endpoint}")):
                secs, rss, cpu, out = bench_dump.measured([sys.executable, "-c", CHECK_CHILD, location,
                                                      str(REPO / "benchmarks"), limit])
                result = json.loads(out.strip().splitlines()[-1])
                rows.append((f"6 checks, {name}, memory_limit {limit}", result["seconds"], result["peak_rss"], cpu,
                             f"findings {sum(result['findings'].values())}"))
        return rows
    finally:
        s3ctl.down(state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=5_000_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--check-records", type=int, default=10_000_000)
    parser.add_argument("--memory-limits", default="2GB", help="DuckDB memory_limit of the checks, comma-separated")
    parser.add_argument("--work", default="/tmp/bench-checks", help="where bench_checks' dataset is (or goes)")
    parser.add_argument("--skip-dump", action="store_true")
    parser.add_argument("--skip-checks", action="store_true")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    rows = []
    if not args.skip_dump:
        state = Path(tempfile.mkdtemp(prefix="bench-kafka-"))
        bootstrap = kafkactl.up(state)
        try:
            rows += [(f"dump {args.records:,}", *row) for row in dump_part(args.records, args.partitions, bootstrap)]
        finally:
            kafkactl.down(state)
    if not args.skip_checks:
        limits = args.memory_limits.split(",")
        rows += [(f"checks {args.check_records:,}", *row) for row in checks_part(args.check_records, Path(args.work), limits)]
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    print("| what | run | seconds | CPU seconds | records/s | peak RSS (MB) | note |")
    print("|---|---|---:|---:|---:|---:|---|")
    for what, name, secs, rss, cpu, note in rows:
        count = args.records if what.startswith("dump") else args.check_records
        print(f"| {what} | {name} | {secs:.1f} | {cpu:.1f} | {count / secs:,.0f} | {rss / 1e6:,.0f} | {note} |")


if __name__ == "__main__":
    main()
