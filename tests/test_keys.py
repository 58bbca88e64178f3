"""Secrets come from Colab's Secrets panel or the environment, and nothing in the series waits for keyboard input."""

from __future__ import annotations

import ast
import builtins
import getpass
import json
import sys
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

from helpers import keys

SECRET = "sk-test-SECRET-1234567890"


@pytest.fixture
def no_prompt(monkeypatch):
    """An interactive-looking session whose input() and getpass() fail the test if anything calls them."""
    def refuse(*args, **kwargs):
        raise AssertionError("nothing may wait for keyboard input")

    monkeypatch.setattr(builtins, "input", refuse)
    monkeypatch.setattr(getpass, "getpass", refuse)
    monkeypatch.setenv("JPY_SESSION_NAME", "demo.ipynb")
    monkeypatch.delenv("MY_TOKEN", raising=False)


def test_secret_reads_colab_then_environment_and_never_prompts(fake_colab, no_prompt, monkeypatch, capsys):
    assert keys.secret("MY_TOKEN") is None
    monkeypatch.setenv("MY_TOKEN", f" {SECRET}\n")
    assert keys.secret("MY_TOKEN") == SECRET
    fake_colab({"MY_TOKEN": "from-colab", "BLANK": "  "})
    assert keys.secret("MY_TOKEN") == "from-colab"
    monkeypatch.setenv("BLANK", "from-env")
    assert keys.secret("BLANK") == "from-env" and keys.secret("OTHER") is None  # missing secret: no error
    assert capsys.readouterr().out == ""


def test_secret_hint_names_the_secret_where_it_is_set(fake_colab, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert keys.secret_hint("HF_TOKEN") == ("set the environment variable HF_TOKEN before starting Jupyter, then "
                                               "run this cell again")
    fake_colab({})
    hint = keys.secret_hint("HF_TOKEN")
    assert "HF_TOKEN" in hint and "Secrets panel" in hint and "key icon" in hint and "Notebook access" in hint


WAITS_FOR_INPUT = {"input", "getpass", "notebook_login", "interpreter_login"}


def _input_calls(source: str) -> list[str]:
    """Names in ``source`` that would wait for keyboard input: input(), getpass, the Hub's interactive logins."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in WAITS_FOR_INPUT:
                found.append(f"{name}()")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            found += [f"import {n}" for n in names if n.split(".")[0] in WAITS_FOR_INPUT]
    return found


def test_no_helper_or_notebook_cell_waits_for_keyboard_input():
    assert _input_calls("import getpass\nkey = getpass.getpass('key: ')\nx = input()") == [
        "import getpass", "getpass()", "input()"]
    assert _input_calls("from huggingface_hub import notebook_login\nnotebook_login()") == [
        "import notebook_login", "notebook_login()"]
    assert _input_calls("model(input_ids=ids)\ntokenizer.input_ids\nprint('type your input(s)')") == []
    root = Path(__file__).resolve().parents[1]
    offenders = {}
    for module in sorted((root / "helpers").rglob("*.py")):
        offenders[str(module.relative_to(root))] = _input_calls(module.read_text())
    to_python = TransformerManager().transform_cell  # turns !pip and %magics into plain Python
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                offenders[f"{path.name} cell {i}"] = _input_calls(to_python("".join(cell["source"])))
    assert len(offenders) > 20 and not {where: calls for where, calls in offenders.items() if calls}
