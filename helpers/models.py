"""Models for both tracks (introduced in notebook 01; used by 02-05).

* CPU track: a byte-level BPE tokenizer and a tiny ``PhiForCausalLM`` (the module names of phi-2:
  ``q_proj, k_proj, v_proj, dense, fc1, fc2``) pretrained with ``helpers.lm.train_lm`` on general-domain text
  only (``helpers.general``), never on the clinical notes, so that the notes are a new domain to it as they are
  to phi-2. TINY's weights ship in ``helpers/data/tiny_phi`` (``python -m helpers.models`` rebuilds them; card:
  ``data_cards/tiny_phi.md``); other settings are built on first use and cached on disk, keyed by the settings
  and the code that makes the data and trains the model.
* GPU track: ``microsoft/phi-2`` from the Hub in fp16/bf16, or NF4 4-bit with bitsandbytes.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import torch

from .runtime import TINY_MODEL, WorkbookError

PHI2_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2")
EOS = "<|endoftext|>"  # phi-2's BOS/EOS/UNK token; the tiny tokenizer uses the same string
CACHE_ENV = "WORKBOOK_CACHE"
SHIPPED_DIR = Path(__file__).parent / "data" / "tiny_phi"  # TINY's weights, committed (data_cards/tiny_phi.md)


@dataclass(frozen=True)
class TinySettings:
    """Everything that defines the tiny model; change one field and it is rebuilt (the shipped one is TINY's)."""

    n_notes: int = 3000  # clinical notes generated for notebooks 01 and 05 (the base never trains on them)
    data_seed: int = 0
    n_general: int = 8000  # general-domain documents (helpers.general): the base's only pretraining text
    vocab_size: int = 4096
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    max_positions: int = 1024
    block_size: int = 512
    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-3
    seed: int = 0


TINY = TinySettings()
_ANNOUNCED: set[Path] = set()  # tiny models whose summary line this process has printed


@contextmanager
def no_progress_bars():
    """Silence transformers' per-file progress bars (noise in headless notebook outputs)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()


def cache_root() -> Path:
    """Where built models live: $WORKBOOK_CACHE, else ~/.cache/clinical-llm-workbook."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "clinical-llm-workbook"))


def ensure_pad_token(tokenizer):
    """phi-2 ships without a pad token; reuse EOS for padding, as the workshop does."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def train_tokenizer(texts: list[str], vocab_size: int, max_length: int = TINY.max_positions):
    """A byte-level BPE tokenizer (the kind phi-2 uses) trained on ``texts``, with phi-2's EOS string."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=EOS, eos_token=EOS, unk_token=EOS,
                                   model_max_length=max_length)


def tiny_phi(tokenizer, settings: TinySettings = TINY, seed: int | None = None):
    """A freshly initialised tiny PhiForCausalLM sized by ``settings`` for ``tokenizer``."""
    from transformers import PhiConfig, PhiForCausalLM

    torch.manual_seed(settings.seed if seed is None else seed)
    config = PhiConfig(
        vocab_size=len(tokenizer), hidden_size=settings.hidden_size, num_hidden_layers=settings.num_layers,
        num_attention_heads=settings.num_heads, intermediate_size=settings.intermediate_size,
        max_position_embeddings=settings.max_positions, partial_rotary_factor=0.5,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        resid_pdrop=0.0, embd_pdrop=0.0, tie_word_embeddings=False,
    )
    return PhiForCausalLM(config).eval()


def lm_corpus(settings: TinySettings = TINY) -> dict[str, list[str]]:
    """The notes (no questions or answers) of each split of the bundled synthetic set."""
    from .data import load_notes, notes_table, split_by_patient

    splits = split_by_patient(load_notes("synthetic", n_notes=settings.n_notes, seed=settings.data_seed))
    return {name: notes_table(df)["note"].tolist() for name, df in splits.items()}


