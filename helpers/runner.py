"""Run the whole series headlessly with papermill and write a results index (``python3 workbook.py run``).

    python -m helpers.runner [--out build] [--track cpu] [--only 01_lm_basics ...]
"""

from __future__ import annotations

import argparse
import html
import json
import os
import time
from pathlib import Path

from .record import OUTPUT_DIR_ENV

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def series(folder: Path = NOTEBOOKS) -> list[Path]:
    """The numbered notebooks of the series, in order."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def _ipc_kernel_manager():
    """A kernel manager that talks to the kernel over local IPC sockets instead of TCP: nothing listens on the
    network, and ipykernel has no "running over TCP without encryption" warning to print in every run."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum

    class IpcKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    return IpcKernelManager


def execute(notebook: Path, out_dir: Path, track: str = "cpu", timeout: int = 1800,
            parameters: dict | None = None) -> dict:
    """Execute one notebook with papermill into ``out_dir`` (``parameters`` override its parameters cell);
    return its status, runtime and metrics."""
    import papermill as pm

    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ[OUTPUT_DIR_ENV] = str(out_dir.resolve())
    results = out_dir / f"{notebook.stem}.json"
    results.unlink(missing_ok=True)
    start, error = time.time(), None
    try:
        pm.execute_notebook(str(notebook), str(out_dir / notebook.name),
                            parameters={"TRACK": track, **(parameters or {})}, cwd=str(out_dir),
                            kernel_name="python3", progress_bar=False, kernel_manager_class=_ipc_kernel_manager(),
                            execution_timeout=timeout)
    except pm.PapermillExecutionError as err:
        error = f"{err.ename}: {err.evalue}".strip()
    except Exception as err:  # a dead kernel or a timeout: report it in the index instead of crashing
        error = f"{type(err).__name__}: {err}"
    metrics = json.loads(results.read_text()) if results.exists() else {}
    return {"notebook": notebook.stem, "status": "pass" if error is None else "fail", "error": error,
            "seconds": round(time.time() - start, 1), "executed": notebook.name, "metrics": metrics}


def _scalars(metrics: dict) -> dict:
    """The numeric and short text entries of a results file (numeric dicts flattened once), for the index."""
    skip, flat = {"notebook", "recorded_at"}, {}
    for key, value in metrics.items():
        if isinstance(value, dict) and value and all(isinstance(x, (int, float)) for x in value.values()):
            flat.update({f"{key}[{sub}]": x for sub, x in value.items()})
        elif key not in skip and (isinstance(value, (int, float)) or (isinstance(value, str) and len(value) < 40)):
            flat[key] = value
    return flat


def _fmt(value) -> str:
    """A compact rendering of one metric value."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_index(rows: list[dict], out_dir: Path, track: str) -> tuple[Path, Path]:
    """Write ``index.md`` and ``index.html``: each notebook, pass/fail, runtime, key metrics, a link."""
    stamp = time.strftime("%Y-%m-%d %H:%M")
    md = [f"# Clinical LLM Workbook: results ({track} track, {stamp})", "",
          "| notebook | status | runtime (s) | key results |", "|---|---|---|---|"]
    cells = []
    for row in rows:
        shown = "; ".join(f"{k} = {_fmt(v)}" for k, v in _scalars(row["metrics"]).items()) or "-"
        status = row["status"] + (f" ({row['error']})" if row["error"] else "")
        md.append(f"| [{row['notebook']}]({row['executed']}) | {status} | {row['seconds']} | {shown} |")
        colour = "#1a7f37" if row["status"] == "pass" else "#cf222e"
        cells.append(
            f"<tr><td><a href='{html.escape(row['executed'])}'>{html.escape(row['notebook'])}</a></td>"
            f"<td style='color:{colour}'>{html.escape(status)}</td><td>{row['seconds']}</td>"
            f"<td>{html.escape(shown)}</td></tr>")
    (out_dir / "index.md").write_text("\n".join(md) + "\n")
    page = (f"<!doctype html><meta charset='utf-8'><title>Workbook results</title>"
            f"<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px 8px}}"
            f"table{{border-collapse:collapse}}</style><h1>Clinical LLM Workbook: results ({track} track, {stamp})</h1>"
            f"<table><tr><th>notebook</th><th>status</th><th>runtime (s)</th><th>key results</th></tr>"
            f"{''.join(cells)}</table>")
    (out_dir / "index.html").write_text(page)
    (out_dir / "index.json").write_text(json.dumps(rows, indent=2))
    return out_dir / "index.md", out_dir / "index.html"


def main(argv: list[str] | None = None) -> int:
    """Execute the series, write the index, return 1 if any notebook failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "build"), help="folder for executed notebooks and the index")
    parser.add_argument("--track", default="cpu", choices=("cpu", "gpu", "auto"), help="TRACK for every notebook")
    parser.add_argument("--only", nargs="*", help="notebook names (e.g. 01_lm_basics) to run instead of all")
    args = parser.parse_args(argv)
    out_dir = Path(args.out)
    notebooks = [nb for nb in series() if not args.only or nb.stem in args.only]
    rows = []
    for nb in notebooks:
        print(f"[workbook] running {nb.name} on the {args.track} track ...", flush=True)
        rows.append(execute(nb, out_dir, args.track))
        print(f"[workbook]   {rows[-1]['status']} in {rows[-1]['seconds']} s" +
              (f": {rows[-1]['error']}" if rows[-1]["error"] else ""), flush=True)
    md, page = write_index(rows, out_dir, args.track)
    print(f"[workbook] results index: {page} (and {md})")
    return 0 if all(r["status"] == "pass" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
