"""pyproject.toml and environment.yml describe the same dependencies (pip vs conda-forge names)."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# conda-forge packages whose name differs from the PyPI distribution
CONDA_NAMES = {"confluent-kafka": "python-confluent-kafka", "duckdb": "python-duckdb"}
# conda-only entries: the interpreter, and the toolchain for the test broker (kafka/pom.xml)
CONDA_ONLY = {"python", "openjdk", "maven", "pip"}
REQ = re.compile(r"^([A-Za-z0-9_.-]+)\s*(.*)$")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["test"]
    parsed = {}
    for req in reqs:
        name, spec = REQ.match(req).groups()
        parsed[CONDA_NAMES.get(name.lower(), name.lower())] = spec.replace(" ", "")
    return parsed


def environment_requirements() -> dict[str, str]:
    parsed = {}
    text = (REPO / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        match = re.match(r"^  - ([^:\s]+)$", line)  # top-level conda entries only, not the pip: list
        if match:
            name, spec = REQ.match(match.group(1)).groups()
            if name not in CONDA_ONLY:
                parsed[name.lower()] = spec
    return parsed


def test_conda_environment_matches_pyproject():
    assert environment_requirements() == pyproject_requirements()


def test_environment_installs_evkit_itself():
    assert "      - -e ." in (REPO / "environment.yml").read_text().splitlines()
