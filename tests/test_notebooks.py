"""Every notebook in notebooks/ runs headlessly on the CPU track; its recorded results are checked.

A new notebook joins by being added to the folder and by adding a ``check_<name>`` function here.
``python3 workbook.py test`` executes each notebook once (nbval, CPU track) and points
``$WORKBOOK_RECORDS`` at what they recorded; without it, this module runs them with papermill.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import nbformat
import pytest

from helpers.runner import execute, series

NOTEBOOKS = series()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_clean_and_shaped(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} is committed with outputs"
            # a pandas Styler prints as "<pandas.io.formats.style.Styler at 0x...>" in a headless run
            assert ".style." not in cell.source, f"{path.name}: display tables with helpers.plots.formatted"
    tags = [t for c in nb.cells for t in c.get("metadata", {}).get("tags", [])]
    assert tags.count("parameters") == 1, f"{path.name} needs one cell tagged 'parameters'"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert text.lstrip().startswith("# ") and "objectives" in text.lower()
    first_lines = [c.source.lstrip().split("\n", 1)[0] for c in nb.cells if c.cell_type == "markdown"]
    for heading in ("## Summary", "## Exercises"):  # each opens a cell of its own
        assert heading in first_lines, f"{path.name} lacks a cell that starts with {heading}"
    assert "helpers.record(" in nb.cells[-1].source, f"{path.name} must end with helpers.record(...)"


def check_01_lm_basics(r: dict) -> None:
    """Perplexity falls by more than half; the general base meets a new domain; the numbers hang together."""
    assert r["track"] == "cpu"
    assert r["ppl_after"] < 0.5 * r["ppl_before"]
    assert 0 < r["top1_probability"] <= r["topk_probability_mass"] <= 1
    # the tokenizer lesson: a general tokenizer spends more tokens per word on clinical shorthand
    assert r["clinical_tokens"] / r["clinical_words"] > r["plain_tokens"] / r["plain_words"]
    assert r["sample_after"] and r["sample_after"] != r["sample_before"]
    assert len(set(r["samples"].values())) >= 3  # the decoding strategies really differ
    assert r["tokens_per_second"] > 0 and r["train_seconds"] > 0
    # section 5: the shipped base copies (word lists at most 0.3, held-out note spans at most 0.5); the model trained
    # in section 4 never saw a repeat and does not; the build report shows the phase change: near 1 first, then low
    copying = r["copy_probe"]
    base, yours = copying["shipped base"], copying[f"yours ({r['train_steps']} steps)"]
    assert base["word lists: 2nd / 1st"] <= 0.3 and base["note spans: 2nd / 1st"] <= 0.5, base
    assert base["within 512: 2nd / 1st"] <= 0.6, base  # and a page back (build stage 3; 0.94 before it)
    assert yours["word lists: 2nd / 1st"] > 0.5, yours


def check_02_gpu_memory_math(r: dict) -> None:
    """phi-2's bill and the T4 time predictions, checked against arithmetic done here from the config and the
    workshop's settings, not from the estimator."""
    from helpers import budget, runtime, sft
    from helpers.models import phi2_config

    c = phi2_config()
    h, f, v, n = c.hidden_size, c.intermediate_size, c.vocab_size, c.num_hidden_layers
    per_layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 2 * h
    params = v * h + n * per_layer + 2 * h + (h * v + v)
    assert r["phi2_parameters"] == params
    full_static = r["static_gib"]["full fine-tuning"] * 2**30
    assert abs(full_static - 16 * params) / (16 * params) < 1e-4  # fp32 weights + fp32 grads + two fp32 moments
    # CPU track: budget against what torch sees on a T4 (14.74 GiB), not nvidia-smi's 15,360 MiB
    assert r["gpu_gib"] == pytest.approx(runtime.T4_TORCH_GIB)
    workshop = sft.TRACK_DEFAULTS["gpu"]  # the bill is notebook 03's GPU run: batch 2 x MAX_LENGTH 1024
    assert (r["batch_size"], r["seq_len"]) == (workshop["batch_size"], 1024)
    # unchanged by the smaller GPU and the workshop's batch: LoRA and QLoRA stay far below 14.74 GiB
    assert r["fits"] == {"inference fp16": True, "full fine-tuning": False, "LoRA fp16": True, "QLoRA NF4": True}
    t = r["totals_gib"]
    assert t["QLoRA NF4"] < t["LoRA fp16"] < r["gpu_gib"] < t["full fine-tuning"]
    assert all(abs(e) < 0.01 for e in r["static_check_error"].values())
    assert r["footprint_undercount_bytes"] > 0 and r["qlora_largest_batch_1024"] >= 1
    minutes = r["minutes_on_t4"]
    ratio = (4 + 2 * r["grad_checkpointing"]) / (6 + 2 * r["grad_checkpointing"])
    assert minutes["LoRA fp16"] / minutes["full fine-tuning"] == pytest.approx(ratio)
    tokens = workshop["max_steps"] * workshop["batch_size"] * workshop["grad_accum"] * budget.ASCLEPIUS_MEAN_TOKENS
    assert r["workshop_tokens"] == r["predicted_tokens"]["03_lora_sft"] == tokens
    predicted = r["predicted_minutes_t4"]
    assert predicted["05_two_stage_classifier"] > 0
    if r["prediction_basis"]["03_lora_sft"] == "estimated":  # until a T4 measurement is committed
        lora = 6 * params * tokens / (65e12 * r["utilisation"]) / 60  # LoRA 4 + checkpointing 2 FLOPs/param/token
        assert predicted["03_lora_sft"] == pytest.approx(lora) == minutes["LoRA fp16"]
        assert predicted["04_qlora_sft"] == pytest.approx(lora * budget.QLORA_SLOWDOWN)


