"""The series runner: papermill execution, failure reporting and the results index."""

from __future__ import annotations

import json

import nbformat

from helpers.runner import execute, write_index


def _notebook(path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('TRACK = "auto"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_execute_passes_track_and_collects_metrics(tmp_path):
    src = tmp_path / "src" / "98_ok.ipynb"
    src.parent.mkdir()
    _notebook(src, "import helpers\nhelpers.record('98_ok', track=TRACK, answer=42)")
    row = execute(src, tmp_path / "out", track="cpu")
    assert row["status"] == "pass" and row["metrics"]["track"] == "cpu" and row["metrics"]["answer"] == 42
    assert (tmp_path / "out" / "98_ok.ipynb").exists()


def test_execute_reports_a_failing_cell(tmp_path):
    src = tmp_path / "97_bad.ipynb"
    _notebook(src, "raise ValueError('set BATCH_SIZE to a positive number')")
    row = execute(src, tmp_path / "out")
    assert row["status"] == "fail" and "ValueError: set BATCH_SIZE" in row["error"] and row["metrics"] == {}


def test_index_lists_status_runtime_metrics_and_links(tmp_path):
    rows = [{"notebook": "01_a", "status": "pass", "error": None, "seconds": 12.5, "executed": "01_a.ipynb",
             "metrics": {"notebook": "01_a", "ppl_after": 3.14159, "samples": {"x": "y"}, "gib": {"LoRA": 7.5}}},
            {"notebook": "02_b", "status": "fail", "error": "KeyError: 'x'", "seconds": 1.0,
             "executed": "02_b.ipynb", "metrics": {}}]
    md, page = write_index(rows, tmp_path, "cpu")
    text = md.read_text()
    assert "[01_a](01_a.ipynb) | pass | 12.5 | ppl_after = 3.142; gib[LoRA] = 7.5" in text
    assert "fail (KeyError: 'x')" in text and "samples" not in text
    assert "href='01_a.ipynb'" in page.read_text()
    assert json.loads((tmp_path / "index.json").read_text())[1]["status"] == "fail"
