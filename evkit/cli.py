"""The `evkit` command line: each command is a thin wrapper over the Python function of the same name.

Options map one-to-one onto the function's keyword arguments. Errors a user can cause print one
line (`evkit: error: ...`) and exit 2; `check` and `report` exit 1 for findings (docs/dump.md,
docs/analysis.md, docs/notebooks.md list the codes).
"""
from __future__ import annotations

import logging
import sys

import click

from . import __version__
from ._text import SEVERITIES
from .errors import EvkitError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="evkit")
@click.option("--verbose", "-v", count=True,
              help="Log to stderr: -v evkit's and librdkafka's warnings and info, -vv debug (with -X debug=...).")
def cli(verbose: int) -> None:
    """Dump Kafka topic ranges to Parquet and find what went wrong in them."""
    if verbose:
        handler = _BarSafeHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO, handlers=[handler])


class _BarSafeHandler(logging.Handler):
    """Log lines (evkit's, and librdkafka's through the `evkit.librdkafka` logger) on stderr, written
    above a progress bar instead of into it."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


# Commands are added below this line, one block per command, each calling its evkit function.


@cli.command("synth")
@click.argument("out", required=False, type=click.Path(file_okay=False))
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same records and bytes.")
@click.option("--incidents", default="all", show_default=True,
              help="Comma-separated incidents to inject, or all / none (see data/README.md).")
@click.option("--minutes", type=int, default=20, show_default=True, help="Length of the simulated evening.")
@click.option("--users", type=int, default=400, show_default=True)
@click.option("--matches", type=int, default=12, show_default=True)
@click.option("--bootstrap", metavar="BOOTSTRAP", help="Also produce the records to this cluster (empty topics).")
@click.option("--topic-prefix", default="", help="Prefix for the topic names, e.g. a run tag.")
@click.option("-X", "client_config", multiple=True, metavar="KEY=VALUE", help="librdkafka property for --bootstrap. Repeatable.")
@click.option("-F", "client_config_file", type=click.Path(dir_okay=False), help="librdkafka properties file for --bootstrap.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def synth_command(out, client_config, **options) -> int:
    """Generate the sample sports-betting incident as a dataset OUT and/or into Kafka."""
    from .sample.synth import synth

    summary = synth(out, client_config=list(client_config), **options)
    click.echo(f"{summary['records']:,} records in {len(summary['topics'])} topics; "
               f"incidents: {', '.join(summary['incidents']) or 'none'}")
    return 0


@cli.command("report")
@click.argument("notebook", type=click.Path(dir_okay=False))
@click.option("-p", "parameters", multiple=True, metavar="NAME=VALUE", help="Notebook parameter (JSON or text).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Directory for the report files.")
@click.option("--kernel-name", default="python3", show_default=True)
@click.option("--timeout", type=int, default=600, show_default=True, help="Seconds each cell may run.")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="warning", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def report_command(**options) -> int:
    """Execute NOTEBOOK headlessly; write the executed notebook, an HTML report and findings.json.
    Exit 0: nothing at or above --fail-on, 1: findings, 2: error."""
    from .reporting.runner import report

    result = report(**options)
    echo_report(result)
    return result.exit_code


def echo_report(result) -> None:
    """Finding counts, checks skipped, then the HTML report's path as the last line (scripts take `tail -1`)."""
    from .analysis.findings import skipped_lines

    click.echo(f"findings: {result.counts['error']} error, {result.counts['warning']} warning, "
               f"{result.counts['info']} info ({result.findings})")
    if result.summary is not None:
        for line in skipped_lines(result.summary["run"], result.summary["skipped"]):
            click.echo(line)
    click.echo(result.html)


