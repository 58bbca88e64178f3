"""One vocabulary of parameters across the series (issue 12): the same knob has the same name in every notebook,
a name never means two things, every parameter has a comment, and parameters sit under comment headers."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)\s*=\s*(.+)$")
STAGES = ("STAGE1_", "DOWNSTREAM_", "ADAPTER_", "HEAD_", "PHASE_DEMO_")  # prefix: which part (05, 01's demo)


def parameters_cell(path: Path) -> str:
    cells = [c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: one cell tagged 'parameters'"
    return cells[0].source


def parameters(source: str) -> dict[str, str]:
    """Name -> comment of every assignment in a parameters cell (comment '' where there is none)."""
    found = {}
    for line in source.splitlines():
        match = ASSIGNMENT.match(line)
        if match:
            parts = re.split(r"\s#\s", match.group(2), maxsplit=1)
            found[match.group(1)] = parts[1].strip() if len(parts) == 2 else ""
    return found


def naming_problems(name: str) -> list[str]:
    """What is wrong with a parameter's name, by the series' vocabulary (empty: nothing)."""
    base = name
    for prefix in STAGES:
        base = base.removeprefix(prefix)
    rules = [
        (re.search(r"(^|_)LR$", name), "a learning rate is LEARNING_RATE"),
        ("RANK" in name or (name.endswith("_R") and base != "LORA_R"), "a LoRA rank is LORA_R"),
        ("STEPS" in name and base not in ("MAX_STEPS", "SAVE_STEPS", "EVAL_STEPS"), "steps are MAX_STEPS"),
        ("BATCH" in name and base != "BATCH_SIZE", "a batch size is BATCH_SIZE"),
        ("ACCUM" in name and name != "GRAD_ACCUM", "gradient accumulation is GRAD_ACCUM"),
        ("ALPHA" in name and base != "LORA_ALPHA", "LoRA's scaling numerator is LORA_ALPHA"),
        ("LEN" in name and name not in ("MAX_LENGTH", "SEQ_LEN"), "a token limit is MAX_LENGTH"),
    ]
    return [f"{name}: {why}" for bad, why in rules if bad]


def test_the_naming_rules_catch_the_old_names():
    for old in ("LORA_RANK", "CLINICAL_R", "TRAIN_STEPS", "STAGE1_LR", "HEAD_LR", "LORA_ALPHA_PER_R", "MAX_LEN"):
        assert naming_problems(old), old
    for good in ("LORA_R", "DOWNSTREAM_LORA_R", "MAX_STEPS", "STAGE1_MAX_STEPS", "HEAD_LEARNING_RATE", "GRAD_ACCUM",
                 "BATCH_SIZE", "SAVE_STEPS", "LORA_ALPHA", "MAX_LENGTH"):
        assert not naming_problems(good), good
    assert parameters("# data\nN = 3  # three\nM = 4\n") == {"N": "three", "M": ""}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_follow_the_vocabulary_and_have_comments(path):
    source = parameters_cell(path)
    found = parameters(source)
    assert found, f"{path.name}: no parameters found"
    assert not [n for n, comment in found.items() if not comment], f"{path.name}: parameters without a comment"
    problems = [p for name in found for p in naming_problems(name)]
    assert not problems, problems
    lines = [line for line in source.splitlines() if line.strip()]
    headers = [line for line in lines if line.startswith("# ")]
    assert lines[0].startswith("# ") and len(headers) >= 3, f"{path.name}: group the parameters under comment headers"


def test_a_shared_name_means_one_thing():
    comments: dict[str, dict[str, str]] = {}
    for path in NOTEBOOKS:
        for name, comment in parameters(parameters_cell(path)).items():
            comments.setdefault(name, {})[path.stem] = comment
    # MAX_LENGTH drops examples (03, 04); notebook 05's truncation has its own name, NOTE_TOKENS
    max_length = comments["MAX_LENGTH"]
    assert all("dropped" in c and "never truncated" in c for c in max_length.values()), max_length
    assert set(comments["MAX_LENGTH"]) == {"03_lora_sft", "04_qlora_sft"}
    for name in ("LORA_R", "MAX_STEPS", "BATCH_SIZE", "LEARNING_RATE", "SEED", "TRACK", "MODEL"):
        assert len(comments.get(name, {})) >= 2, f"{name} is shared by at least two notebooks"
    for name in ("MAX_STEPS", "LEARNING_RATE", "LORA_R"):  # the same knob, so the comments say the same thing
        words = {nb: set(re.findall(r"[a-z]+", c.lower())) for nb, c in comments[name].items()}
        key = {"MAX_STEPS": "steps", "LEARNING_RATE": "learning", "LORA_R": "rank"}[name]
        assert all(key in w for w in words.values()), (name, comments[name])
