"""The static memory estimator against independent references: config arithmetic, peft's trainable
count, bitsandbytes' real quantized tensors, and torch's real optimizer states."""

from __future__ import annotations

import copy

import pytest
import torch

from helpers import measure, memory
from helpers.memory import Setup
from helpers.models import PHI2_TARGET_MODULES, phi2_config, phi2_on_meta
from helpers.runtime import WorkbookError


@pytest.fixture(scope="module")
def phi2():
    return phi2_on_meta()


def test_inventory_matches_phi2_config_arithmetic(phi2):
    c = phi2_config()
    h, f, n = c.hidden_size, c.intermediate_size, c.num_hidden_layers
    inv = memory.inventory(phi2)
    assert sum(i * o for _, i, o in inv.linears) == n * (4 * h * h + 2 * h * f)  # q,k,v,dense,fc1,fc2 weights
    assert inv.total == sum(p.numel() for p in phi2.parameters()) == 2_779_683_840
    assert memory.inventory(c).total == inv.total  # from the config alone, built on meta


@pytest.mark.parametrize("rank, targets", [(16, PHI2_TARGET_MODULES), (8, ("q_proj", "v_proj")), (4, ("fc2",))])
def test_lora_count_equals_peft(phi2, rank, targets):
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(copy.deepcopy(phi2), LoraConfig(r=rank, target_modules=list(targets)))
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    assert memory.trainable_parameters(phi2, Setup(lora_rank=rank, target_modules=targets)) == trainable


def test_stale_module_name_is_one_sentence(phi2):
    with pytest.raises(WorkbookError, match="No linear layer matches target_modules=\\['Wqkv'\\]"):
        memory.static_bytes(phi2, Setup(target_modules=("Wqkv",)))


@pytest.mark.parametrize("double_quant", [True, False])
def test_nf4_bytes_match_bitsandbytes_on_a_phi2_layer(double_quant):
    import bitsandbytes.functional as F

    weight = torch.randn(10240, 2560, dtype=torch.float16)  # phi-2's fc1
    packed, state = F.quantize_4bit(weight, blocksize=64, quant_type="nf4", compress_statistics=double_quant)
    tensors = [packed, state.absmax, state.code] + ([state.state2.absmax, state.state2.code, state.offset]
                                                    if double_quant else [])
    real = sum(t.numel() * t.element_size() for t in tensors)
    assert memory.nf4_bytes(weight.numel(), double_quant) == real


def test_tiny_model_fp32_static_bytes_are_exact(small_lm):
    model, _ = small_lm
    parts = memory.static_bytes(model, Setup(method="inference", weights="fp32", compute="fp32"))
    assert parts["linear weights"] + parts["other weights"] == measure.measured_bytes(model)


@pytest.mark.parametrize("precision", ["nf4", "int8"])
def test_tiny_model_quantized_within_one_percent_and_footprint_undercounts(small_lm, tmp_path, precision):
    from transformers import BitsAndBytesConfig, PhiForCausalLM

    from helpers.models import nf4_config

    small_lm[0].save_pretrained(tmp_path)
    quant = nf4_config(torch.float32) if precision == "nf4" else BitsAndBytesConfig(load_in_8bit=True)
    model = PhiForCausalLM.from_pretrained(tmp_path, quantization_config=quant, device_map="cpu", dtype=torch.float32)
    parts = memory.static_bytes(model, Setup(method="inference", weights=precision, compute="fp32"))
    estimate, measured = parts["linear weights"] + parts["other weights"], measure.measured_bytes(model)
    assert abs(estimate - measured) / measured < 0.01
    assert model.get_memory_footprint() < measured  # it misses the quantization constants


def test_adamw_state_bytes_match_torch(small_lm):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(copy.deepcopy(small_lm[0]), LoraConfig(r=4, target_modules=list(PHI2_TARGET_MODULES)))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params)
    ids = torch.randint(100, (2, 16))
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    real = sum(t.numel() * t.element_size() for s in optimizer.state.values() for k, t in s.items() if k != "step")
    setup = Setup(method="lora", weights="fp32", compute="fp32", lora_rank=4)
    parts = memory.static_bytes(small_lm[0], setup)
    assert parts["optimizer states"] == real
    assert parts["gradients"] == parts["LoRA parameters"] == sum(p.numel() * p.element_size() for p in params)


