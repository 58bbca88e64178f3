"""Record a notebook's key results to JSON beside the executed notebook (every notebook's last cell).

The tests and the results index read these files, so every number they check comes from a run.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

OUTPUT_DIR_ENV = "WORKBOOK_OUTPUT_DIR"
DRIVE_ROOT = Path("/content/drive/MyDrive")  # where Colab mounts Google Drive (USE_DRIVE=True in 03/04)
DRIVE_FOLDER = "clinical-llm-workbook"  # checkpoints in <folder>/runs, results in <folder>/results


def _plain(value):
    """Turn numpy/torch scalars, tuples and paths into JSON-friendly values."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def output_dir() -> Path:
    """Where a notebook writes what it makes: $WORKBOOK_OUTPUT_DIR, else the working directory."""
    return Path(os.environ.get(OUTPUT_DIR_ENV, "."))


def results_path(name: str) -> Path:
    """Where ``record(name, ...)`` writes: ``<output_dir()>/<name>.json``."""
    return output_dir() / f"{name}.json"


def drive_results() -> Path | None:
    """The results folder in Google Drive while Drive is mounted, else None.

    Each Colab notebook gets a fresh runtime, so notebook 04 cannot read what 03 recorded locally; with
    ``USE_DRIVE=True`` both mount Drive and every record is kept there too.
    """
    return DRIVE_ROOT / DRIVE_FOLDER / "results" if DRIVE_ROOT.is_dir() else None


def previous_results(name: str) -> dict | None:
    """The results another notebook recorded in this output folder (or in Google Drive), or None."""
    for folder in (output_dir(), drive_results()):
        if folder is not None and (folder / f"{name}.json").exists():
            return load_record(folder / f"{name}.json")
    return None


def record(name: str, **metrics) -> Path:
    """Write ``metrics`` for notebook ``name`` to ``<name>.json`` and print what was recorded."""
    if not metrics:
        raise ValueError("record() got no metrics: pass them as keywords, e.g. record('01_lm_basics', ppl=3.2).")
    path = results_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"notebook": name, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S"), **_plain(metrics)}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"Recorded {len(metrics)} results to {path}")
    drive = drive_results()
    if drive is not None:
        drive.mkdir(parents=True, exist_ok=True)
        (drive / path.name).write_text(path.read_text())
        print(f"... and a copy to {drive} (Google Drive), where the next notebook's fresh runtime finds it")
    return path


def load_record(path: str | os.PathLike) -> dict:
    """Read a results file written by ``record``."""
    return json.loads(Path(path).read_text())
