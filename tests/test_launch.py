"""The launch configurations of notebook 06 and the sentences for a learner's mistakes with them (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import launch, sft, train_sft
from helpers.models import phi2_on_meta
from helpers.runtime import WorkbookError


@pytest.fixture(scope="module")
def phi2():
    return phi2_on_meta()


@pytest.mark.parametrize("strategy", list(launch.CONFIGS))
def test_each_committed_config_is_one_accelerate_reads_as_its_strategy(strategy):
    from accelerate.commands.config.config_args import load_config_from_file

    path = launch.config_path(strategy)
    cluster = load_config_from_file(str(path))  # accelerate's own loader: unknown keys or types fail here
    assert launch.strategy_of(launch.read_config(strategy)) == strategy
    assert str(cluster.mixed_precision) == "fp16"  # written for a T4
    text = path.read_text()
    assert text.startswith("# "), "each config opens with a comment that says what it is"


def test_fsdp_config_wraps_phi2s_decoder_layer_and_saves_a_normal_adapter(phi2):
    fsdp = launch.read_config("fsdp")["fsdp_config"]
    launch.check_layer_class(phi2, fsdp["fsdp_transformer_layer_cls_to_wrap"])  # the class exists in phi-2
    assert fsdp["fsdp_reshard_after_forward"] is True and fsdp["fsdp_state_dict_type"] == "SHARDED_STATE_DICT"
    source = Path(train_sft.__file__).read_text()  # ... and the script gathers the final adapter whole
    assert 'set_state_dict_type("FULL_STATE_DICT")' in source
    assert fsdp["fsdp_activation_checkpointing"] is True and fsdp["fsdp_version"] == 2


def test_deepspeed_configs_agree_with_notebook_03s_gpu_settings():
    from trl import SFTConfig

    clip = SFTConfig.__dataclass_fields__["max_grad_norm"].default  # notebook 03 keeps the default
    for strategy, stage in (("zero2", 2), ("zero3", 3)):
        ds = launch.read_config(strategy)["deepspeed_config"]
        assert ds["zero_stage"] == stage
        assert ds["gradient_accumulation_steps"] == sft.TRACK_DEFAULTS["gpu"]["grad_accum"]
        assert ds["gradient_clipping"] == clip


def test_a_layer_class_the_model_lacks_is_one_sentence_naming_the_right_one(phi2, tmp_path):
    with pytest.raises(WorkbookError, match="PhiDecoderLayer") as err:
        launch.check_layer_class(phi2, "LlamaDecoderLayer")
    assert "\n" not in str(err.value) and str(err.value).endswith(".")
    assert launch.check_config("fsdp", phi2) == "fsdp"  # the committed file is right
    wrong = tmp_path / "fsdp_llama.yaml"  # a config copied from a Llama recipe
    wrong.write_text(launch.config_path("fsdp").read_text().replace("PhiDecoderLayer", "LlamaDecoderLayer"))
    with pytest.raises(WorkbookError, match="LlamaDecoderLayer"):
        launch.check_config(wrong, phi2)
    assert launch.check_config("ddp", phi2) == "ddp"


def test_the_strategy_comes_from_what_accelerate_launch_sets():
    assert launch.strategy_from_env({}) == "single"
    assert launch.strategy_from_env({"WORLD_SIZE": "4"}) == "ddp"
    assert launch.strategy_from_env({"ACCELERATE_USE_FSDP": "true", "WORLD_SIZE": "4"}) == "fsdp"
    assert launch.strategy_from_env({"ACCELERATE_USE_FSDP": "true", "FSDP_RESHARD_AFTER_FORWARD": "false"}) == "zero2"
    deepspeed = {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}
    assert launch.strategy_from_env(deepspeed) == "zero3"
    # the names are the ones this accelerate writes (a rename upstream fails here, not silently on a GPU machine)
    import accelerate.utils.launch as source

    text = Path(source.__file__).read_text()
    for name in ("ACCELERATE_USE_FSDP", "FSDP_RESHARD_AFTER_FORWARD", "FSDP_TRANSFORMER_CLS_TO_WRAP",
                 "ACCELERATE_USE_DEEPSPEED", "ACCELERATE_DEEPSPEED_ZERO_STAGE"):
        assert f'"{name}"' in text, name


def test_qlora_combinations_the_libraries_refuse_are_one_sentence():
    for strategy in ("single", "ddp", "zero2"):
        launch.check_qlora(strategy, "uint8", "paged_adamw_8bit")  # supported as notebook 04 runs it
    for strategy in ("fsdp", "zero3"):
        launch.check_qlora(strategy, "float32", "adamw_torch")
        with pytest.raises(WorkbookError, match="bnb_4bit_quant_storage"):
            launch.check_qlora(strategy, "uint8")
    with pytest.raises(WorkbookError, match="paged_adamw_8bit"):
        launch.check_qlora("fsdp", "float32", "paged_adamw_8bit")
    with pytest.raises(WorkbookError, match="one GPU per process"):
        launch.check_qlora("ddp", devices_per_process=2)
    with pytest.raises(WorkbookError, match="strategy"):
        launch.check_qlora("pipeline")
    assert launch.quant_storage_for("fsdp", "fp16") == "float32"
    assert launch.quant_storage_for("zero3", "bf16") == "bfloat16"
    assert launch.quant_storage_for("ddp", "fp16") == "uint8"


def test_the_printed_commands_use_the_committed_files():
    line = launch.launch_command("fsdp", 8)
    assert line.startswith("accelerate launch --config_file configs/accelerate/fsdp.yaml --num_processes 8 ")
    assert "-m helpers.train_sft --track gpu" in line
    assert "--num_processes 1 " in launch.launch_command("single", 8)
    with pytest.raises(WorkbookError, match="STRATEGY"):
        launch.config_path("zero4")
    cmd = launch.command(2, "helpers.shard", "--out", "x")
    assert launch.shown(cmd) == "torchrun --standalone --nproc_per_node 2 -m helpers.shard --out x"
    assert launch.shown(launch.command(1, "helpers.train_sft")) == "python -m helpers.train_sft"


def test_torchruns_root_cause_is_the_reason_given():
    tail = """[1]:
  exitcode  : -15 (pid: 4628)  (SIGTERM)
  traceback : Signal 15 (SIGTERM) received by PID 4628
