"""Adapter wiring of the two-stage classifier (notebook 05), proved by gradients on a small model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import classify, outcomes
from helpers.runtime import WorkbookError


@pytest.fixture(scope="module")
def stage1(small_lm, tmp_path_factory):
    """A saved small causal LM and a saved 'clinical' LoRA on it whose B matrices are not zero."""
    from peft import LoraConfig, get_peft_model
    from transformers import PhiForCausalLM

    model, tokenizer = small_lm
    base_dir = tmp_path_factory.mktemp("base")
    model.save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM",
                        init_lora_weights=False)  # random A and B, like a trained adapter
    lm = get_peft_model(PhiForCausalLM.from_pretrained(base_dir), config, adapter_name="clinical")
    lm.save_pretrained(base_dir / "lora")
    return base_dir, base_dir / "lora" / "clinical", tokenizer


@pytest.fixture(scope="module")
def batch(stage1):
    _, _, tokenizer = stage1
    ids = classify.encode(tokenizer, ["pt admitted with SOB and fever", "CHF exacerbation, on lasix at home",
                                      "no complaints"], max_length=32)
    return classify.collate(ids, [0, 1, 2], tokenizer.pad_token_id, "cpu")


def _labels() -> list[outcomes.Labels]:
    train = pd.DataFrame({"mortality": [0, 1, 0], "diagnoses": ["A;B", "B", "C"]})
    return [outcomes.labels_for(outcomes.TASKS[t], train, train) for t in ("mortality", "diagnoses")]


def _downstream():
    from peft import LoraConfig

    return LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"])


def _wired(stage1, variant):
    base_dir, clinical_dir, tokenizer = stage1
    model = classify.load_classifier(base_dir, 5, tokenizer.pad_token_id)
    return classify.wire_variant(model, variant, clinical_dir, _downstream())


def _check(model, batch):
    layout = classify.head_layout(_labels())
    return classify.gradient_check(model, batch, lambda logits: classify.total_loss(layout, logits, [0, 1, 2]))


@pytest.mark.parametrize("key", list(classify.VARIANTS))
def test_each_variant_trains_exactly_its_groups(stage1, batch, key):
    variant = classify.VARIANTS[key]
    table = _check(_wired(stage1, variant), batch)
    assert set(table.index[table["got_gradient"]]) == variant.trainable
    for group in classify.GROUPS:
        trainable = table.loc[group, "trainable"]
        assert trainable == (table.loc[group, "tensors"] if group in variant.trainable else 0), group
    assert table.loc["backbone", "tensors"] > 0 and table.loc["head", "tensors"] == 1
    if variant.clinical != "none":  # frozen or not, the clinical adapter is in the forward pass
        assert table.loc["clinical", "logit_change_when_off"] > 1e-4
    else:
        assert table.loc["clinical", "tensors"] == 0
    if variant.downstream:  # fresh LoRA: B is zero, so no effect yet, but B gets a gradient
        assert table.loc["downstream", "tensors"] > 0 and table.loc["downstream", "logit_change_when_off"] == 0


def test_added_but_not_activated_adapter_gets_no_gradient(stage1, batch):
    base_dir, clinical_dir, tokenizer = stage1
    model = classify.attach_clinical(classify.load_classifier(base_dir, 5, tokenizer.pad_token_id), clinical_dir)
    assert _check(model, batch).loc["clinical", "grad_norm"] > 0  # attached trainable
    for name, param in model.named_parameters():  # as variant d wants: clinical frozen, head trained
        param.requires_grad = classify.group_of(name) == "head"
    model.add_adapter("downstream", _downstream())
    table = _check(model, batch)
    assert table.loc["downstream", "grad_norm"] == 0 and table.loc["clinical", "grad_norm"] == 0
    model.base_model.set_adapter(["clinical", "downstream"])  # activates both, and unfreezes clinical
    table = _check(model, batch)
    assert table.loc["downstream", "grad_norm"] > 0 and table.loc["clinical", "grad_norm"] > 0


def test_classifier_has_pad_token_and_pools_last_real_token(stage1):
    base_dir, _, tokenizer = stage1
    model = classify.load_classifier(base_dir, 3, tokenizer.pad_token_id)
    assert model.config.pad_token_id == tokenizer.pad_token_id
    ids = classify.encode(tokenizer, ["short note", "a somewhat longer note about a patient"], max_length=32)
    padded = classify.collate(ids, [0, 1], tokenizer.pad_token_id, "cpu")
    alone = classify.collate(ids, [0], tokenizer.pad_token_id, "cpu")
    with torch.no_grad():  # padding must not change the short note's logits
        assert torch.allclose(model(**padded).logits[0], model(**alone).logits[0], atol=1e-5)


def test_training_lowers_the_loss_and_predict_gives_probabilities(stage1):
    base_dir, _, tokenizer = stage1
    texts = ["fever cough"] * 6 + ["ankle sprain"] * 6
    train = pd.DataFrame({"mortality": [1] * 6 + [0] * 6, "diagnoses": ["A"] * 6 + ["B;C"] * 6})
    labels = [outcomes.labels_for(outcomes.TASKS[t], train, train) for t in ("mortality", "diagnoses")]
    layout = classify.head_layout(labels)
    ids = classify.encode(tokenizer, texts, max_length=16)
    model = classify.load_classifier(base_dir, sum(lab.width for lab in labels), tokenizer.pad_token_id)
    model = classify.wire_variant(model, classify.VARIANTS["b"], None, _downstream())
    run = classify.train_classifier(model, ids, layout, epochs=15, batch_size=4, head_lr=1e-2, adapter_lr=1e-2,
                                    pad_id=tokenizer.pad_token_id)
    assert np.mean(run["losses"][-3:]) < 0.5 * np.mean(run["losses"][:3])
    scores = classify.predict(model, ids, layout, tokenizer.pad_token_id)
    assert scores["mortality"].shape == (12, 2) and np.allclose(scores["mortality"].sum(1), 1, atol=1e-5)
    assert scores["diagnoses"].shape == (12, 3) and ((scores["diagnoses"] > 0) & (scores["diagnoses"] < 1)).all()
    assert scores["mortality"][:6, 1].min() > scores["mortality"][6:, 1].max()


def test_variant_letters_and_short_texts_are_checked():
    assert [v.key for v in classify.variants_from("af")] == ["a", "f"]
    with pytest.raises(WorkbookError, match="abcdef"):
        classify.variants_from("ag")
    with pytest.raises(WorkbookError, match="NOTE_TOKENS"):
        classify.encode(None, ["x"], max_length=4)


def test_group_of_names():
    assert classify.group_of("base_model.model.score.weight") == "head"
    assert classify.group_of("score.weight") == "head"
    assert classify.group_of("base_model.model.model.layers.0.self_attn.q_proj.lora_A.clinical.weight") == "clinical"
    name = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.downstream.weight"
    assert classify.group_of(name) == "downstream"
    assert classify.group_of("model.layers.0.self_attn.q_proj.weight") == "backbone"


def test_fp16_body_with_fp32_head_passes_the_gradient_check(stage1, batch):
    """The GPU track's dtypes on a CPU: a fp16 body, a fp32 head. Without autocast the head's matmul raises
    "mat1 and mat2 must have the same dtype" (the crash of notebook 05's gradient check on a T4)."""
    base_dir, clinical_dir, tokenizer = stage1
    model = classify.load_classifier(base_dir, 5, tokenizer.pad_token_id, dtype=torch.float16)
    assert model.score.weight.dtype == torch.float32 and model.model.embed_tokens.weight.dtype == torch.float16
    model = classify.wire_variant(model, classify.VARIANTS["d"], clinical_dir, _downstream())
    table = _check(model, batch)
    assert {g for g in classify.GROUPS if table.loc[g, "got_gradient"]} == {"head", "downstream"}
    assert table.loc["clinical", "logit_change_when_off"] > 0


def test_one_body_serves_every_variant(stage1, batch):
    """unwire() strips the adapters without merging, new_head() restarts the head: the same loaded body then
    behaves exactly like a freshly loaded one, so notebook 05 never holds two models."""
    base_dir, clinical_dir, tokenizer = stage1
    body = classify.load_classifier(base_dir, 5, tokenizer.pad_token_id)
    fresh_logits = body(**batch).logits.detach()
    for key in "fad":
        wired = classify.wire_variant(body, classify.VARIANTS[key], clinical_dir, _downstream())
        _check(wired, batch)
        body = classify.new_head(classify.unwire(wired), 5)
        assert not any("lora" in name for name, _ in body.named_parameters())
    assert torch.equal(body(**batch).logits.detach(), fresh_logits)


def test_mean_pooling_averages_real_tokens_only_and_reaches_the_adapters(stage1):
    base_dir, clinical_dir, tokenizer = stage1
    model = classify.load_classifier(base_dir, 3, tokenizer.pad_token_id)
    ids = classify.encode(tokenizer, ["short note", "a somewhat longer note about a patient"], max_length=32)
    padded = classify.collate(ids, [0, 1], tokenizer.pad_token_id, "cpu")
    alone = classify.collate(ids, [0], tokenizer.pad_token_id, "cpu")
    with torch.no_grad():
        mean = classify.logits_of(model, padded, "mean")
        hidden = model.model(**alone).last_hidden_state[0]  # the short note's real tokens only
        assert torch.allclose(mean[0], model.score(hidden.mean(0)), atol=1e-5)  # padding does not count
        assert torch.allclose(mean[0], classify.logits_of(model, alone, "mean")[0], atol=1e-5)
        assert not torch.allclose(mean, classify.logits_of(model, padded, "last"), atol=1e-3)
    wired = classify.wire_variant(model, classify.VARIANTS["c"], clinical_dir, _downstream())
    layout = classify.head_layout(_labels()[:1])
    labels_rows = [0, 1]
    table = classify.gradient_check(wired, padded, lambda lg: classify.total_loss(layout, lg[:, :2], labels_rows),
                                    pooling="mean")
    assert table.loc["clinical", "logit_change_when_off"] > 0  # the frozen adapter is in the mean-pooled forward
    assert table.loc["head", "got_gradient"] and not table.loc["clinical", "got_gradient"]


def test_pooling_is_checked_in_the_settings():
    assert classify.track_settings("cpu")["pooling"] == "mean" and classify.track_settings("gpu")["pooling"] == "last"
    assert classify.track_settings("gpu", pooling="mean")["pooling"] == "mean"
    with pytest.raises(WorkbookError, match="POOLING"):
        classify.track_settings("cpu", pooling="max")