def _check_intervals(gain: dict) -> None:
    """Every interval contains its estimate, and 'better' means exactly 'the interval lies above zero'."""
    for task, row in gain.items():
        if row["n"] < 2:  # no interval for a single question, and no claim
            assert not row["better"], task
            continue
        assert row["low"] - 1e-9 <= row["difference"] <= row["high"] + 1e-9, task
        assert row["better"] == (row["low"] > 0), task


def check_03_lora_sft(r: dict) -> None:
    """Held-out patients only; every target adapted; the mask, training, evaluation and round trips hold; the
    fine-tuned model beats the base where the intervals say so, on most tasks."""
    from helpers.models import TINY

    assert r["track"] == "cpu" and r["n_test"] >= 64 and r["train_patients_in_test"] == 0
    assert r["val_patients_in_test"] == 0 and r["n_val"] > 0
    assert set(r["adapters_per_module"]) == set(r["target_modules"])
    assert all(n == TINY.num_layers for n in r["adapters_per_module"].values())
    h, f = TINY.hidden_size, TINY.intermediate_size
    assert r["trainable_parameters"] == r["lora_r"] * TINY.num_layers * (4 * 2 * h + 2 * (h + f))
    labels = r["label_counts"]
    assert labels["eos"] == 1 and labels["answer"] > 0 and labels["prompt"] > labels["answer"]
    assert r["last_loss"] < r["first_loss"] - 1.0 and r["tokens_per_second"] > 0
    assert len(r["eval_loss"]) >= 2 and r["eval_loss"][-1] < r["eval_loss"][0]  # validation loss tracked, falling
    gain = r["token_f1_gain"]
    _check_intervals(gain)
    assert r["tasks_improved"] == [t for t in gain if t != "overall" and gain[t]["better"]]
    assert gain["overall"]["better"]
    assert all(0 <= v <= 1 for v in [*r["form_share"].values(), *r["exact_match_short"].values()])
    assert {"adapter_model.safetensors", "adapter_config.json", "README.md"} <= set(r["adapter_files"])
    assert r["reload_same_answers"] and r["reload_logit_gap"] == 0
    assert r["merge_same_answers"] and r["merge_logit_gap"] < 1e-3
    assert 0.25 < r["memory_measured_bytes"] / r["memory_estimate_bytes"] < 4  # estimate in the right range
    ratios = r["copy_ratios"]  # second reading / first reading of each probe, for the base and the fine-tuned model
    assert set(ratios) == {"base", "fine-tuned"} and all(0 < v < 2 for p in ratios.values() for v in p.values())
    # section 10's prose: the CPU track's base copies what it read a few lines back (notebook 01, section 5)
    base = ratios["base"]
    assert base["word lists"] <= 0.3 and base["note spans (96 back)"] <= 0.5, base
    # at least 20 held-out questions on every task, and a gain whose interval is above 0 on 6 of the 8 tasks
    assert min(r["n_test_per_task"].values()) >= 20 and len(r["n_test_per_task"]) == 8, r["n_test_per_task"]
    assert len(r["tasks_improved"]) >= 6, r["tasks_improved"]
    assert set(r["form_only_short"]) == {"base", "fine-tuned"}
    assert all(0 <= v <= 1 for v in r["form_only_short"].values())