def general_corpus(settings: TinySettings = TINY) -> dict[str, list[str]]:
    """The general-domain documents the tiny base pretrains on: 95% train, 5% held out."""
    from .general import general_texts

    texts = general_texts(settings.n_general, seed=settings.data_seed)
    cut = int(0.95 * len(texts))
    return {"train": texts[:cut], "validation": texts[cut:]}


def _cache_key(settings: TinySettings) -> str:
    """Hash of the settings and of the code that makes the data and trains the model."""
    here = Path(__file__).parent
    files = [here / "data.py", here / "lm.py", here / "general.py", *sorted(here.glob("synthetic*.py"))]
    code = "".join(f.read_text() for f in files)
    code += "".join(inspect.getsource(fn) for fn in (train_tokenizer, tiny_phi, build_tiny_lm))
    blob = json.dumps(asdict(settings), sort_keys=True) + code
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _is_shipped(settings: TinySettings) -> bool:
    """True when the committed weights in SHIPPED_DIR were built with exactly ``settings``."""
    report = SHIPPED_DIR / "build_report.json"
    return report.exists() and json.loads(report.read_text())["settings"] == asdict(settings)


def tiny_model_dir(settings: TinySettings = TINY) -> Path:
    """The folder of the tiny model built with ``settings``: the shipped one for TINY, else a cache folder."""
    if _is_shipped(settings):
        return SHIPPED_DIR
    return cache_root() / f"tiny-phi-{_cache_key(settings)}"


def build_tiny_lm(settings: TinySettings = TINY, out_dir: Path | None = None) -> Path:
    """Train the tokenizer and the tiny model on general-domain text only, and save both with a build report.

    The report also scores held-out *clinical* notes, which the model never saw: the domain shift that
    notebooks 03-05 fine-tune across. TINY's result ships in SHIPPED_DIR (``python -m helpers.models`` rebuilds it).
    """
    from .lm import pack_blocks, perplexity, train_lm

    out_dir = Path(out_dir or tiny_model_dir(settings))
    start = time.time()
    general = general_corpus(settings)
    tokenizer = train_tokenizer(general["train"], settings.vocab_size, settings.max_positions)
    model = tiny_phi(tokenizer, settings)
    train = pack_blocks(general["train"], tokenizer, settings.block_size)
    held_out = pack_blocks(general["validation"], tokenizer, settings.block_size)
    clinical = pack_blocks(lm_corpus(settings)["validation"], tokenizer, settings.block_size)[:64]
    ppl_before = perplexity(model, held_out)
    train_start = time.time()
    losses = train_lm(model, train, steps=settings.steps, batch_size=settings.batch_size, lr=settings.lr,
                      seed=settings.seed, log_every=max(1, settings.steps // 10))
    train_seconds = time.time() - train_start
    report = {"settings": asdict(settings), "trained_on": "general-domain text (helpers.general), no clinical notes",
              "held_out_ppl_before": ppl_before, "held_out_ppl_after": perplexity(model, held_out),
              "clinical_ppl": perplexity(model, clinical), "train_losses": losses,
              "parameters": sum(p.numel() for p in model.parameters()),
              "tokens_per_second": settings.steps * settings.batch_size * settings.block_size / train_seconds,
              "build_seconds": time.time() - start}
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=".building-"))
    with no_progress_bars():
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    (tmp / "build_report.json").write_text(json.dumps(report, indent=2))
    if out_dir.exists() and out_dir != SHIPPED_DIR:  # another process finished first: keep theirs
        shutil.rmtree(tmp)
    else:
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    return out_dir


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
        build_tiny_lm(settings, path)
    return path


if __name__ == "__main__":  # python -m helpers.models: rebuild the shipped weights (data_cards/tiny_phi.md)
    print(f"Rebuilding the tiny Phi into {SHIPPED_DIR} with {TINY} ...")
    print(json.dumps({k: v for k, v in _read_report(build_tiny_lm(TINY, SHIPPED_DIR)).items()
                      if k != "train_losses"}, indent=2))
