"""What the notebooks' setup cell would install on Colab, resolved by pip against the snapshot of Colab's GPU runtime
(tests/colab/pip-freeze.gpu.txt): it must change nothing that Colab ships, only add what Colab lacks.

pip resolves requirements-colab.txt for Colab's Python and platform (``--python-version 3.13 --platform
manylinux...``, wheels only) with every package of the snapshot pinned to its Colab version as a constraint, so a
resolution exists only if the install needs no upgrade, downgrade or replacement of anything Colab ships. Two parts
of the snapshot are left out of the constraints: the CUDA wheels that come with Colab's torch (a +cu128 build from
PyTorch's own index; PyPI's torch of the same version asks for other CUDA wheels, and torch itself stays pinned)
and packages installed from a file or URL. rouge-score ships only as source, so it is resolved on this machine's
Python, against the same constraints. The resolution is written to build/colab_install.json. Without the package
registry the test is skipped with one sentence.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_workbook
from packaging.requirements import Requirement

from helpers import colab

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "tests" / "colab" / "pip-freeze.gpu.txt"
COLAB_FILE = ROOT / "requirements-colab.txt"
WITH_TORCH = ("nvidia-", "cuda-", "triton")  # the CUDA wheels of Colab's torch build
SOURCE_ONLY = {"rouge-score"}  # no wheel on PyPI: resolved on this machine's Python
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(35, 16, -1)] + [
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def snapshot() -> dict[str, str]:
    """The snapshot as workbook.py reads it for `colab-versions`: ``{normalised name: version}``."""
    return load_workbook().colab_snapshot()


def colab_python() -> str:
    """Colab's Python as major.minor, read from the snapshot's OS info."""
    found = re.search(r"^Python (\d+\.\d+)", (SNAPSHOT.parent / "os-info-gpu.txt").read_text(), re.M)
    assert found, "tests/colab/os-info-gpu.txt names no Python version"
    return found.group(1)


def requirements() -> list[Requirement]:
    lines = [line.split("#")[0].strip() for line in COLAB_FILE.read_text().splitlines()]
    return [Requirement(line) for line in lines if line]


def _registry_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


def _resolve(wanted: list[str], constraints: Path, tmp: Path, *flags: str) -> dict[str, str]:
    """``{name: version}`` that ``pip install --dry-run`` would install for ``wanted``; pip's own message if none."""
    report = tmp / "report.json"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
                          "--report", str(report), "-c", str(constraints), *flags, *wanted],
                         capture_output=True, text=True, timeout=600)
    lines = [line for line in (pip.stdout + pip.stderr).splitlines() if "is ignored" not in line]
    assert pip.returncode == 0, "pip found no install that leaves Colab's packages alone:\n" + "\n".join(lines[-25:])
    return {_name(item["metadata"]["name"]): item["metadata"]["version"]
            for item in json.loads(report.read_text())["install"]}


@pytest.fixture(scope="module")
def resolution(tmp_path_factory):
    if not _registry_reachable():
        pytest.skip("The package registry (pypi.org) is not reachable from here, so Colab's install was not resolved.")
    tmp = tmp_path_factory.mktemp("colab")
    pins = snapshot()
    constraints = tmp / "colab-constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()
                                   if not name.startswith(WITH_TORCH)))
    wanted = [str(r) for r in requirements()]
    wheels = [w for w in wanted if _name(Requirement(w).name) not in SOURCE_ONLY]
    sources = [w for w in wanted if _name(Requirement(w).name) in SOURCE_ONLY]
    target = ["--target", str(tmp / "target"),  # pip before 22.3 allows the platform options only with a target
              "--python-version", colab_python(), "--implementation", "cp", "--only-binary=:all:",
              *[flag for platform in PLATFORMS for flag in ("--platform", platform)]]
    resolved = _resolve(wheels, constraints, tmp, *target)
    if sources:
        resolved.update(_resolve(sources, constraints, tmp))
    resolved = {name: v for name, v in resolved.items() if not name.startswith(WITH_TORCH)}  # torch's, kept on Colab
    added = {name: v for name, v in resolved.items() if name not in pins}
    moved = {name: f"{pins[name]} -> {v}" for name, v in resolved.items() if name in pins and pins[name] != v}
    out = ROOT / "build" / "colab_install.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"snapshot": str(SNAPSHOT.relative_to(ROOT)), "python": colab_python(),
                               "added": added, "changed": moved}, indent=1))
    return {"resolved": resolved, "added": added, "moved": moved, "pins": pins}


def test_the_colab_install_adds_what_colab_lacks_and_changes_nothing_it_ships(resolution):
    assert resolution["moved"] == {}, resolution["moved"]
    for name in colab.KEEP:
        assert name in resolution["pins"], f"the snapshot has no {name}: refresh tests/colab/"
        assert resolution["resolved"].get(name, resolution["pins"][name]) == resolution["pins"][name]
    lacking = {_name(r.name) for r in requirements()} - set(resolution["pins"])
    assert lacking and lacking <= set(resolution["added"]), (lacking, resolution["added"])


def test_every_lesson_library_lands_inside_its_range(resolution):
    for req in requirements():
        name = _name(req.name)
        version = resolution["resolved"].get(name, resolution["pins"].get(name))
        assert version is not None, f"{req.name} is neither on Colab nor installed by the setup cell"
        assert req.specifier.contains(version, prereleases=True), f"{req.name} {version} is outside {req.specifier}"
