"""Supervised fine-tuning with LoRA and QLoRA (introduced in notebook 03, reused in 04).

The workshop's phi-2 prompt as a prompt/completion pair, a length filter that never truncates an
answer, the precision flags and optimizer the notebooks pass to SFTConfig, the last checkpoint to resume from,
the training throughput, and the checks that every target module got an adapter. The LoraConfig, SFTConfig and
training call themselves are written in notebooks 03 and 04.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from pathlib import Path

import pandas as pd

from .data import filter_by_tokens
from .models import PHI2_TARGET_MODULES
from .runtime import WorkbookError, choose

INSTRUCTION = ("You are a careful clinical assistant. Read the clinical note between [note start] and "
               "[note end], then answer the question using only the note.")


TRACK_DEFAULTS = {  # what fits the time: minutes on a CPU; under 20 minutes of a T4 (budget.predicted_minutes)
    "cpu": {"n_train": 800, "n_test": 160, "n_val": 24, "max_steps": 160, "batch_size": 4, "grad_accum": 1,
            "lr": 5e-3, "max_new_tokens": 64, "max_note_chars": 2000},
    "gpu": {"n_train": 960, "n_test": 80, "n_val": 40, "max_steps": 120, "batch_size": 2, "grad_accum": 4,
            "lr": 2e-4, "max_new_tokens": 200, "max_note_chars": 2500},
}

QLORA_STEPS = {"cpu": 50}  # notebook 04 on CPU: a short run drawn over notebook 03's curve (the GPU track: as 03)


def track_settings(track: str, **chosen) -> dict:
    """The track's defaults, overridden by every setting in ``chosen`` that is not None; one sentence for a count
    that must be at least 1."""
    settings = choose(TRACK_DEFAULTS, track, **chosen)
    names = {"max_steps": "MAX_STEPS", "batch_size": "BATCH_SIZE", "grad_accum": "GRAD_ACCUM",
             "save_steps": "SAVE_STEPS", "eval_steps": "EVAL_STEPS", "n_train": "N_TRAIN", "n_test": "N_TEST"}
    bad = [f"{name}={settings[key]}" for key, name in names.items() if key in settings and settings[key] < 1]
    if bad:
        raise WorkbookError(f"{', '.join(bad)}: each must be at least 1.")
    return settings


def prompt_of(note: str, question: str) -> str:
    """The workshop's phi-2 prompt: instruction, the note between markers, the question, then 'Output:'."""
    return f"Instruct: {INSTRUCTION}\n[note start]\n{note}\n[note end]\nQuestion: {question}\nOutput:"


def completion_of(answer: str, eos: str) -> str:
    """What the model learns to write after 'Output:': the answer, then EOS so that it learns to stop."""
    return f" {answer.strip()}{eos}"


def prompts(df: pd.DataFrame) -> list[str]:
    """The prompt of every row of a (note, question) table."""
    return [prompt_of(n, q) for n, q in zip(df["note"], df["question"], strict=True)]


def prompt_completion_rows(df: pd.DataFrame, eos: str) -> pd.DataFrame:
    """The prompt/completion table TRL trains on (completion-only loss comes from this shape)."""
    return pd.DataFrame({"prompt": prompts(df),
                         "completion": [completion_of(a, eos) for a in df["answer"]]}, index=df.index)


def prompt_completion_dataset(df: pd.DataFrame, tokenizer):
    """A Hugging Face ``Dataset`` of prompt/completion pairs for TRL's SFTTrainer."""
    from datasets import Dataset

    return Dataset.from_pandas(prompt_completion_rows(df, tokenizer.eos_token), preserve_index=False)


def fit_to_length(df: pd.DataFrame, tokenizer, max_length: int) -> pd.DataFrame:
    """Keep the rows whose whole prompt + answer + EOS fits in ``max_length`` tokens, so nothing is truncated."""
    eos = tokenizer.eos_token

    def text(row) -> str:
        return prompt_of(row["note"], row["question"]) + completion_of(row["answer"], eos)

    kept = filter_by_tokens(df, tokenizer, max_length, text_fn=text)
    if kept.empty:
        raise WorkbookError(f"No example fits in MAX_LENGTH={max_length} tokens: raise MAX_LENGTH or lower the "
                            "character filter.")
    return kept


