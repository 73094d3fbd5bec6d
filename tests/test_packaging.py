"""Packaging: pyproject.toml and environment.yml describe the same dependencies (pip vs conda-forge
names), and evkit installs and works where no C compiler is at hand."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# conda-forge packages whose name differs from the PyPI distribution
CONDA_NAMES = {"confluent-kafka": "python-confluent-kafka", "duckdb": "python-duckdb"}
# conda-only entries: the interpreter, the toolchain for the test broker (kafka/pom.xml), and the C
# compiler for evkit/partitioning/_hashes.c
CONDA_ONLY = {"python", "openjdk", "maven", "c-compiler", "pip"}
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


def test_without_a_c_compiler_evkit_installs_and_partitions_with_numpy(tmp_path):
    # CC=false: every compiler call fails, as on a jump host without gcc. The optional extension
    # (setup.py) is then left out of the wheel, and evkit.partitioning.hashes falls back to NumPy. A copy
    # of the sources is built, so no earlier build of the kernel can slip into the wheel.
    source = tmp_path / "source"
    shutil.copytree(REPO / "evkit", source / "evkit", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, source)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "wheel"),
                            str(source)], env={**os.environ, "CC": "false"}, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp_path / "site"),
                    *map(str, (tmp_path / "wheel").glob("evkit-*.whl"))], check=True, timeout=300)
    probe = ("import sys, evkit, evkit.partitioning.hashes as p; "
             "print(evkit.__file__.startswith(sys.argv[1]), p._native, p.partition_keys([b'21', None], 12, 'java_murmur2').tolist())")
    # -S: no .pth files, so this checkout's editable install cannot answer for evkit; the other
    # dependencies still come from this environment.
    path = os.pathsep.join([str(tmp_path / "site"), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    shown = subprocess.run([sys.executable, "-S", "-c", probe, str(tmp_path / "site")], capture_output=True, text=True,
                           cwd=tmp_path, env={**os.environ, "PYTHONPATH": path}, check=True, timeout=120)
    # murmur2(b"21") is -973932308 (Kafka's UtilsTest): (h & 0x7fffffff) % 12 == 0
    assert shown.stdout.split() == ["True", "None", "[0,", "-1]"]