@cli.command("demo")
@click.option("--out", default="reports/demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def demo_command(**options) -> int:
    """Run the incident review on the sample incident in data/; the last line is the HTML report."""
    from .reporting.runner import demo

    echo_report(demo(**options))
    return 0


@cli.command("dump")
@click.option("--bootstrap", "-b", help="Bootstrap servers, HOST:PORT[,HOST:PORT].")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Dataset directory.")
@click.option("--topic", "-t", "topics", multiple=True, required=True,
              help="Topic, TOPIC:0,3-5 for some partitions, or /REGEX/. Repeatable.")
@click.option("--start", "-s", multiple=True, help="beginning | end | OFFSET | -N | ISO-8601 | @EPOCH_MS | -2h; "
              "TOPIC:PARTITION=POS overrides one partition. Default: beginning.")
@click.option("--end", "-e", multiple=True, help="Exclusive end, same forms as --start. Default: the end offset "
              "when the dump starts.")
@click.option("--isolation", type=click.Choice(["read_committed", "read_uncommitted"]), default="read_committed",
              show_default=True, help="read_committed hides aborted transactions, as real consumers see them.")
@click.option("-X", "client_config", multiple=True, metavar="KEY=VALUE", help="Any librdkafka property. Repeatable.")
@click.option("-F", "client_config_file", type=click.Path(dir_okay=False), help="librdkafka properties file.")
@click.option("--max-rate", type=float, help="Read at most this many MB/s (key + value bytes).")
@click.option("--file-size", type=int, default=128 * 1024 * 1024, show_default=True,
              help="Roll Parquet files at about this many bytes.")
@click.option("--batch-size", type=int, default=50_000, show_default=True,
              help="Messages consumed per batch (one Parquet row group each).")
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="Seconds to wait for a broker before failing.")
@click.option("--workers", type=int, help="Consumer processes sharing the partitions (default: one per core, "
              "up to 4, for ranges of 200k offsets or more).")
@click.option("--reader", type=click.Choice(["native", "python"]),
              help="native: Arrow buffers filled in C; python: confluent-kafka. Default: native where it is built "
              "($EVKIT_READER overrides); `evkit -v dump` names the reader in use.")
@click.option("--dry-run", is_flag=True, help="Print the resolved plan and stop.")
@click.option("--schema-registry", metavar="URL", help="Store every registry schema the records name in the dataset "
              "(settings: -X schema.registry.basic.auth.user.info=..., docs/schema-registry.md).")
@click.option("--mask", type=click.Path(dir_okay=False), help="Mask rules (TOML, docs/sharing.md) applied before writing.")
@click.option("--mask-key-file", type=click.Path(dir_okay=False), help="File holding the HMAC key for --mask.")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
              help="spark: Spark's Kafka source reads the plan and writes the same dataset (docs/scale-out.md).")
@click.option("--spark-master", metavar="URL", help="Spark master (default: spark-submit's, else local[*]).")
@click.option("--spark-conf", multiple=True, metavar="KEY=VALUE", help="Spark setting for --engine spark. Repeatable.")
@click.option("--quiet", "-q", is_flag=True, help="No plan, no progress output, no summary line.")
def dump_command(topics, start, end, client_config, spark_conf, out, quiet, **options) -> None:
    """Dump exact ranges of topics to a Parquet dataset, read-only and resumable."""
    from .cluster.dumper import dump, summary_line
    from .cluster.plan import format_plan

    def show_plan(plans, resumed: bool) -> None:
        if not quiet:
            click.echo(format_plan(plans, isolation=options["isolation"], resumed=resumed))

    manifest = dump(topics=topics, start=list(start) or None, end=list(end) or None, client_config=list(client_config),
                    spark_conf=list(spark_conf), out=out, on_plan=show_plan, quiet=quiet, **options)
    line = summary_line(manifest, out)
    if line is not None and not quiet:
        click.echo(line)


@cli.command("partition")
@click.argument("keys", nargs=-1, required=True)
@click.option("--partitions", "-n", type=int, required=True, help="The topic's partition count.")
@click.option("--key-format", type=click.Choice(["utf8", "hex", "int32", "int64"]), default="utf8",
              show_default=True, help="How the producer serialised the key (int32/int64: big-endian).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one object per key and line.")
@click.option("--quiet", "-q", is_flag=True, help="Accepted as by every command; partition prints only its result.")
def partition_command(output_format, quiet, **options) -> int:
    """Print the partition each client's partitioner sends each KEY to ('random' / null: no hash)."""
    from .partitioning.calculator import format_partitions, partition

    click.echo(format_partitions(partition(**options), output_format))
    return 0


def _print_result(result, output_format: str) -> int:
    """Print a check or diff result as text or JSON lines; its exit code."""
    if output_format == "json":
        result.write_json(sys.stdout)
    else:
        click.echo(result.to_text())
    return result.exit_code


