#!/usr/bin/env python3
"""Set up the workbook's virtual environment and run it. Needs only Python 3.11+.

    python3 workbook.py run    # execute every notebook on the CPU track into build/, write build/index.html
    python3 workbook.py test   # the test suite: ruff, pytest --nbval-lax notebooks/, unit tests and recorded checks
    python3 workbook.py gpu-check  # on a CUDA GPU: notebooks 02-05 on the GPU track as a T4 (helpers/gpucheck.py)
    python3 workbook.py colab-versions  # 03, 04 and the GPU-settings tests on Colab's library versions (.venv-colab)
    python3 workbook.py translate  # write notebooks/ko/ from the English notebooks and notebooks/ko/text/

Both create ./.venv on first use (torch first, then requirements-dev.txt, which includes requirements.txt, then
helpers) and reuse it after; a change to either requirements file or pyproject.toml reinstalls.
torch: a CPU build (torch==2.13.0+cpu) on a machine without an NVIDIA GPU, so no CUDA wheels are pulled.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
TORCH = "2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
REQUIREMENTS = "requirements-dev.txt"  # starts with `-r requirements.txt` (the lessons' pins), adds the local stack
STAMP_INPUTS = ("requirements.txt", REQUIREMENTS, "pyproject.toml")  # a change to any of them reinstalls
COLAB_VENV = ROOT / ".venv-colab"
COLAB_SNAPSHOT = ROOT / "tests" / "colab" / "pip-freeze.gpu.txt"
# Colab ships these too; the lessons and the kernel meet them there at Colab's versions
COLAB_SHIPPED = ("pyarrow", "numpy", "pandas", "scikit-learn", "matplotlib", "ipywidgets", "ipykernel")
KOREAN, KOREAN_RUN = "ko", "01_lm_basics.ipynb"  # the Korean edition's folder, and its notebook the tests run
TOOLS = ("papermill", "nbformat", "nbval", "pytest")  # not on Colab: the local pins


def say(message: str) -> None:
    """One progress line, flushed so it shows in CI logs."""
    print(f"[workbook] {message}", flush=True)


def venv_python() -> str:
    """The virtual environment's interpreter."""
    return str(VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))


def pip(*args: str) -> int:
    """Run pip inside the virtual environment; return its exit code."""
    return subprocess.call([venv_python(), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args])


