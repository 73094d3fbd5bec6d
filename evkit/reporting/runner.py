"""Headless reports: execute a notebook with papermill, export it to self-contained HTML without code,
and keep the findings JSON it wrote, with `evkit check`'s exit codes so cron and Airflow can alert.

A report notebook takes a `findings_path` parameter and writes its findings there with
`write_findings`; the exit code is computed from that file (0: nothing at or above `fail_on`,
1: findings, 2: the notebook could not run).
"""
from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..store.files import atomic_write_json, commit_file, temp_path
from .._progress import shown
from .._text import SEVERITIES
from ..errors import EvkitError, UsageError
from ..store.fs import ObjectPath, as_path

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "notebooks" / "incident_review.ipynb"
SAMPLE_DATASET = REPO / "data" / "sports-betting"
SAMPLE_CONFIG = REPO / "data" / "sports-betting.toml"
SUMMARY_NAME = "summary.json"  # written beside findings.json


@dataclass(frozen=True)
class Report:
    """Where a report's files are and what its exit code is."""

    notebook: Path
    html: Path
    findings: Path
    counts: dict[str, int]
    exit_code: int
    summary: dict | None  # summary.json: what `evkit check` ran and skipped, if the notebook wrote one


def report(
    notebook: str | Path,
    *,
    out: str | Path,
    parameters: Mapping[str, Any] | Iterable[str] | None = None,
    kernel_name: str = "python3",
    timeout: int = 600,
    fail_on: str = "warning",
    quiet: bool = False,
) -> Report:
    """Execute `notebook` headlessly with `parameters` into `out`: the executed notebook, an HTML
    report without code cells (plots embedded) and findings.json. `parameters` is a mapping or
    `name=value` strings (value parsed as JSON when it is JSON) naming parameters of the notebook's
    `parameters` cell (others are a UsageError: a typo would review the default data); `timeout`
    bounds each cell (s)."""
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel

    notebook, out = Path(notebook), Path(out)
    if not notebook.is_file():
        raise UsageError(f"notebook {notebook} does not exist")
    if fail_on not in SEVERITIES:
        raise UsageError(f"--fail-on {fail_on!r}: choose one of {', '.join(SEVERITIES)}")
    parameters = parse_parameters(parameters)
    check_parameters(notebook, parameters)
    out.mkdir(parents=True, exist_ok=True)
    executed, html, findings = out / notebook.name, out / f"{notebook.stem}.html", out / "findings.json"
    summary = findings.with_name(SUMMARY_NAME)
    for stale in (executed, html, findings, summary):
        stale.unlink(missing_ok=True)  # a failed run must not leave the last run's report looking current
    failed = out / f"{notebook.stem}.failed.ipynb"
    failed.unlink(missing_ok=True)
    parameters["findings_path"] = str(findings.resolve())
    try:
        papermill.execute_notebook(
            str(notebook), str(failed), parameters=parameters, kernel_name=kernel_name,
            execution_timeout=timeout, start_timeout=120, progress_bar=shown(quiet), log_output=False,
            cwd=os.getcwd(), report_mode=False, extra_arguments=["--log-level=ERROR"],  # ipykernel warns about local TCP
        )
    except NoSuchKernel:
        raise UsageError(f"no Jupyter kernel named {kernel_name!r}; `make venv` registers python3") from None
    except papermill.PapermillExecutionError as exc:
        raise EvkitError(f"{notebook} failed at In [{exc.exec_count}]: {exc.ename}: {exc.evalue}; "
                         f"the executed notebook is {failed}") from None
    except TimeoutError:
        raise EvkitError(f"{notebook}: a cell ran longer than --timeout {timeout} s; the executed notebook is {failed}") from None
    export_html(failed, html)
    if not findings.is_file():
        raise UsageError(f"{notebook} wrote no findings: it must take a findings_path parameter and call write_findings")
    os.replace(failed, executed)
    found = json.loads(findings.read_text())
    counts = {severity: sum(1 for f in found if f["severity"] == severity) for severity in SEVERITIES}
    alerting = sum(counts[s] for s in SEVERITIES[SEVERITIES.index(fail_on):])
    return Report(notebook=executed, html=html, findings=findings, counts=counts, exit_code=1 if alerting else 0,
                  summary=json.loads(summary.read_text()) if summary.is_file() else None)


def check_parameters(notebook: Path, parameters: Mapping[str, Any]) -> None:
    """UsageError for a parameter the notebook's `parameters` cell does not define, with the close match."""
    import papermill

    known = sorted(papermill.inspect_notebook(str(notebook)))
    for name in parameters:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"-p {name}: {notebook} has no parameter {name!r}{hint}; "
                             f"its parameters are {', '.join(known) or 'none'}")