@cli.command("check")
@click.argument("paths", nargs=-1, required=True, metavar="DATASET...")
@click.option("--checks", metavar="LIST", help="Comma-separated checks (default: all), e.g. duplicate,sequence_gap.")
@click.option("--field", "fields", multiple=True, metavar="[TOPIC:]NAME=SOURCE",
              help="Where an event field is: key, timestamp, header:<name> or $.json.path. Repeatable.")
@click.option("--config", type=click.Path(dir_okay=False), help="TOML file: [defaults], [topics.<t>], [checks.<c>].")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one finding per line, then one summary line.")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="warning", show_default=True)
@click.option("--memory-limit", metavar="SIZE", help="DuckDB memory limit (e.g. 4GB); it spills to disk past it.")
@click.option("--rate", "rates", multiple=True, metavar="RULE",
              help="A rate rule: 'NAME: TOPIC per GROUP max N in DURATION [where TYPE|CONDITION]'. Repeatable.")
@click.option("--flow", "flows", multiple=True, metavar="RULE",
              help="A flow rule: 'NAME: FROM [TYPE] -> TO [TYPE] within DURATION [by FIELD] [expect one]'. Repeatable.")
@click.option("--max-bytes", type=int, help="Size check: values larger than this many bytes ([checks.size] max_bytes).")
@click.option("--growth-factor", type=float, help="Size check: documents whose last version is this many times the first.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def check_command(paths, output_format, rates, flows, **options) -> int:
    """Run the analysis checks and rules (docs/rules.md) over dump datasets.
    Exit 0: nothing at or above --fail-on, 1: findings, 2: usage or I/O error."""
    from .analysis.session import check

    result = check(*paths, rates=list(rates), flows=list(flows), **options)
    return _print_result(result, output_format)


@cli.command("mask")
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="New directory for the masked dataset.")
@click.option("--rules", required=True, type=click.Path(dir_okay=False),
              help="TOML: [defaults] and [topics.<t>] of target = keep|hash|redact|redact_same_size|drop.")
