"""Launching notebook 03's SFT on more than one GPU (notebook 06): the committed ``accelerate`` configurations,
the strategy a launched process runs under, the commands for N GPUs, and one sentence for each mistake a
learner can make with them (a layer class the model lacks, QLoRA with a strategy the libraries refuse).

The configurations live in ``configs/accelerate/``; notebook 06 explains them line by line.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from .runtime import T4_TORCH_GIB, WorkbookError

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "configs" / "accelerate"
CONFIGS = {  # strategy -> file; "zero3" is DeepSpeed's, "fsdp" is torch's FSDP2 with full sharding
    "single": "single_gpu.yaml",
    "ddp": "ddp.yaml",
    "fsdp": "fsdp.yaml",
    "zero2": "deepspeed_zero2.yaml",
    "zero3": "deepspeed_zero3.yaml",
}
SHARDING = {"single": "replicated", "ddp": "replicated", "zero1": "zero1", "zero2": "zero2", "zero3": "zero3",
            "fsdp": "zero3"}  # the name notebook 02's estimator (memory.per_rank) gives each strategy's division
GPU_GIB = {"T4": T4_TORCH_GIB, "A100-40GB": 39.39}  # what torch reports on each (an A100-SXM4-40GB: 39.39 GiB)

# QLoRA (NF4 base + LoRA) under each strategy, in the libraries' own words (PEFT 0.21 docs, accelerate 1.15 source).
QLORA_SUPPORT = {
    "single": ("yes", "notebook 04"),
    "ddp": ("yes", "each rank loads the whole NF4 model on its own GPU; accelerate refuses one model spread over "
                   "several GPUs: \"You can't train a model that has been loaded in 8-bit or 4-bit precision on "
                   "multiple devices in any distributed mode.\""),
    "fsdp": ("yes, with bnb_4bit_quant_storage", "with the default uint8 storage accelerate does not shard the 4-bit "
             "weights: \"Found N non-floating frozen Params4bit. Excluding from FSDP2 sharding to prevent "
             "quant_state corruption.\"; PEFT: \"When using FSDP+QLoRA, paged_adamw_8bit currently results in an "
             "error when saving a checkpoint.\""),
    "zero2": ("yes", "PEFT's table: Zero-2 compatible with bitsandbytes quantization + LoRA"),
    "zero3": ("yes, with bnb_4bit_quant_storage", "PEFT: \"Notice that torch_dtype for AutoModelForCausalLM is same "
              "as the bnb_4bit_quant_storage data type.\""),
}


def config_path(strategy: str) -> Path:
    """The committed accelerate configuration of a strategy."""
    if strategy not in CONFIGS:
        raise WorkbookError(f"STRATEGY={strategy!r}: use one of {', '.join(CONFIGS)}.")
    return CONFIG_DIR / CONFIGS[strategy]


def read_config(strategy_or_path) -> dict:
    """An accelerate configuration as a dict, by strategy name or path."""
    import yaml

    path = Path(strategy_or_path) if str(strategy_or_path).endswith(".yaml") else config_path(strategy_or_path)
    return yaml.safe_load(path.read_text())


def strategy_of(config: dict) -> str:
    """Which strategy an accelerate configuration runs: single, ddp, fsdp (full shard), zero2 or zero3 (or zero1)."""
    kind = str(config.get("distributed_type", "NO")).upper()
    if kind == "FSDP":
        if not config.get("fsdp_config", {}).get("fsdp_reshard_after_forward", True):
            return "zero2"  # FSDP's SHARD_GRAD_OP: weights stay gathered from forward to backward
        return "fsdp"
    if kind == "DEEPSPEED":
        return f"zero{int(config.get('deepspeed_config', {}).get('zero_stage', 2))}"
    return "single" if int(config.get("num_processes", 1)) == 1 else "ddp"


def strategy_from_env(env=None) -> str:
    """The strategy this process was launched under, from the variables ``accelerate launch`` and torchrun set."""
    env = os.environ if env is None else env
    if env.get("ACCELERATE_USE_FSDP", "false").lower() == "true":
        return "zero2" if env.get("FSDP_RESHARD_AFTER_FORWARD", "true").lower() == "false" else "fsdp"
    if env.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        return f"zero{int(env.get('ACCELERATE_DEEPSPEED_ZERO_STAGE', '2'))}"
    return "ddp" if int(env.get("WORLD_SIZE", "1")) > 1 else "single"


def check_layer_class(model, layer_class: str) -> None:
    """One sentence when FSDP is asked to wrap a layer class the model does not have."""
    classes = {type(m).__name__ for m in model.modules()}
    if layer_class not in classes:
        decoder = type(model.get_decoder().layers[0]).__name__ if hasattr(model, "get_decoder") else "?"
        raise WorkbookError(f"FSDP is told to wrap {layer_class!r}, but {type(model).__name__} has no layer of that "
                            f"class: set fsdp_transformer_layer_cls_to_wrap to {decoder}, its decoder layer.")


def check_config(strategy_or_path, model) -> str:
    """Check an accelerate configuration against a model before launching; return its strategy.

    FSDP's ``fsdp_transformer_layer_cls_to_wrap`` must name a class the model has: with a wrong name the
    wrap policy matches nothing and FSDP shards the whole model as one unit, gathered whole, no better than DDP.
    """
    config = read_config(strategy_or_path)
    strategy = strategy_of(config)
    names = str(config.get("fsdp_config", {}).get("fsdp_transformer_layer_cls_to_wrap", "") or "")
    if config.get("distributed_type") == "FSDP":
        for name in filter(None, (n.strip() for n in names.split(","))):
            check_layer_class(model, name)
    return strategy


def check_qlora(strategy: str, quant_storage: str = "uint8", optim: str = "adamw_torch",
                devices_per_process: int = 1) -> None:
    """One sentence for a QLoRA combination that PEFT, bitsandbytes or accelerate refuse or quietly undo."""
    if strategy not in QLORA_SUPPORT and strategy != "zero1":
        raise WorkbookError(f"strategy={strategy!r}: use one of {', '.join(QLORA_SUPPORT)}.")
    if devices_per_process > 1 and strategy != "single":
        raise WorkbookError("QLoRA with the model spread over several GPUs cannot be data-parallel (accelerate: "
                            "\"You can't train a model that has been loaded in 8-bit or 4-bit precision on multiple "
                            "devices in any distributed mode\"): load it on one GPU per process.")
    if strategy in ("fsdp", "zero3") and quant_storage == "uint8":
        raise WorkbookError(f"QLoRA under {strategy} shards the 4-bit weights only if they are stored as a float: "
                            "set bnb_4bit_quant_storage to the model's dtype (torch.float32 with fp16 mixed "
                            "precision on a T4, torch.bfloat16 on an A100) and load the model in that dtype.")
    if strategy == "fsdp" and optim.startswith("paged_adamw_8bit"):
        raise WorkbookError("QLoRA under FSDP with paged_adamw_8bit fails when it saves a checkpoint (PEFT's FSDP "
                            "caveats): use optim='adamw_torch'.")


def quant_storage_for(strategy: str, precision: str) -> str:
    """The ``bnb_4bit_quant_storage`` PEFT's recipes use: a float that FSDP and ZeRO-3 can shard, else uint8."""
    if strategy not in ("fsdp", "zero3"):
        return "uint8"
    return "float32" if precision in ("fp16", "fp32") else precision.replace("bf16", "bfloat16")


