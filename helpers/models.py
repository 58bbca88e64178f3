"""Models for both tracks (introduced in notebook 01; used by 02-05).

* CPU track: a byte-level BPE tokenizer and a tiny ``PhiForCausalLM`` (the module names of phi-2:
  ``q_proj, k_proj, v_proj, dense, fc1, fc2``) pretrained by ``helpers.pretrain`` on general-domain text
  (``helpers.general``) and rows of random token ids read twice (so it learns to copy), never on the clinical
  notes, so that the notes are a new domain to it as they are to phi-2. TINY's weights ship in
  ``helpers/data/tiny_phi`` (``python -m helpers.pretrain`` rebuilds them; card: ``data_cards/tiny_phi.md``); other
  settings are built on first use and cached on disk, keyed by the settings and the code that makes the data and
  trains the model.
* GPU track: ``microsoft/phi-2`` from the Hub in fp16/bf16, or NF4 4-bit with bitsandbytes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from importlib import resources
from pathlib import Path

import torch

from .pretrain import EOS, SHIPPED_DIR, TINY, TinySettings, no_progress_bars  # noqa: F401 - re-exported
from .runtime import TINY_MODEL, WorkbookError

PHI2_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2")
CACHE_ENV = "WORKBOOK_CACHE"


_ANNOUNCED: set[Path] = set()  # tiny models whose summary line this process has printed


def cache_root() -> Path:
    """Where built models live: $WORKBOOK_CACHE, else ~/.cache/clinical-llm-workbook."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "clinical-llm-workbook"))


def ensure_pad_token(tokenizer):
    """phi-2 ships without a pad token; reuse EOS for padding, as the workshop does."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _is_shipped(settings: TinySettings) -> bool:
    """True when the committed weights in SHIPPED_DIR were built with exactly ``settings``."""
    report = SHIPPED_DIR / "build_report.json"
    return report.exists() and json.loads(report.read_text())["settings"] == asdict(settings)


def tiny_model_dir(settings: TinySettings = TINY) -> Path:
    """The folder of the tiny model built with ``settings``: the shipped one for TINY, else a cache folder."""
    if _is_shipped(settings):
        return SHIPPED_DIR
    from .pretrain import recipe_key

    return cache_root() / f"tiny-phi-{recipe_key(settings)}"


def load_tiny_lm(settings: TinySettings = TINY, verbose: bool = True, quantization: str = "none",
                 double_quant: bool = True, dtype=torch.float32, quantization_config=None):
    """The cached tiny (model, tokenizer), building it first if this machine has none yet.

    ``quantization="nf4"`` loads it 4-bit with bitsandbytes (which quantizes on the CPU too).
    """
    path = load_tiny_dir(settings, verbose)
    report = _read_report(path)
    if verbose and path not in _ANNOUNCED:  # once per process: a notebook loads the model several times
        _ANNOUNCED.add(path)
        print(f"Tiny Phi: {report['parameters']:,} parameters, pretrained on general-domain text only, never on a "
              f"clinical note ({path}; how it was made: data_cards/tiny_phi.md)")
    return load_pretrained(str(path), dtype, quantization, double_quant, device="cpu",
                           quantization_config=quantization_config)


def _read_report(path: Path) -> dict:
    """The JSON report written into ``path`` when the tiny model was built there."""
    return json.loads((path / "build_report.json").read_text())


def tiny_build_report(settings: TinySettings = TINY) -> dict:
    """The JSON report written when the cached tiny model was built."""
    return _read_report(tiny_model_dir(settings))


def phi2_config():
    """phi-2's configuration, shipped with helpers so that nothing needs the Hub."""
    from transformers import PhiConfig

    with resources.as_file(resources.files("helpers") / "data" / "phi2_config.json") as path:
        return PhiConfig.from_json_file(str(path))


