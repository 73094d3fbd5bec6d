"""The `evkit` command line: each command is a thin wrapper over the Python function of the same name.

Options map one-to-one onto the function's keyword arguments. Errors a user can cause print one
line (`evkit: error: ...`) and exit 2; see docs/cli.md for every exit code.
"""
from __future__ import annotations

import sys

import click

from . import __version__
from .errors import EvkitError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="evkit")
def cli() -> None:
    """Dump Kafka topic ranges to Parquet and find what went wrong in them."""


# Commands are added below this line, one block per command, each calling its evkit function.


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
@click.option("-X", "config", multiple=True, metavar="KEY=VALUE", help="Any librdkafka property. Repeatable.")
@click.option("-F", "config_file", type=click.Path(dir_okay=False), help="librdkafka properties file.")
@click.option("--max-rate", type=float, help="Read at most this many MB/s (key + value bytes).")
@click.option("--file-size", type=int, default=128 * 1024 * 1024, show_default=True,
              help="Roll Parquet files at about this many bytes.")
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="Seconds to wait for a broker before failing.")
@click.option("--dry-run", is_flag=True, help="Print the resolved plan and stop.")
@click.option("--quiet", "-q", is_flag=True, help="No plan, no progress bar.")
def dump_command(topics, start, end, config, **options) -> None:
    """Dump exact ranges of topics to a Parquet dataset, read-only and resumable."""
    from .dump import dump

    dump(topics=topics, start=list(start) or None, end=list(end) or None, config=list(config), **options)


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
@cli.command("partition")
@click.argument("keys", nargs=-1, required=True)
@click.option("--partitions", "-n", type=int, required=True, help="The topic's partition count.")
@click.option("--key-format", type=click.Choice(["utf8", "hex", "int32", "int64"]), default="utf8",
              show_default=True, help="How the producer serialised the key (int32/int64: big-endian).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one object per key and line.")
def partition_command(output_format, **options) -> int:
    """Print the partition each client's partitioner sends each KEY to ('random' / null: no hash)."""
    from .partition import format_partitions, partition

    click.echo(format_partitions(partition(**options), output_format))
    return 0