def train_test_rows(splits: dict, tokenizer, max_length: int, n_train: int, n_test: int,
                    seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows (a seeded sample) and held-out rows (the first ``n_test // 8`` per task), both length-filtered.

    Notebooks 03 and 04 call this with the same arguments, so they score the very same questions.
    """
    train, test = (fit_to_length(splits[name], tokenizer, max_length) for name in ("train", "test"))
    print(f"Token filter at {max_length}: kept {len(train):,} of {len(splits['train']):,} training rows and "
          f"{len(test):,} of {len(splits['test']):,} test rows.")
    return train.sample(min(n_train, len(train)), random_state=seed), test.groupby("task").head(n_test // 8)


def validation_rows(splits: dict, tokenizer, max_length: int, n_val: int, seed: int = 0) -> pd.DataFrame:
    """Up to ``n_val`` length-filtered rows of the validation patients (neither trained on nor tested), for the
    validation loss during training."""
    val = fit_to_length(splits["validation"], tokenizer, max_length)
    return val.sample(min(n_val, len(val)), random_state=seed)


def phi2_lora_share(r: int, target_modules=PHI2_TARGET_MODULES) -> float:
    """The share of phi-2's parameters that LoRA of rank ``r`` on ``target_modules`` trains (from its config)."""
    from .memory import Setup, trainable_parameters
    from .models import phi2_config

    config = phi2_config()
    lora = trainable_parameters(config, Setup(method="lora", lora_rank=r, target_modules=tuple(target_modules)))
    full = trainable_parameters(config, Setup(method="full"))
    return lora / (full + lora)


def precision_flags(rt) -> tuple[bool, bool]:
    """``(fp16, bf16)`` for TrainingArguments: fp16 on a T4 (TRL defaults to bf16, which a T4 only emulates), bf16
    on compute capability 8.0 or higher, neither (fp32) on CPU. Notebook 03, section 6, passes both to SFTConfig."""
    return rt.precision == "fp16", rt.precision == "bf16"


def optimizer_for(rt, quantized: bool) -> str:
    """Paged 8-bit AdamW for QLoRA on a GPU (bitsandbytes), plain torch AdamW otherwise (notebook 04, section 4)."""
    return "paged_adamw_8bit" if quantized and rt.device == "cuda" else "adamw_torch"


def keep_trainable_fp32(model, precision: str) -> dict[str, int]:
    """Put every trainable tensor back in fp32 unless training in bf16; return the dtypes found before.

    TRL 1.16's SFTTrainer casts a quantized model's trainable LoRA weights to bf16. With fp16 mixed precision
    (a T4) the GradScaler then has to unscale bf16 gradients, which CUDA cannot ("not implemented for
    'BFloat16'"): the first optimizer step crashes. Adapters in fp32 are also what notebook 02's bill assumes.
    """
    from collections import Counter

    trainable = [param for param in model.parameters() if param.requires_grad]
    before = Counter(str(param.dtype).removeprefix("torch.") for param in trainable)
    if precision != "bf16":
        for param in trainable:
            param.data = param.data.float()
    return dict(before)


def padding_share(lengths: list[int], order: list[int], batch_size: int) -> float:
    """The share of the tokens in batches of ``batch_size`` taken in ``order`` that are padding (each batch is
    padded to its longest sequence)."""
    padded = real = 0
    for start in range(0, len(order), batch_size):
        chunk = [lengths[i] for i in order[start : start + batch_size]]
        padded += len(chunk) * max(chunk)
        real += sum(chunk)
    return 1 - real / padded if padded else 0.0


def checkpoint_root(use_drive: bool = False) -> Path:
    """Where runs keep their checkpoints: Google Drive on Colab when asked (it survives a disconnect), else local."""
    from .record import output_dir
    from .runtime import on_colab

    if use_drive and on_colab():
        from google.colab import drive

        from .record import DRIVE_FOLDER, DRIVE_ROOT

        drive.mount(str(DRIVE_ROOT.parent))
        return DRIVE_ROOT / DRIVE_FOLDER / "runs"
    if use_drive:
        print("USE_DRIVE=True only applies on Colab: keeping checkpoints in the local runs/ folder.")
    return output_dir() / "runs"


def run_dir(root, name: str, settings: dict) -> Path:
    """A checkpoint folder named after the run and a hash of its settings: change a setting, get a new run."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return Path(root) / f"{name}-{digest}"


def last_checkpoint(output_dir) -> str | None:
    """The newest ``checkpoint-N`` folder in ``output_dir``, or None."""
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None


@contextlib.contextmanager
def timed_run(trainer, resume: str | None):
    """Around ``trainer.train(resume_from_checkpoint=resume)``: fills the yielded dict with the steps trained in
    this call, their seconds, the non-padding tokens and tokens per second, and the step it resumed from."""
    saved = json.loads((Path(resume) / "trainer_state.json").read_text()) if resume else {}
    start_step, tokens_before = saved.get("global_step", 0), saved.get("num_input_tokens_seen", 0)
    run = {"resumed_from_step": start_step}
    if resume:
        print(f"Resuming from {resume} (step {start_step} of {trainer.args.max_steps}).")
    start = time.perf_counter()
    yield run
    seconds = time.perf_counter() - start
    tokens = trainer.state.num_input_tokens_seen - tokens_before
    run.update(steps=trainer.state.global_step - start_step, seconds=seconds, tokens=tokens,
               tokens_per_second=tokens / seconds if seconds else 0.0)


def _logged(trainer, key: str) -> pd.DataFrame:
    """Step and ``key`` of every entry of the trainer's log history that has it."""
    rows = [(log["step"], log[key]) for log in trainer.state.log_history if key in log]
    return pd.DataFrame(rows, columns=["step", key])


def loss_history(trainer) -> pd.DataFrame:
    """Step and training loss of every logged step (checkpointed history included after a resume)."""
    return _logged(trainer, "loss")


def eval_history(trainer) -> pd.DataFrame:
    """Step and validation loss of every evaluation (empty without an ``eval_dataset``)."""
    return _logged(trainer, "eval_loss")


def adapter_coverage(model, target_modules=PHI2_TARGET_MODULES) -> pd.Series:
    """How many layers got a LoRA adapter, per target module name; one clear error if any got none.

    peft only complains when *no* name matches, so a stale name (phi-2's old ``Wqkv``) would
    otherwise leave part of the model silently untrained.
    """
    counts = {name: 0 for name in target_modules}
    for full_name, module in model.named_modules():
        leaf = full_name.rsplit(".", 1)[-1]
        if leaf in counts and hasattr(module, "lora_A"):
            counts[leaf] += 1
    missing = [name for name, n in counts.items() if n == 0]
    if missing:
        raise WorkbookError(f"No LoRA adapter was attached to {', '.join(missing)}: check TARGET_MODULES against "
                            "the model's module names (print(model) lists them).")
    return pd.Series(counts, name="layers with an adapter")


def score_answer_positions_only() -> bool:
    """Make TRL's loss project only the answer positions through the LM head on CPU, as it does on CUDA; return
    whether a change was made (notebooks 03 and 04 call this before building the SFTTrainer).

    TRL's SFTTrainer computes the loss with a fused LM head that, on a Triton device, scores only the positions
    that carry a label. Elsewhere it scores *every* position (prompt included) and masks the unlabelled ones
    afterwards, to keep tile shapes fixed for compilers such as Neuron's. Eager CPU training compiles nothing, so
    that costs a projection onto the whole vocabulary for every prompt token: about half of a CPU training step
    here. The loss and the gradients are the same either way (``tests/test_sft.py`` checks it).
    """
    try:
        from trl.kernels import chunked_logprob
    except ImportError:  # TRL before 1.0 (Colab's install): the model's own loss, no fused LM head to narrow
        return False
    from trl.trainer import utils as trl_utils

    if not hasattr(trl_utils, "_use_triton"):
        raise WorkbookError("This TRL release no longer has trl.trainer.utils._use_triton: pin the TRL version of "
                            "requirements.txt, or remove the call to sft.score_answer_positions_only().")
    if getattr(trl_utils._use_triton, "workbook_cpu", False):
        return False
    original = chunked_logprob._use_triton

    def compact_on_cpu(device) -> bool:
        return device.type == "cpu" or original(device)

    compact_on_cpu.workbook_cpu = True
    trl_utils._use_triton = compact_on_cpu  # only the choice of positions: the kernel keeps its CPU code path
    return True