def on_meta(config):
    """A causal LM built from ``config`` on the meta device: real shapes and module names, no memory."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def phi2_on_meta():
    """phi-2 built on the meta device: real shapes and module names, no weights, no download."""
    return on_meta(phi2_config())


def nf4_config(compute_dtype=torch.float16, double_quant: bool = True):
    """The bitsandbytes 4-bit NF4 quantization config used for QLoRA."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_use_double_quant=double_quant, bnb_4bit_compute_dtype=compute_dtype)


def device_map(device: str, env=None):
    """Where from_pretrained puts the whole model: this process's GPU (``$LOCAL_RANK`` under torchrun or accelerate
    launch, so rank 1 loads onto GPU 1, not GPU 0), or the CPU. Under DeepSpeed ZeRO-3 none: DeepSpeed places the
    shards itself, and transformers refuses a device_map there."""
    from .launch import strategy_from_env

    env = os.environ if env is None else env
    if strategy_from_env(env) == "zero3":
        return None
    return {"": int(env.get("LOCAL_RANK", "0"))} if device == "cuda" else "cpu"


def load_pretrained(name: str, dtype=torch.float16, quantization: str = "none", double_quant: bool = True,
                    device: str = "cuda", quantization_config=None):
    """(model, tokenizer) from a Hub id or a local folder, in ``dtype`` or NF4, with SDPA attention.

    ``quantization_config``: a ``BitsAndBytesConfig`` (notebook 04 writes its own); else ``quantization="nf4"``
    uses ``nf4_config``.

    SDPA's kernels compute the attention scores and softmax in fp32 even for fp16 inputs, so phi-2's large
    attention scores do not overflow; eager attention multiplies Q by K in fp16 and can (tests/test_runtime.py).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if quantization not in ("none", "nf4"):
        raise WorkbookError(f"quantization={quantization!r} is not supported: use 'none' or 'nf4'.")
    if device == "cuda" and not torch.cuda.is_available():
        raise WorkbookError(f"Loading {name} on the GPU track needs a CUDA GPU: set TRACK='cpu' to use the tiny "
                            "model instead.")
    if quantization_config is None and quantization == "nf4":
        quantization_config = nf4_config(dtype, double_quant)
    extra = {"quantization_config": quantization_config} if quantization_config is not None else {}
    try:
        with no_progress_bars():
            tokenizer = AutoTokenizer.from_pretrained(name)
            model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype, attn_implementation="sdpa",
                                                         device_map=device_map(device), **extra)
    except OSError as err:
        where = "this folder" if Path(name).is_dir() else "the Hub"
        raise WorkbookError(f"Could not load {name} from {where} ({err.__class__.__name__}): check the connection "
                            "or the path in MODEL, or set TRACK='cpu'.") from None
    for module in model.modules():  # bitsandbytes repacks NF4 weights for CPU inference on the first eval
        if hasattr(module, "support_avx512bf16_for_cpu"):  # forward, and its training path then fails:
            module.support_avx512bf16_for_cpu = False  # keep the standard layout so a model can answer, then train
    return model.eval(), ensure_pad_token(tokenizer)


def load_lm(rt, quantization_config=None, dtype=None):
    """The track's language model and tokenizer: ``rt.model`` (phi-2, a local folder, or the tiny Phi), in the
    track's dtype (or ``dtype``) or quantized by ``quantization_config`` (a ``BitsAndBytesConfig``, notebook 04)."""
    dtype = rt.dtype if dtype is None else dtype
    if rt.model == TINY_MODEL:
        return load_tiny_lm(dtype=dtype, quantization_config=quantization_config)
    return load_pretrained(rt.model, dtype, device=rt.device, quantization_config=quantization_config)


def load_tiny_dir(settings: TinySettings = TINY, verbose: bool = False) -> Path:
    """The tiny model's cache folder, building the model first if this machine has none yet."""
    path = tiny_model_dir(settings)
    if not (path / "build_report.json").exists():
        if verbose:
            print(f"Building the tiny Phi model with these settings once (minutes on 2 CPU cores) into {path} ...")
        from .pretrain import build_tiny_lm

        build_tiny_lm(settings, path, progress=verbose)
    return path
