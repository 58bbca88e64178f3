"""SFT machinery on a small tiny-Phi: the prompt, the label mask, resume after an interruption, and
the GPU track's settings (phi-2 on the meta device, no download)."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import TrainerCallback

from helpers import masks, models, sft
from helpers.runtime import Runtime, WorkbookError, precision_for

CPU = Runtime(track="cpu", reason="test", device="cpu", precision="fp32", on_colab=False)
T4 = Runtime(track="gpu", reason="test", device="cuda", precision=precision_for((7, 5)), on_colab=False,
             gpu_name="Tesla T4", capability=(7, 5))


def lora(r: int = 4, targets=models.PHI2_TARGET_MODULES):
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.05, target_modules=list(targets), bias="none",
                      task_type="CAUSAL_LM")


def args_like_03(rt, out_dir, **changes):
    """The SFTConfig keywords of notebook 03's section 6 that these tests rely on, with ``changes``."""
    from trl import SFTConfig

    fp16, bf16 = sft.precision_flags(rt)
    keywords = dict(output_dir=str(out_dir), max_steps=6, per_device_train_batch_size=2, learning_rate=5e-3,
                    lr_scheduler_type="cosine", warmup_steps=0.05, fp16=fp16, bf16=bf16, optim="adamw_torch",
                    packing=False, completion_only_loss=True, train_sampling_strategy="group_by_length",
                    save_strategy="steps", save_steps=2, save_total_limit=2, logging_steps=1, report_to="none",
                    include_num_input_tokens_seen="non_padding", dataloader_pin_memory=False, seed=0,
                    data_seed=0)
    return SFTConfig(**{**keywords, **changes})


def make_trainer(small_lm, qa_table, out_dir, max_steps: int = 6, callbacks=()):
    from trl import SFTTrainer

    model, tok = small_lm
    rows = sft.fit_to_length(qa_table, tok, model.config.max_position_embeddings)
    args = args_like_03(CPU, out_dir, max_steps=max_steps, max_length=model.config.max_position_embeddings)
    return SFTTrainer(model=copy.deepcopy(model), args=args, train_dataset=sft.prompt_completion_dataset(rows, tok),
                      processing_class=tok, peft_config=lora(4), callbacks=list(callbacks))


def train(trainer) -> dict:
    """Notebook 03's training cell."""
    resume = sft.last_checkpoint(trainer.args.output_dir)
    with sft.timed_run(trainer, resume) as run:
        trainer.train(resume_from_checkpoint=resume)
    return run


def test_prompt_keeps_the_workshop_shape():
    prompt = sft.prompt_of("Pt with CP.", "Why was the pt admitted?")
    assert prompt.startswith("Instruct: ") and prompt.endswith("\nOutput:")
    assert "[note start]\nPt with CP.\n[note end]\nQuestion: Why was the pt admitted?" in prompt
    assert sft.completion_of(" CP. ", "<|endoftext|>") == " CP.<|endoftext|>"