def has_nvidia_gpu() -> bool:
    """True when an NVIDIA driver answers (then the CUDA build of torch is wanted)."""
    return shutil.which("nvidia-smi") is not None and subprocess.call(
        ["nvidia-smi", "-L"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


def install_torch() -> None:
    """Install torch, the CPU build unless an NVIDIA GPU is present; stop with one sentence if impossible."""
    if subprocess.call([venv_python(), "-c", "import torch"], stderr=subprocess.DEVNULL) == 0:
        return
    if has_nvidia_gpu():
        say(f"installing torch=={TORCH} (CUDA build, an NVIDIA GPU is present)")
        ok = pip(f"torch=={TORCH}") == 0
    else:
        say(f"installing torch=={TORCH}+cpu (no NVIDIA GPU: the CPU build, no CUDA wheels)")
        ok = pip(f"torch=={TORCH}+cpu") == 0 or pip(f"torch=={TORCH}+cpu", "--index-url", TORCH_CPU_INDEX) == 0
    if not ok:
        sys.exit(f"Could not install torch {TORCH}: install it into {VENV} yourself "
                 f"(`{venv_python()} -m pip install torch=={TORCH}`) and run this command again.")


def stamp_hash() -> str:
    """A hash of both requirements files and pyproject.toml: the installed environment's fingerprint."""
    return hashlib.sha256(b"".join((ROOT / name).read_bytes() for name in STAMP_INPUTS)).hexdigest()


def ensure_env() -> str:
    """Create or update .venv so that it matches the requirements files and pyproject.toml; return its python."""
    if not Path(venv_python()).exists():
        say(f"creating the virtual environment {VENV}")
        venv.create(VENV, with_pip=True)
    stamp = VENV / ".workbook-installed"
    wanted = stamp_hash()
    if stamp.exists() and stamp.read_text() == wanted:
        return venv_python()
    install_torch()
    say(f"installing {REQUIREMENTS} and helpers (a few minutes the first time)")
    if pip("-r", str(ROOT / REQUIREMENTS)) or pip("-e", str(ROOT)):
        sys.exit("Installing the requirements failed: read pip's message above, fix it, and run this command again.")
    stamp.write_text(wanted)
    return venv_python()


def colab_snapshot() -> dict[str, str]:
    """``{name: version}`` of Colab's runtime (tests/colab/pip-freeze.gpu.txt): names normalised as pip does
    (``rouge_score`` -> ``rouge-score``), local labels dropped (``2.11.0+cu128`` -> ``2.11.0``), and packages
    installed from a file or URL left out."""
    shipped = {}
    for line in COLAB_SNAPSHOT.read_text().splitlines():
        if "==" in line and " @ " not in line and not line.startswith("#"):
            name, version = line.strip().split("==", 1)
            shipped[re.sub(r"[-_.]+", "-", name).lower()] = version.split("+")[0]
    return shipped


def colab_pins() -> list[str]:
    """``name==version`` for the lessons' libraries as Colab meets them: Colab's version where the snapshot has the
    package, else the lowest of requirements-colab.txt's range (what the setup cell installs on Colab's pyarrow)."""
    shipped = colab_snapshot()
    pins = [f"{name}=={shipped[name]}" for name in COLAB_SHIPPED]
    for line in (ROOT / "requirements-colab.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, rest = line.split(">=", 1)
            pins.append(f"{name}=={shipped.get(name, rest.split(',')[0])}")
    dev = dict(line.split("==") for line in (ROOT / REQUIREMENTS).read_text().splitlines() if "==" in line)
    return pins + [f"{name}=={dev[name]}" for name in TOOLS]


def colab_versions() -> int:
    """Notebooks 03 and 04 on the CPU track, with their recorded checks, and the GPU-settings tests, in .venv-colab:
    Colab's transformers, peft, accelerate, datasets, pyarrow, numpy and pandas and the oldest TRL of the Colab
    range; torch is this machine's build (Colab's is a CUDA build of 2.11)."""
    global VENV
    VENV = COLAB_VENV
    if not Path(venv_python()).exists():
        say(f"creating {VENV}")
        venv.create(VENV, with_pip=True)
    install_torch()
    pins = colab_pins()
    say("installing Colab's versions: " + ", ".join(pins))
    if pip(*pins) or pip("--no-deps", "-e", str(ROOT)):
        sys.exit("Installing Colab's versions failed: read pip's message above, fix it, and run this command again.")
    os.chdir(ROOT)
    python = venv_python()
    say("the GPU track's settings on the CPU, then 03 and 04 on the CPU track with their recorded checks")
    return subprocess.call([python, "-m", "pytest", "-p", "no:cacheprovider", "tests/test_gpu_settings.py",
                            "tests/test_notebooks.py", "-k", "gpu_settings or (runs_on_cpu_track and (03 or 04))"])


def main(argv: list[str]) -> int:
    """Dispatch ``run`` / ``test``; extra arguments go to the runner or to pytest."""
    if not argv or argv[0] not in ("run", "test", "setup", "gpu-check", "colab-versions", "translate"):
        print(__doc__)
        return 2
    if argv[0] == "gpu-check" and not has_nvidia_gpu():
        print("gpu-check needs a CUDA GPU and no NVIDIA driver answers here: run it on a GPU machine (the CPU "
              "track and the test suite never need one).", file=sys.stderr)
        return 1
    if sys.version_info < (3, 11):  # noqa: UP036 - this script must explain itself on an old Python
        sys.exit(f"Python 3.11 or newer is needed (this is {sys.version.split()[0]}): run it with python3.11 or newer.")
    if argv[0] == "colab-versions":
        return colab_versions()
    python = ensure_env()
    command, extra = argv[0], argv[1:]
    os.chdir(ROOT)
    if command == "setup":
        return 0
    if command == "run":
        return subprocess.call([python, "-m", "helpers.runner", *extra])
    if command == "gpu-check":
        return subprocess.call([python, "-m", "helpers.gpucheck", *extra])
    if command == "translate":
        return subprocess.call([python, "-m", "helpers.translate", *extra])
    # Each notebook is executed once: nbval runs it on the CPU track and it records its results into
    # build/nbval; tests/test_notebooks.py then checks those records instead of running it again.
    say("ruff over helpers/, tests/ and the notebooks' code cells (the rules in pyproject.toml)")
    lint = subprocess.call([python, "-m", "ruff", "check", "helpers", "tests", "notebooks", "workbook.py"])
    records = ROOT / "build" / "nbval"
    shutil.rmtree(records, ignore_errors=True)

    def nbval(paths: list[str], into: Path) -> int:
        """Execute notebooks in place with nbval on the CPU track, recording their results into ``into``."""
        into.mkdir(parents=True, exist_ok=True)
        return subprocess.call([python, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", *paths],
                               env={**os.environ, "WORKBOOK_OUTPUT_DIR": str(into), "WORKBOOK_TRACK": "cpu"})

    say("executing every notebook in place with nbval on the CPU track (pytest --nbval-lax notebooks/)")
    english = nbval(["notebooks/", f"--ignore=notebooks/{KOREAN}"], records)
    # The Korean notebooks share the English code (tests/test_translations.py); one runs, so a broken generator shows.
    say(f"executing the Korean edition of 01 the same way (notebooks/{KOREAN}/{KOREAN_RUN})")
    korean = nbval([f"notebooks/{KOREAN}/{KOREAN_RUN}"], records / KOREAN)
    say("unit tests, and checks of what each notebook recorded (tests/)")
    code = subprocess.call([python, "-m", "pytest", "tests", *extra],
                           env={**os.environ, "WORKBOOK_RECORDS": str(records)})
    return lint or english or korean or code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