def check_04_qlora_sft(r: dict) -> None:
    """Real NF4 weights; QLoRA beats its base where the intervals say so; 03's results are read back; merging goes
    into float weights."""
    assert r["track"] == "cpu" and r["quantized_layer"] == "Linear4bit" and r["stored_dtype"] == "torch.uint8"
    assert r["blocksize"] == 64 and 0 < r["dequant_relative_error"] < 0.25
    assert r["optimizer"].endswith("adamw_torch")  # paged 8-bit AdamW needs CUDA
    assert r["last_loss"] < r["first_loss"] - 1.0
    assert len(r["eval_loss"]) >= 2 and r["eval_loss"][-1] < r["eval_loss"][0]
    _check_intervals(r["token_f1_gain"])
    assert r["token_f1_gain"]["overall"]["better"], "QLoRA does not beat its base overall"
    assert "LoRA (notebook 03)" in r["versus_lora"], "notebook 04 did not find notebook 03's results"
    same_step = [k for k in r["versus_lora"]["QLoRA"] if k.startswith("training loss at step")]
    assert same_step and r["versus_lora"]["LoRA (notebook 03)"][same_step[0]] is not None  # curves overlaid
    assert r["merge_logit_gap"] > 0  # merged float != NF4: the quantization error


def check_05_two_stage_classifier(r: dict) -> None:
    """Stage 1 lowers held-out perplexity; every variant is wired as intended and beats chance; every AUROC and every
    difference (the TF-IDF baseline's too) has a bootstrap interval around its estimate; no verdict says more than
    its interval, and each of the paper's findings is judged from the intervals, by a claim the paper's numbers meet."""
    assert r["track"] == "cpu" and r["train_patients_in_test"] == 0 and r["stage1_test_notes_leaked"] == 0
    assert not r["lm_alive_after_stage1"] and r["wrapped_models_alive"] == 0  # one model in memory at a time
    # a real domain shift: the general-domain base's held-out note perplexity falls by at least a fifth in stage 1
    assert r["ppl_after"]["test"] <= 0.8 * r["ppl_before"]["test"], (r["ppl_before"], r["ppl_after"])
    assert set(r["adapter_files"]) >= {"adapter_config.json", "adapter_model.safetensors"}
    assert set(r["variants"]) == set("abcdef") and all(r["wiring_ok"].values())
    macro = r["macro_auroc"]
    assert all(m > 0.5 for m in macro.values()), macro
    # issue 21 asks for a best macro AUROC of 0.75; on the shipped bases the best measured at 2 epochs is 0.69-0.72
    # (measurements/classifier_trials.md): below that target, and said so, not hidden by this floor, which only
    # says that the best variant learns the tasks well clear of chance (0.5)
    assert r["pooling"] == "mean" and max(macro.values()) >= 0.65, macro
    for key, per_task in r["auroc"].items():
        assert set(per_task) == {"PMV", "MOR", "LOS", "DIAG", "PROC"}
        assert abs(sum(per_task.values()) / 5 - macro[key]) < 1e-9
        assert all(0.3 < v < 1.0 for v in per_task.values())
    assert all(abs(r["los_ovo"][k] - r["auroc"][k]["LOS"]) < 0.1 for k in r["los_ovo"])
    tasks = {"PMV", "MOR", "LOS", "DIAG", "PROC"}
    assert set(r["baseline_auroc"]) == tasks and r["baseline_macro"] > 0.5  # the baseline, scored like the variants
    points = {**r["auroc"], "baseline": r["baseline_auroc"], "baseline_cut": r["baseline_cut_auroc"]}
    assert set(r["auroc_ci"]) == set("abcdef") | {"baseline", "baseline_cut"} and r["n_boot"] >= 500
    for key, per in r["auroc_ci"].items():  # [estimate, low, high] per task and macro
        assert set(per) == tasks | {"macro"}, key
        for col, (est, low, high) in per.items():
            assert low <= est <= high and low < high, (key, col, per[col])
            assert abs(est - (points[key][col] if col != "macro" else sum(points[key].values()) / 5)) < 1e-9
    assert {f"{k}-a" for k in "bcdef"} | {"baseline-a", "baseline-baseline_cut"} <= set(r["diff_ci"])
    for pair, per in r["diff_ci"].items():  # paired differences x - y, around the difference of the estimates
        x, y = pair.split("-")
        for col, (est, low, high) in per.items():
            assert low <= est <= high and abs(est - (r["auroc_ci"][x][col][0] - r["auroc_ci"][y][col][0])) < 1e-9
    # section 3's prose: the notes are cut, and the cut is measured (how much is read, where the medications start)
    cut = r["reading_cut"]
    assert cut["median_tokens"] > r["max_length"] and 0 < cut["share_read"] < 1 and cut["share_cut"] > 0.5, cut
    assert cut["notes_with_medications"] > 0 and 0 <= cut["medications_past_cut"] <= 1, cut

    def side(pair: str, threshold: float = 0.0) -> int:
        _, low, high = r["diff_ci"][pair]["macro"]
        return 1 if low > threshold else -1 if high < threshold else 0

    said = {1: "higher (interval above 0)", -1: "lower (interval below 0)", 0: "not resolved (interval includes 0)"}
    assert r["verdicts"] == {pair: said[side(pair)] for pair in r["diff_ci"]}
    assert r["trainable_vs_head_only"] == {k: r["verdicts"][f"{k}-a"] for k in "bdef"}
    assert len(r["findings"]) == 5 and r["small_effect"] > 0
    for name, f in r["findings"].items():  # each verdict from its region, read here without helpers.claims
        lo, hi = (-math.inf if f["low"] is None else f["low"]), (math.inf if f["high"] is None else f["high"])
        assert f["paper holds"] and f["differences"], name  # the region fits the paper's own numbers
        assert all(lo < d < hi for d in f["paper"]), name
        per = []
        for pair in f["differences"]:
            _, low, high = r["diff_ci"][pair]["macro"]
            inside, outside = lo < low and high < hi, high < lo or low > hi
            opposite = (f["direction"] > 0 and high < 0) or (f["direction"] < 0 and low > 0)
            per.append("reproduces" if inside else "opposite direction" if opposite else "contradicts" if outside
                       else "cannot resolve")
        expected = next((v for v in ("opposite direction", "contradicts", "cannot resolve") if v in per), "reproduces")
        assert f["verdict"] == expected, (name, f)


