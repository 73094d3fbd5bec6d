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