@click.option("--key-file", type=click.Path(dir_okay=False), help="File holding the HMAC key (16+ random bytes).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def mask_command(**options) -> int:
    """Write a masked copy of DATASET: no raw value survives, equal values stay equal (docs/sharing.md)."""
    from .share.mask import mask

    manifests = mask(**options)
    click.echo(f"masked {sum(m.records for m in manifests):,} records in {len(manifests)} run(s) to {options['out']}")
    return 0


@cli.command("replay")
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option("--to", required=True, metavar="BOOTSTRAP", help="The target cluster's bootstrap servers.")
@click.option("--topic-map", multiple=True, metavar="TOPIC=TARGET", help="Send TOPIC's records to TARGET. Repeatable.")
@click.option("--topic", "-t", "topics", multiple=True, help="Replay only TOPIC (TOPIC:0,3-5, /REGEX/). Repeatable.")
@click.option("--start", help="First offset, or time (ISO-8601, @EPOCH_MS), to replay.")
@click.option("--end", help="Exclusive end offset or time.")
@click.option("--where", help="SQL condition over the events view, e.g. \"event_type = 'bet_placed'\".")
@click.option("--config", type=click.Path(dir_okay=False), help="Field mapping for --where (as evkit check takes).")
@click.option("--partitioning", default="same", show_default=True,
              help="same | default (the producer's) | a partitioner name (evkit partition's).")
@click.option("--timestamps", type=click.Choice(["recorded", "now"]), default="recorded", show_default=True)
@click.option("--max-rate", help="Records/s (1000) or MB/s (5MB/s).")
@click.option("--no-provenance", "provenance", is_flag=True, flag_value=False, default=True,
              help="Leave out the evkit-replay header.")
@click.option("--allow-non-empty", is_flag=True, help="Write into target topics that already hold records.")
@click.option("--i-know-this-is-the-source-cluster", is_flag=True, help="Allow the cluster the dataset came from.")
@click.option("-X", "client_config", multiple=True, metavar="KEY=VALUE", help="Any librdkafka property. Repeatable.")
@click.option("-F", "client_config_file", type=click.Path(dir_okay=False), help="librdkafka properties file.")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for a broker.")
@click.option("--dry-run", is_flag=True, help="Print the plan and stop.")
@click.option("--quiet", "-q", is_flag=True, help="No plan, no progress output, no summary line.")
def replay_command(topic_map, topics, client_config, quiet, **options) -> int:
    """Produce DATASET (or a part) to a cluster: same keys, values, headers, timestamps and partitions."""
    from .share.replay import replay

    result = replay(topic_map=list(topic_map), topics=list(topics), client_config=list(client_config), quiet=quiet,
                    **options)
    if not quiet:
        click.echo(result.plan_text())
        click.echo(result.summary_line())
    return 0


@cli.command("diff")
@click.argument("a", type=click.Path(file_okay=False))
@click.argument("b", type=click.Path(file_okay=False))
@click.option("--identity", type=click.Choice(["content", "event_id", "position"]), default="content", show_default=True,
              help="How records are matched: key + content, the event id field, or partition + offset.")
@click.option("--topic-map", multiple=True, metavar="TOPIC=B_TOPIC", help="A's TOPIC is B_TOPIC in B. Repeatable.")
@click.option("--where", help="SQL condition over both sides' records.")
@click.option("--where-a", help="SQL condition over A's records only (a range of A).")
@click.option("--where-b", help="SQL condition over B's records only.")
@click.option("--field", "fields", multiple=True, metavar="[TOPIC:]NAME=SOURCE", help="Field mapping (event_id).")
@click.option("--config", type=click.Path(dir_okay=False), help="TOML field mapping, as evkit check takes.")
@click.option("--ignore-header", "ignore_headers", multiple=True, default=["evkit-replay"], show_default=True,
              help="Header left out of the comparison. Repeatable.")
@click.option("--no-timestamps", "timestamps", is_flag=True, flag_value=False, default=True,
              help="Do not compare timestamps.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one difference per line, then one summary line.")
@click.option("--limit", type=int, default=1000, show_default=True, help="At most this many differences listed.")
@click.option("--memory-limit", metavar="SIZE", default="2GB", show_default=True,
              help="DuckDB memory limit; it spills to disk past it.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def diff_command(a, b, output_format, topic_map, fields, ignore_headers, **options) -> int:
    """Compare dataset A with dataset B record by record. Exit 0: equal, 1: different, 2: error."""
    from .share.diff import diff

    result = diff(a, b, topic_map=list(topic_map), fields=list(fields), ignore_headers=list(ignore_headers), **options)
    return _print_result(result, output_format)


@cli.group("schemas")
def schemas_group() -> None:
    """The Schema Registry schemas a dataset stores (docs/schema-registry.md)."""


@schemas_group.command("fetch")
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option("--schema-registry", metavar="URL", help="The registry (or schema.registry.url in -X/-F).")
@click.option("-X", "client_config", multiple=True, metavar="KEY=VALUE",
              help="schema.registry.* setting, e.g. schema.registry.basic.auth.user.info=USER:PASSWORD. Repeatable.")
@click.option("-F", "client_config_file", type=click.Path(dir_okay=False), help="Properties file (as evkit dump's -F).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def schemas_fetch_command(dataset, client_config, **options) -> int:
    """Fetch and store the schemas of every registry id DATASET's records name (with their references)."""
    from .schemas.fetch import fetch_schemas

    result = fetch_schemas(dataset, client_config=list(client_config), **options)
    unknown = ", ".join(f"{i} ({n:,} records)" for i, n in result["unknown"].items())
    click.echo(f"{len(result['stored'])} schema(s) stored in {dataset}"
               + (f"; ids unknown to the registry: {unknown}" if unknown else ""))
    return 0


@schemas_group.command("list")
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="Accepted as by every command; list prints only its table.")
def schemas_list_command(dataset, quiet) -> int:
    """Print the schema ids DATASET's records name and the schemas it stores."""
    from .schemas.fetch import format_listing, list_schemas

    click.echo(format_listing(list_schemas(dataset)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning evkit errors into one line and exit code 2."""
    try:
        result = cli.main(args=argv, prog_name="evkit", standalone_mode=False)
    except EvkitError as exc:
        click.echo(f"evkit: error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("evkit: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except KeyboardInterrupt:
        click.echo("evkit: interrupted", err=True)
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