def test_precision_order_for_phi2_weights(phi2):
    size = {p: memory.static_bytes(phi2, Setup(method="inference", weights=p))["linear weights"]
            for p in ("nf4", "int8", "fp16", "fp32")}
    assert size["nf4"] < size["int8"] < size["fp16"] < size["fp32"]
    single = memory.static_bytes(phi2, Setup(method="inference", weights="nf4", double_quant=False))
    assert size["nf4"] < single["linear weights"]


def test_8bit_optimizer_is_about_a_quarter_of_32bit(phi2):
    full32 = memory.static_bytes(phi2, Setup(method="lora", optimizer="adamw"))["optimizer states"]
    full8 = memory.static_bytes(phi2, Setup(method="lora", optimizer="paged_adamw_8bit"))["optimizer states"]
    assert 0.24 < full8 / full32 < 0.27


def test_full_fine_tuning_of_phi2_cannot_fit_a_t4(phi2):
    parts = memory.static_bytes(phi2, Setup(method="full", weights="fp32", compute="fp16"))
    buffers = memory.inventory(phi2).buffer_bytes
    assert sum(parts.values()) - buffers == 16 * phi2.num_parameters()  # 4 + 4 + 8 bytes per parameter
    assert sum(parts.values()) > 16 * memory.GIB


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights="int3"), "weights='int3' is unknown"),
    (dict(method="dpo"), "method='dpo' is unknown"),
    (dict(compute="nf4"), "must be a float precision"),
    (dict(optimizer="sgd"), "optimizer='sgd' is unknown"),
    (dict(lora_rank=0), "lora_rank=0 must be at least 1"),
    (dict(method="qlora", weights="fp16"), "QLoRA trains on a quantized base"),
    (dict(method="lora", weights="nf4"), "use method='qlora'"),
    (dict(method="full", weights="int8"), "cannot be fully fine-tuned"),
])
def test_bad_setups_are_one_sentence(kwargs, message):
    with pytest.raises(WorkbookError, match=message):
        Setup(**kwargs)


def _phi2_layers(n_layers: int, dtype):
    from transformers import PhiForCausalLM

    config = phi2_config()
    config.num_hidden_layers = n_layers
    config.vocab_size = 4096  # phi-2's layers, a smaller vocabulary: same per-layer tensors, faster test
    torch.manual_seed(0)
    return PhiForCausalLM(config).to(dtype)


@pytest.mark.parametrize("compute, method, dropout", [
    ("fp32", "full", 0.0), ("fp32", "lora", 0.0), ("bf16", "full", 0.0), ("bf16", "lora", 0.0), ("bf16", "lora", 0.05),
])
def test_activation_formula_matches_saved_tensors_on_phi2_layers(compute, method, dropout):
    """Two phi-2-shaped decoder layers on CPU: the formula against what autograd really keeps."""
    from peft import LoraConfig, get_peft_model

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[compute]
    model = _phi2_layers(2, dtype)
    setup = Setup(method=method, weights=compute, compute=compute)
    if method == "lora":
        model = get_peft_model(model, LoraConfig(r=16, lora_dropout=dropout, target_modules=list(PHI2_TARGET_MODULES)))
    batch = memory.Batch(batch_size=1, seq_len=128, lora_dropout=dropout, device="cpu")
    ids = torch.randint(1000, (batch.batch_size, batch.seq_len))
    measured = measure.saved_for_backward(model, ids)
    config = model.config
    logits_saved = batch.batch_size * batch.seq_len * config.vocab_size * 4  # fp32 logits kept for the loss
    estimated = memory.activation_bytes(config, setup, batch) + logits_saved
    assert abs(estimated - measured) / measured < 0.10, (estimated, measured)


def test_checkpointing_lowers_activations_and_more_tokens_never_cost_less(phi2):
    config, setup = phi2.config, Setup(method="qlora", weights="nf4")
    plain = memory.activation_bytes(config, setup, memory.Batch(seq_len=512))
    ckpt = memory.activation_bytes(config, setup, memory.Batch(seq_len=512, grad_checkpointing=True))
    assert ckpt < plain / 5
    for b in (1, 2, 4):
        row = [memory.estimate(phi2, setup, memory.Batch(batch_size=b, seq_len=s)).total for s in (256, 512, 1024)]
        assert row == sorted(row)
    for s in (256, 512, 1024):
        col = [memory.estimate(phi2, setup, memory.Batch(batch_size=b, seq_len=s)).total for b in (1, 2, 4)]
        assert col == sorted(col)