------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-01_18:49:16
  rank      : 1 (local_rank: 1)
  exitcode  : -6 (pid: 4629)  (SIGABRT)
  error_file: <N/A>
  traceback : Signal 6 (SIGABRT) received by PID 4629
======================================================"""
    assert launch.failure_of(tail) == "-6 (pid: 4629)  (SIGABRT); Signal 6 (SIGABRT) received by PID 4629"
    assert launch.failure_of("a\nSystemExit: too many processes\n=====\n") == "SystemExit: too many processes"
    assert launch.failure_of("") == "no output"


def test_a_failed_run_is_one_sentence_with_its_log(tmp_path):
    import sys

    with pytest.raises(WorkbookError, match="failed") as err:
        launch.run([sys.executable, "-c", "raise SystemExit('no such thing')"], tmp_path / "report.json")
    assert "no such thing" in str(err.value) and (tmp_path / "failed.log").exists()


def test_trainer_fsdp_on_cpu_is_refused_before_anything_loads(monkeypatch):
    from helpers import train_sft

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(WorkbookError, match="needs GPUs"):
        train_sft.main(["--out", "unused", "--fsdp", "PhiDecoderLayer"])
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    with pytest.raises(WorkbookError, match="needs GPUs"):
        train_sft.main(["--out", "unused"])


def test_each_rank_loads_onto_its_own_gpu_and_zero3_places_its_own_shards():
    from helpers.models import device_map

    assert device_map("cuda", {}) == {"": 0} and device_map("cuda", {"LOCAL_RANK": "3"}) == {"": 3}
    assert device_map("cpu", {"LOCAL_RANK": "1"}) == "cpu"
    zero3 = {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3", "LOCAL_RANK": "1"}
    assert device_map("cuda", zero3) is None  # transformers: "DeepSpeed Zero-3 is not compatible with ... device_map"
    assert device_map("cuda", {**zero3, "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"}) == {"": 1}