def launch_command(strategy: str, n_gpus: int, out: str = "runs/06", extra: str = "") -> str:
    """The command that runs notebook 03's SFT on ``n_gpus`` GPUs under ``strategy`` with the committed config."""
    path = config_path(strategy).relative_to(REPO)
    processes = 1 if strategy == "single" else n_gpus
    return (f"accelerate launch --config_file {path} --num_processes {processes} -m helpers.train_sft "
            f"--track gpu --out {out}/{strategy}{(' ' + extra) if extra else ''}")


MULTI_NODE = {  # what changes in any of the configurations for two machines of N GPUs each
    "num_machines": "2                 # was 1",
    "machine_rank": "0                 # 0 on the first machine, 1 on the second: the only line that differs",
}


def command(n_processes: int, module: str, *args: str) -> list[str]:
    """``python -m module args`` for one process, ``torchrun --standalone --nproc_per_node N -m module args`` for
    several (torchrun starts the ranks and sets RANK, WORLD_SIZE and the rendezvous address for each)."""
    if n_processes == 1:
        return [sys.executable, "-m", module, *args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n_processes),
            "-m", module, *args]


def shown(cmd: list[str]) -> str:
    """A command as a learner would type it in a terminal at the repository root."""
    words = ["python" if w == sys.executable else w for w in cmd]
    if words[:3] == ["python", "-m", "torch.distributed.run"]:
        words = ["torchrun", *words[3:]]
    return shlex.join(words)


def failure_of(output: str) -> str:
    """The line that says why a run failed: torchrun's root cause if it printed one, else the last line of text."""
    lines = [line.strip() for line in output.splitlines() if line.strip().strip("=-")]
    if "Root Cause (first observed failure):" in lines:
        after = lines[lines.index("Root Cause (first observed failure):"):]
        cause = [line.split(":", 1)[1].strip() for line in after if line.startswith(("traceback :", "exitcode  :"))]
        return "; ".join(cause) if cause else after[-1]
    return lines[-1] if lines else "no output"


def run(cmd: list[str], report_file: Path, timeout: int = 1200) -> dict:
    """Run a training command from the repository root and return the JSON report it wrote, with its wall time.

    A failure becomes one sentence with the command's last line of output, not a page of every rank's traceback.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                            "MASTER_PORT")}
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if done.returncode:
        log = Path(report_file).parent / "failed.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(done.stdout + done.stderr)
        raise WorkbookError(f"`{shown(cmd)}` failed ({failure_of(done.stdout + done.stderr)}); its output is in {log}.")
    return {**json.loads(Path(report_file).read_text()), "wall_seconds": wall}