def check_06_beyond_one_gpu(r: dict) -> None:
    """Two real ranks train like one process at the same effective batch; the shards each rank reports are what
    notebook 02's estimator divided by two says; the T4 answer is the estimator's own."""
    from helpers import memory

    n = r["n_processes"]
    assert n >= 2 and r["world_sizes_seen"] == {"1": 1, str(n): n}  # really N ranks, as the script saw them
    assert r["effective_batches"]["1"] == r["effective_batches"][str(n)]
    one, many = r["losses"]["1"], r["losses"][str(n)]
    assert len(one) == len(many) >= 4 and all(0 < x < 20 for x in one)
    assert r["loss_rtol"] <= 1e-3 and r["loss_max_relative_difference"] <= r["loss_rtol"]
    assert max(abs(a - b) / a for a, b in zip(one, many, strict=True)) == pytest.approx(
        r["loss_max_relative_difference"], rel=1e-6, abs=1e-12)
    # adapter weights are of order 0.01-0.1; Adam can move a weight with a near-zero gradient by up to a step's lr
    # on a float-order difference (tests/test_train_sft.py), so the bound is half a step of 5e-3
    assert r["adapter_max_difference"] < 2.5e-3, r["adapter_max_difference"]
    assert r["tokens_seen"]["1"] == r["tokens_seen"][str(n)] > 0 and all(v > 0 for v in r["tokens_per_second"].values())
    # real per-rank bytes (helpers.shard, two processes) against memory.per_rank's division of the tiny model's bill
    world, parts, shards = r["shard_world_size"], r["tiny_static_bytes"], r["shard_bytes"]
    assert world == 2 and set(shards) == {"replicated", "zero1", "zero3"}
    full = shards["replicated"][0]
    assert all(rank == full for rank in shards["replicated"])  # DDP: every rank holds everything
    assert full["LoRA parameters"] == parts["LoRA parameters"] and full["optimizer states"] == parts["optimizer states"]
    for strategy, divided in (("zero1", {"optimizer states"}),
                              ("zero3", {"frozen weights", "LoRA parameters", "gradients", "optimizer states"})):
        for part, total in full.items():
            held = [rank[part] for rank in shards[strategy]]
            if part in divided:
                assert sum(held) == total and max(held) <= 1.05 * math.ceil(total / world), (strategy, part, held)
            else:
                assert held == [total] * world, (strategy, part, held)
    assert r["shard_estimate_gap"] < 0.01
    losses = list(r["shard_losses"].values())
    assert all(x == pytest.approx(losses[0], rel=1e-5) for x in losses)  # sharding moves bytes, not arithmetic
    # the T4 question, answered by the estimator: full fine-tuning of phi-2 under FSDP, at notebook 03's GPU batch
    t4 = r["fewest_gpus"]["T4"]
    assert t4["full, replicated"] is None and t4["full, zero1"] is None  # the summary: these never fit
    assert t4["full, zero3"] == r["t4s_for_full_fsdp"] < t4["full, zero2"]  # full sharding needs the fewest
    assert r["full_static_in_t4s"] > 2  # the summary: more than two T4s' worth before the first activation
    assert 2 <= r["t4s_for_full_fsdp"] <= 8 and all(t4[f"LoRA, {s}"] == 1 for s in memory.SHARDINGS)
    rows = [x for x in r["per_gpu_gib"] if x["method"] == "full" and x["sharding"] == "zero3"]
    assert [x["GiB per GPU"] for x in sorted(rows, key=lambda x: x["GPUs"])] == sorted(
        (x["GiB per GPU"] for x in rows), reverse=True)  # more GPUs, less per GPU