def test_kv_cache_formula_for_phi2(phi2):
    c = phi2.config
    est = memory.estimate(phi2, Setup(method="inference"), memory.Batch(seq_len=100, new_tokens=28))
    assert est.parts["KV cache"] == 2 * c.num_hidden_layers * 128 * c.hidden_size * 2  # K and V, fp16


def test_bad_batch_is_one_sentence():
    with pytest.raises(WorkbookError, match="batch_size=0"):
        memory.Batch(batch_size=0)
    with pytest.raises(WorkbookError, match="attention='flash'"):
        memory.Batch(attention="flash")


def test_per_rank_divides_what_each_zero_stage_shards():
    parts = {"linear weights": 800, "other weights": 200, "LoRA parameters": 0, "gradients": 1000,
             "optimizer states": 2000, "activations": 300, "logits": 50, "KV cache": 0}
    assert memory.per_rank(parts, 4, "replicated") == parts
    assert memory.per_rank(parts, 4, "zero1")["optimizer states"] == 500
    zero2 = memory.per_rank(parts, 4, "zero2")
    assert (zero2["optimizer states"], zero2["gradients"], zero2["linear weights"]) == (500, 250, 800)
    zero3 = memory.per_rank(parts, 3, "zero3", gathered_bytes=77)
    assert zero3["linear weights"] == 267 and zero3["other weights"] == 67  # rounded up
    assert zero3["activations"] == 300 and zero3["logits"] == 50 and zero3["gathered unit"] == 77
    assert memory.per_rank(parts, 1, "zero3", gathered_bytes=77) == parts  # one rank: nothing to shard or gather
    with pytest.raises(WorkbookError, match="SHARDING"):
        memory.per_rank(parts, 2, "zero4")


def test_fsdp_units_of_phi2_add_up(phi2):
    units = memory.fsdp_units(phi2)
    c = phi2.config
    h, f = c.hidden_size, c.intermediate_size
    layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 2 * h  # q, k, v, dense; fc1; fc2; one layer norm
    assert units["decoder layer"] == layer
    assert units["root"] + c.num_hidden_layers * layer == phi2.num_parameters()
    assert units["root"] > layer  # phi-2's embeddings and lm_head outweigh one decoder layer


def test_full_fine_tuning_of_phi2_needs_several_t4s_with_fsdp_and_never_fits_replicated(phi2):
    from helpers.runtime import T4_TORCH_GIB

    full = Setup(method="full", weights="fp32", compute="fp16")
    batch = memory.Batch(batch_size=2, seq_len=1024, grad_checkpointing=True)
    one = memory.estimate(phi2, full, batch)
    assert not one.fits(T4_TORCH_GIB) and memory.fewest_gpus(phi2, full, batch, "replicated", T4_TORCH_GIB) is None
    n = memory.fewest_gpus(phi2, full, batch, "zero3", T4_TORCH_GIB)
    static = sum(one.parts[k] for k in ("linear weights", "other weights", "gradients", "optimizer states"))
    assert static == pytest.approx(16 * phi2.num_parameters(), rel=1e-3)  # 4 + 4 + 8 bytes per parameter
    # by hand: static / n + what is never divided + one gathered fp16 unit + the CUDA context must fit a T4
    whole = one.parts["activations"] + one.parts["logits"] + 2 * max(memory.fsdp_units(phi2).values())
    by_hand = next(k for k in range(1, 65)
                   if static / k + whole + memory.CUDA_CONTEXT_BYTES <= T4_TORCH_GIB * memory.GIB)
    assert n == by_hand and 2 <= n <= 8, n
    assert memory.rank_estimate(phi2, full, batch, n, "zero3").fits(T4_TORCH_GIB)
    assert not memory.rank_estimate(phi2, full, batch, n - 1, "zero3").fits(T4_TORCH_GIB)