def parse_parameters(parameters: Mapping[str, Any] | Iterable[str] | None) -> dict[str, Any]:
    """`{"name": value}` as given, or `["name=value", ...]` with each value read as JSON if it is JSON
    (`checks=["duplicate"]`, `window=30`) and as a string otherwise (`dataset=data/x`)."""
    if parameters is None:
        return {}
    if isinstance(parameters, Mapping):
        return dict(parameters)
    parsed = {}
    for option in parameters:
        name, sep, text = option.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"-p {option!r}: expected NAME=VALUE with NAME a Python identifier")
        try:
            parsed[name] = json.loads(text)
        except ValueError:
            parsed[name] = text
    return parsed


# The lab template without the scripts it loads from CDNs (require.js, MathJax, Mermaid, widgets):
# the report must render offline, from one file, in a mail attachment or an air-gapped network.
OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
"""


def export_html(executed: Path, html: Path) -> None:
    """Self-contained HTML without code cells, prompts or progress output."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not is_progress(o)]
    nb.metadata["title"] = report_title(nb) or executed.stem.removesuffix(".failed")
    exporter = HTMLExporter(extra_loaders=[jinja2.DictLoader({"evkit_report.html.j2": OFFLINE_TEMPLATE})],
                            template_file="evkit_report.html.j2", exclude_input=True,
                            exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    tmp = temp_path(html)
    tmp.write_text(body)
    commit_file(tmp, html)


def report_title(nb) -> str | None:
    """The page title: the notebook's first heading, a markdown `# ...` or an `<h1>` a cell shows
    (the incident review's verdict names the dataset, cluster and time range there)."""
    import re
    from html import unescape

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            heading = re.search(r"^# (.+)$", cell.source, re.M)
            if heading:
                return heading.group(1).strip()
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            heading = re.search(r"<h1[^>]*>(.*?)</h1>", str(output.get("data", {}).get("text/html", "")), re.S)
            if heading:
                return unescape(re.sub(r"<[^>]+>", "", heading.group(1))).strip()
    return None


def is_progress(output: dict) -> bool:
    """Progress bars and warnings: stderr text, or a Jupyter widget (tqdm, DuckDB) that needs a live kernel."""
    if output.get("output_type") == "stream":
        return output.get("name") == "stderr"
    return "application/vnd.jupyter.widget-view+json" in output.get("data", {})


def write_findings(findings: list[dict], path: str | Path | None, summary: dict | None = None) -> None:
    """Write a notebook's findings (dicts as `evkit check --format json` prints them) for its report,
    and `summary` (`CheckReport.summary`: checks run and skipped) beside them as summary.json; a
    no-op when the notebook runs interactively (`path` None)."""
    if path is None:
        return
    written = {Path(path): findings}
    if summary is not None:
        written[Path(path).with_name(SUMMARY_NAME)] = summary
    for target, content in written.items():
        atomic_write_json(target, content)
        target.chmod(0o644)  # readable like the HTML beside it (the atomic write creates it 0600)


def prepare_review(dataset: str | Path | None = None, *, bootstrap: str | None = None, topics: Iterable[str] = (),
                   start: str = "beginning", end: str | None = None, client_config_file: str | Path | None = None,
                   config: str | Path | None = None, quiet: bool = False) -> tuple[Path | ObjectPath, str | Path | None]:
    """The dataset and field config a review notebook analyses: `dataset` as given, first dumped
    from `bootstrap` when that is set, or the sample incident (with its field config) when neither is.

    `client_config_file` is a librdkafka properties file for the dump (TLS, SASL): the secrets stay
    in that file, out of the executed notebook and the report."""
    from ..cluster.dumper import dump

    if bootstrap:
        if dataset is None or not list(topics):
            raise UsageError("a live review needs dataset (the directory to dump into) and topics")
        dump(bootstrap=bootstrap, out=dataset, topics=list(topics), start=start, end=end,
             client_config_file=client_config_file, quiet=quiet)
    if dataset is None:
        return SAMPLE_DATASET, config or SAMPLE_CONFIG
    return as_path(dataset), config


def demo(*, out: str | Path = "reports/demo", quiet: bool = False) -> Report:
    """Run the incident-review template on the sample incident in data/ (no Kafka needed)."""
    if not TEMPLATE.is_file() or not SAMPLE_DATASET.is_dir():
        raise UsageError(f"evkit demo needs the evkit source checkout ({TEMPLATE} and {SAMPLE_DATASET})")
    return report(TEMPLATE, out=out, quiet=quiet)  # the template's defaults are the sample and its config