# Every markdown sentence that predicts or interprets a result of the run, by a phrase it contains, and the check
# on the record that makes it true (issue 24). test_every_expectation_in_the_prose_is_registered finds the
# sentences that say "expect" or "should"; each must contain a phrase below or in PROSE_FREE. Checks marked
# ANY_SCALE hold whatever the model and the number of steps, so tests/test_gpu_settings.py runs them too.
PROSE = {
    "01_lm_basics": {
        "so expect general-purpose guesses": lambda r: r["top1_probability"] < 0.5,  # no confident clinical guess
        "held-out perplexity should sit near the vocabulary size":
            lambda r: 0.5 * r["uniform_ppl"] < r["ppl_before"] < 2 * r["uniform_ppl"],
        "Expect the loss to start near `ln(V)`": lambda r: abs(r["first_loss"] - math.log(r["uniform_ppl"])) < 1.0,
        "and fall quickly as the model learns": lambda r: r["last_loss"] < r["first_loss"] - 1.0,
        "it has read many more tokens than yours": lambda r: r["base_tokens"] > 10 * r["train_tokens"],
        "a poor predictor of a domain it has not seen":
            lambda r: r["ppl_pretrained_tiny"] >= 1.5 * r["ppl_pretrained_tiny_general"],
        "every token was about equally likely": lambda r: r["ppl_before"] > 0.5 * r["uniform_ppl"],
        "A short run first learns which strings are frequent in *these* notes":
            lambda r: r["continuation"]["after"]["in_notes"] > r["continuation"]["before"]["in_notes"],
        "Expect the ratios to stay near 1 through a long plateau, then fall steeply":
            lambda r: r["build_words_ratio_first"] > 0.9 and r["build_words_ratio_last"] <= 0.3,
        "Expect the loss to sit on that line for a few hundred steps and then drop below it":
            lambda r: not r["phase_demo_steps"] or (r["phase_demo_plateau"] > 0.95 * math.log(64)
                                                    and r["phase_demo_end"] < 0.9 * math.log(64)),
        "why notebook 03 can now ask it for facts that are written in the note":
            lambda r: r["copy_probe"]["shipped base"]["note spans: 2nd / 1st"] <= 0.5,
    },
    "02_gpu_memory_math": {
        "far beyond the T4 before a single activation is stored":
            lambda r: r["static_gib"]["full fine-tuning"] > r["gpu_gib"],
        "NF4 shrinks those weights to about a quarter":
            lambda r: r["static_gib"]["QLoRA NF4"] < 0.4 * r["static_gib"]["LoRA fp16"],
        "LoRA does **not** save activation memory": lambda r: r["lora_vs_full_activations"] > 1,
        "The estimate column tracks both rows within the printed error":
            lambda r: all(abs(e) < 0.15 for e in r["activation_check_error"].values()),
        "it does not fit the T4 at all": lambda r: not r["fits"]["full fine-tuning"],
        "full fine-tuning is far above it whatever we do with the batch":
            lambda r: r["static_gib"]["full fine-tuning"] > r["gpu_gib"],
        "LoRA on an fp16 base and QLoRA both fit":
            lambda r: r["fits"]["LoRA fp16"] and r["fits"]["QLoRA NF4"]
            and r["totals_gib"]["QLoRA NF4"] < r["totals_gib"]["LoRA fp16"],
    },
    "03_lora_sft": {
        "Expect rambling": lambda r: r["token_f1_gain"]["overall"]["base"] < 0.1,
        "draws batches of similar length instead":
            lambda r: r["padding_share"]["grouped by length"] <= r["padding_share"]["random batches"],
        "large for the tiny model and under 1% for phi-2":
            lambda r: r["phi2_trainable_share"] < 0.01 < r["trainable_share"],
        "and every target module got an adapter":
            lambda r: set(r["adapters_per_module"]) == set(r["target_modules"])
            and all(n > 0 for n in r["adapters_per_module"].values()),
        "it reloads onto a fresh base with the same answers and merges into float weights":
            lambda r: r["reload_same_answers"] and r["merge_same_answers"],
    },
    "04_qlora_sft": {
        "The saving is smaller than 4/16 (or 4/32 on CPU)":
            lambda r: r["weight_bytes"]["NF4 model"] > r["weight_bytes"]["float model (fp32)"] / 8,
        "a shorter run than notebook 03's":
            lambda r: r["steps"] < r["versus_lora"]["LoRA (notebook 03)"]["steps"],
        "The adapter reloads onto a fresh NF4 base with identical answers": lambda r: r["reload_same_answers"],
        "The NF4 model holds a fraction of the float model's weight bytes":
            lambda r: r["weight_bytes"]["NF4 model"] < 0.8 * r["weight_bytes"]["float model (fp32)"],
    },
    "05_two_stage_classifier": {
        "mortality and prolonged ventilation are **imbalanced**":
            lambda r: all(v < 0.3 for v in r["positive_share"].values()),
        "We expect the held-out perplexity to fall": lambda r: r["ppl_after"]["test"] < r["ppl_before"]["test"],
        "Expect a frozen clinical adapter to change the logits but get no gradient":
            lambda r: all(r["wiring_ok"].values())
            and all(v["clinical"] > 0 for k, v in r["logit_change_off"].items() if "clinical" in v)
            and all(v["downstream"] == 0 for v in r["logit_change_off"].values() if "downstream" in v),
        "the downstream adapter's gradient norm is 0":
            lambda r: r["trap_downstream_grad"] == 0 and r["trap_clinical_grad_frozen"] == 0,
        "the clinical adapter we froze receives a gradient too": lambda r: r["trap_clinical_grad"] > 0,
    },
    "06_beyond_one_gpu": {
        "the non-padding tokens they trained on, which must be equal":
            lambda r: len(set(r["tokens_seen"].values())) == 1,
        "no batch size or checkpointing brings full fine-tuning's static part": lambda r: r["full_static_in_t4s"] > 1,
        "LoRA of phi-2 fits one T4": lambda r: all(v == 1 for k, v in r["fewest_gpus"]["T4"].items()
                                                   if k.startswith("LoRA")),
    },
}
ANY_SCALE = {  # hold on the GPU track's settings too (tests/test_gpu_settings.py: a few steps, a random model)
    "03_lora_sft": ["draws batches of similar length instead", "and every target module got an adapter"],
    "05_two_stage_classifier": ["Expect a frozen clinical adapter to change the logits but get no gradient",
                                "the downstream adapter's gradient norm is 0",
                                "the clinical adapter we froze receives a gradient too"],
}
PROSE_FREE = {  # sentences with "expect" or "should" that state no result of the run, and why
    "to expect head-only (a) and frozen-clinical-plus-head (c) to be the weakest":
        "the paper's expectation; section 7 prints whether this run's intervals bear it out",
    "Section 7 checks this expectation against the intervals":
        "points to the verdict section 7 prints from this run's intervals",
    "so it should come out higher than what a run of shorter examples measures":
        "about the GPU runs of section 8, which the CPU track does not make; gpu-check measures them",
}


