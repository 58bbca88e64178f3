"""gpu-check: one sentence without CUDA; its table comes from the notebooks' records."""

from __future__ import annotations

import torch

from helpers import gpucheck


def test_gpu_check_stops_with_one_sentence_without_cuda(capsys, tmp_path):
    if torch.cuda.is_available():
        return  # on a GPU machine the command runs for real (python3 workbook.py gpu-check)
    assert gpucheck.main(["--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("gpu-check needs a CUDA GPU") and len(err.splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing was built


def test_table_reads_memory_speed_and_time_from_the_records():
    gib = 2**30
    rows = (gpucheck.rows_of("03_lora_sft", {"tokens_per_second": 950.0, "memory_measured_bytes": 9 * gib,
                                             "memory_estimate_bytes": 8 * gib, "train_seconds": 600.0,
                                             "padding_share": {"grouped by length": 0.05}}, 700.0)
            + gpucheck.rows_of("05_two_stage_classifier", {"stage1_seconds": 90.0, "stage1_tokens_per_second": 1200.0,
                                                           "stage1_measured_bytes": 7 * gib,
                                                           "stage1_estimate_bytes": 6.5 * gib,
                                                           "stage2_seconds": 400.0}, 600.0))
    sft = next(r for r in rows if r["phase"] == "SFT training")
    assert sft["peak GiB"] == 9 and sft["estimate GiB"] == 8 and sft["tokens/s"] == 950
    text = gpucheck.table_markdown(rows, "NVIDIA H100")
    assert "| 03_lora_sft | SFT training | 9.00 | 8.00 | 950 | 600 | 5% |" in text
    assert "| 05_two_stage_classifier | stage 1 (clinical LoRA) | 7.00 | 6.50 | 1,200 | 90 |  |" in text
    assert "not a T4's" in text