def test_length_filter_never_keeps_an_example_that_would_be_truncated(small_lm, qa_table):
    _, tok = small_lm
    full = [len(tok(p + c)["input_ids"]) for p, c in sft.prompt_completion_rows(qa_table, tok.eos_token).values]
    limit = sorted(full)[len(full) // 2]
    kept = sft.fit_to_length(qa_table, tok, limit)
    assert 0 < len(kept) < len(qa_table)
    assert all(len(tok(p + c)["input_ids"]) <= limit for p, c in sft.prompt_completion_rows(kept, tok.eos_token).values)
    with pytest.raises(WorkbookError, match="MAX_LENGTH"):
        sft.fit_to_length(qa_table, tok, 5)


def test_only_answer_tokens_and_eos_carry_labels(small_lm, qa_table, tmp_path):
    trainer = make_trainer(small_lm, qa_table, tmp_path)
    tok = trainer.processing_class
    rows = sft.prompt_completion_rows(sft.fit_to_length(qa_table, tok, 256), tok.eos_token)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    assert (batch["attention_mask"] == 0).any(), "the batch should contain padding"
    for i, (ids, labels, attention) in enumerate(zip(batch["input_ids"], batch["labels"], batch["attention_mask"],
                                                     strict=True)):
        kinds = masks.token_kinds(ids, labels, attention, tok.eos_token_id)
        labelled = labels != masks.IGNORE
        assert [k in ("answer", "eos") for k in kinds] == labelled.tolist()
        assert tok.decode(ids[labelled]) == rows["completion"].iloc[i]  # the answer and EOS, nothing else
        assert kinds[max(j for j, k in enumerate(kinds) if k != "pad")] == "eos"  # EOS is the last real token
        assert kinds.count("eos") == 1 and labels[attention == 0].eq(masks.IGNORE).all()
    view = masks.label_view(trainer, 0)
    assert view.counts()["eos"] == 1 and view.counts()["pad"] > 0
    assert "EOS" in repr(view) and "background" in view._repr_html_()


class StopAt(TrainerCallback):
    """Simulate a Colab disconnect: raise in the middle of training."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt("disconnected")


def test_training_resumes_from_the_last_checkpoint(small_lm, qa_table, tmp_path):
    straight = make_trainer(small_lm, qa_table, tmp_path / "straight")
    assert train(straight)["steps"] == 6
    expected = sft.loss_history(straight)

    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        train(make_trainer(small_lm, qa_table, out, callbacks=[StopAt(5)]))
    assert sft.last_checkpoint(out).endswith("checkpoint-4")
    resumed = make_trainer(small_lm, qa_table, out)  # a fresh trainer, as after re-running the cell
    info = train(resumed)
    assert info["resumed_from_step"] == 4 and info["steps"] == 2 and resumed.state.global_step == 6
    history = sft.loss_history(resumed)
    assert history["step"].tolist() == expected["step"].tolist() == [1, 2, 3, 4, 5, 6]
    assert history["loss"].tolist() == pytest.approx(expected["loss"].tolist(), rel=1e-4)


def test_run_dir_changes_with_the_settings(tmp_path):
    a = sft.run_dir(tmp_path, "03", {"r": 16, "lr": 2e-4})
    assert a == sft.run_dir(tmp_path, "03", {"lr": 2e-4, "r": 16})
    assert a != sft.run_dir(tmp_path, "03", {"r": 8, "lr": 2e-4})


def test_precision_and_optimizer_on_a_t4_an_a100_and_a_cpu():
    a100 = Runtime(track="gpu", reason="test", device="cuda", precision=precision_for((8, 0)), on_colab=False)
    assert sft.precision_flags(T4) == (True, False) and sft.precision_flags(a100) == (False, True)
    assert sft.precision_flags(CPU) == (False, False)
    assert sft.optimizer_for(T4, quantized=False) == "adamw_torch"
    assert sft.optimizer_for(T4, quantized=True) == "paged_adamw_8bit"
    assert sft.optimizer_for(CPU, quantized=True) == "adamw_torch"  # paging needs CUDA


def test_settings_name_the_parameter_that_must_be_positive():
    assert sft.track_settings("cpu", max_steps=3)["max_steps"] == 3
    with pytest.raises(WorkbookError, match="MAX_STEPS=0"):
        sft.track_settings("cpu", max_steps=0)
    with pytest.raises(WorkbookError, match="SAVE_STEPS=0"):
        sft.track_settings("gpu", save_steps=0)


def test_every_phi2_target_module_gets_an_adapter_on_the_meta_device():
    from peft import get_peft_model

    model = get_peft_model(models.phi2_on_meta(), lora(16))
    coverage = sft.adapter_coverage(model)
    assert coverage.to_dict() == {name: 32 for name in models.PHI2_TARGET_MODULES}
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 16 * 32 * (4 * (2560 + 2560) + 2 * (2560 + 10240))


def test_a_stale_wqkv_next_to_a_valid_name_passes_peft_and_fails_the_coverage_check():
    """Exercise 03.2: peft only refuses when no name matches; the coverage check names the stale one."""
    from peft import get_peft_model

    model = get_peft_model(models.phi2_on_meta(), lora(4, ("Wqkv", "fc1")))  # no error from peft
    with pytest.raises(WorkbookError, match="Wqkv"):
        sft.adapter_coverage(model, ("Wqkv", "fc1"))
    with pytest.raises(ValueError, match="Wqkv"):  # alone, it matches nothing: peft's own error
        get_peft_model(models.phi2_on_meta(), lora(4, ("Wqkv",)))


def test_coverage_names_a_target_that_matched_nothing():
    from peft import get_peft_model

    model = get_peft_model(models.phi2_on_meta(), lora(4, ("q_proj", "fc1")))
    with pytest.raises(WorkbookError, match="dense"):
        sft.adapter_coverage(model, ("q_proj", "fc1", "dense"))


def test_four_bit_config_for_the_gpu_track():
    config = models.nf4_config(torch.float16)
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4"
    assert config.bnb_4bit_use_double_quant and config.bnb_4bit_compute_dtype == torch.float16


def test_padding_share_counts_pads_per_batch():
    lengths = [10, 2, 9, 3]
    assert sft.padding_share(lengths, [0, 1, 2, 3], 2) == pytest.approx(1 - 24 / 38)  # (10+10) + (9+9) padded
    assert sft.padding_share(lengths, [0, 2, 1, 3], 2) == pytest.approx(1 - 24 / 26)  # grouped by length


def test_qlora_trainer_casts_adapters_to_bf16_and_we_put_them_back(small_lm, tmp_path, qa_table):
    """TRL's SFTTrainer makes a quantized model's LoRA weights bf16; with fp16 on a T4 the GradScaler then fails
    at the first step. keep_trainable_fp32 restores fp32 (checked here on a CPU with the fp16 settings)."""
    from trl import SFTTrainer

    model, tokenizer = small_lm
    model.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    nf4, _ = models.load_pretrained(str(tmp_path / "base"), torch.float16, "nf4", device="cpu")
    rt = Runtime("cpu", "t", "cpu", "fp16", False)
    args = args_like_03(rt, tmp_path / "run", max_steps=1, max_length=256, optim=sft.optimizer_for(rt, True))
    assert args.fp16 and not args.bf16
    trainer = SFTTrainer(model=nf4, args=args, train_dataset=sft.prompt_completion_dataset(qa_table, tokenizer),
                         processing_class=tokenizer, peft_config=lora(2, ["q_proj"]))
    before = sft.keep_trainable_fp32(trainer.model, rt.precision)
    assert before == {"bfloat16": 2 * 2}  # lora_A and lora_B of q_proj in both layers: TRL made them bf16
    assert {p.dtype for p in trainer.model.parameters() if p.requires_grad} == {torch.float32}


def test_validation_loss_is_tracked_next_to_training_loss(small_lm, qa_table, tmp_path):
    from trl import SFTTrainer

    model, tokenizer = small_lm
    args = args_like_03(CPU, tmp_path / "run", max_steps=4, learning_rate=1e-3, max_length=256, save_steps=100,
                        eval_strategy="steps", eval_steps=2, eval_on_start=True, per_device_eval_batch_size=2)
    data_set = sft.prompt_completion_dataset(sft.fit_to_length(qa_table, tokenizer, 256), tokenizer)
    trainer = SFTTrainer(model=copy.deepcopy(model), args=args, train_dataset=data_set,
                         eval_dataset=data_set.select(range(4)), processing_class=tokenizer,
                         peft_config=lora(2))
    trainer.train()
    evals = sft.eval_history(trainer)
    assert evals["step"].tolist() == [0, 2, 4] and evals["eval_loss"].gt(0).all()  # step 0: the base model
    assert len(sft.loss_history(trainer)) == 4


def test_scoring_only_answer_positions_on_cpu_keeps_the_loss_and_the_adapter(small_lm, qa_table, tmp_path,
                                                                             monkeypatch):
    from trl.trainer import utils as trl_utils

    monkeypatch.setattr(trl_utils, "_use_triton", trl_utils._use_triton)  # undone after the test
    every_position = make_trainer(small_lm, qa_table, tmp_path / "every", max_steps=3)
    every_position.train()
    assert not trl_utils._use_triton(torch.device("cpu"))  # TRL's own choice on CPU: score every position
    assert sft.score_answer_positions_only() is True
    assert trl_utils._use_triton(torch.device("cpu")) and sft.score_answer_positions_only() is False  # once only
    answers_only = make_trainer(small_lm, qa_table, tmp_path / "answers", max_steps=3)
    answers_only.train()
    expected, got = sft.loss_history(every_position), sft.loss_history(answers_only)
    assert len(got) == 3
    assert got["loss"].tolist() == pytest.approx(expected["loss"].tolist(), rel=1e-4)
    lora = {n: p for n, p in every_position.model.named_parameters() if "lora_B" in n}
    for name, param in answers_only.model.named_parameters():
        if "lora_B" in name:
            assert torch.allclose(param, lora[name], atol=1e-5), name