def test_every_exempt_sentence_is_still_in_a_notebook():
    text = " ".join(s for path in NOTEBOOKS for s in prose_sentences(path))
    assert not [p for p in PROSE_FREE if p not in text]


def prose_sentences(path) -> list[str]:
    """The sentences of a notebook's markdown outside its exercises, whitespace folded."""
    import re

    nb = nbformat.read(path, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "markdown" and not c.source.lstrip().startswith("## Exerc")]
    text = re.sub(r"\s+", " ", "\n".join(cells))
    return re.split(r"(?<=[.!?:])\s+(?=[A-Z*`(#\[])", text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_expectation_in_the_prose_is_registered(path):
    import re

    sentences = prose_sentences(path)
    text = " ".join(sentences)
    registered = PROSE.get(path.stem, {})
    missing = [phrase for phrase in registered if phrase not in text]
    assert not missing, f"{path.name}: these registered phrases are no longer in the prose: {missing}"
    cue = re.compile(r"\b(expect\w*|should)\b", re.IGNORECASE)
    known = [*registered, *PROSE_FREE]
    loose = [s for s in sentences if cue.search(s) and not any(k in s for k in known)]
    assert not loose, (f"{path.name}: add a check to PROSE (or a reason to PROSE_FREE) for: {loose}")
    for phrase in ANY_SCALE.get(path.stem, []):
        assert phrase in registered, phrase


def check_prose(name: str, r: dict, phrases=None) -> None:
    """Every registered sentence of notebook ``name`` (or those in ``phrases``) holds on its record ``r``."""
    checks = PROSE.get(name, {})
    wrong = [p for p in (phrases if phrases is not None else checks) if not checks[p](r)]
    assert not wrong, f"{name}: the prose says what this run does not show: {wrong}"


@pytest.fixture(scope="module")
def series_dir(tmp_path_factory):
    """One output folder for the whole series, as in build/: notebook 04 reads what 03 recorded."""
    return tmp_path_factory.mktemp("series")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_cpu_track(path, series_dir):
    recorded = os.environ.get("WORKBOOK_RECORDS")
    if recorded:
        results_file = Path(recorded) / f"{path.stem}.json"
        assert results_file.exists(), f"{path.name} recorded nothing in {recorded}: its nbval run failed (see above)"
    else:
        row = execute(path, series_dir, track="cpu")
        assert row["status"] == "pass", f"{path.name} failed: {row['error']} (see {series_dir / path.name})"
        results_file = series_dir / f"{path.stem}.json"
        print(f"{path.stem}: {row['seconds']} s")
    check = globals().get(f"check_{path.stem}")
    assert check is not None, f"add check_{path.stem}(results) to tests/test_notebooks.py"
    record = json.loads(results_file.read_text())
    check(record)
    check_prose(path.stem, record)


# What only the clock or the machine decides; everything else a notebook records is fixed by its code and seed.
TIMINGS = ("recorded_at", "train_seconds", "tokens_per_second")


def test_the_korean_edition_of_01_runs_and_records_what_the_english_one_does(series_dir):
    """The Korean notebooks share the English code (tests/test_translations.py); 01 also runs, so that a broken
    generator or a Korean cell that breaks the notebook shows, and it must record what the English 01 recorded."""
    from helpers.translate import LANGUAGE, korean_path

    english = NOTEBOOKS[0]
    recorded = os.environ.get("WORKBOOK_RECORDS")
    if recorded:
        folder, english_file = Path(recorded) / LANGUAGE, Path(recorded) / f"{english.stem}.json"
        assert (folder / f"{english.stem}.json").exists(), f"ko/{english.name} recorded nothing: its nbval run failed"
    else:
        folder, english_file = series_dir / LANGUAGE, series_dir / f"{english.stem}.json"
        row = execute(korean_path(english), folder, track="cpu")
        assert row["status"] == "pass", f"ko/{english.name} failed: {row['error']} (see {folder / english.name})"
    korean = json.loads((folder / f"{english.stem}.json").read_text())
    check_01_lm_basics(korean)
    check_prose(english.stem, korean)
    if not english_file.exists():
        pytest.skip(f"{english.name} did not record here, so there is nothing to compare the Korean run with")
    reference = json.loads(english_file.read_text())
    differ = sorted(k for k in set(reference) | set(korean) if k not in TIMINGS and reference.get(k) != korean.get(k))
    assert not differ, f"the same code recorded different results in Korean and English: {differ}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_understands_every_parameter(path):
    import papermill as pm

    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = [line.split("=")[0].strip() for line in cell.source.splitlines() if line and line[0].isupper()]
    found = set(pm.inspect_notebook(str(path)))
    assert "TRACK" in names and "SEED" in names
    assert set(names) == found, f"papermill cannot parse {set(names) - found}: no '=' in parameter comments"
    for line in cell.source.splitlines():
        assert "#" in line, f"parameter without a trailing comment: {line!r}"
