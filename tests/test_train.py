"""scripts/train_lstm.py and scripts/export.py on a tiny synthetic dataset: checkpoint and loss curve,
repeatable runs, exact resume, PAD masking, torchrun with two CPU processes, export to a model folder;
the parts they share (liveimpro.data.training, liveimpro.data.tune_batches)."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from script_modules import load_script
from test_model import synthetic_melodies

from liveimpro.data.corpus import FileResult
from liveimpro.data.dataset import Dataset
from liveimpro.data.training import learning_rate
from liveimpro.data.tune_batches import (
    batch_loss,
    collate,
    epoch_batches,
    validation_loss,
)
from liveimpro.errors import UserError
from liveimpro.lstm.folder import load_model_folder
from liveimpro.lstm.improviser import Improviser
from liveimpro.lstm.network import ModelConfig, NextTokenLSTM
from liveimpro.tokens.base import BOS

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")

train_lstm = load_script("train_lstm")
export = load_script("export")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "tiny"
    tunes = [(i, melody) for i, melody in enumerate(synthetic_melodies(60))]
    Dataset.build([FileResult(Path("synthetic.abc"), tunes=tunes)], valid_share=0.2, kinds=("curve",)).save(folder)
    return folder


def tiny_args(data, out, *extra) -> list[str]:
    return ["--data", str(data), "--out", str(out), "--embed-dim", "16", "--hidden", "16", "--batch-size", "8",
            "--warmup-steps", "3", "--eval-interval", "4", "--threads", "1", *extra]


def train(*argv) -> dict:
    assert train_lstm.main(list(argv)) == 0
    return torch.load(Path(argv[argv.index("--out") + 1]) / "ckpt.pt", weights_only=True)


def test_training_writes_a_checkpoint_and_a_loss_curve(data, tmp_path):
    ckpt = train(*tiny_args(data, tmp_path / "run", "--max-steps", "24", "--lr", "0.01"))
    assert ckpt["step"] == 24 and ckpt["history"]["step"] == [4, 8, 12, 16, 20, 24]
    assert ckpt["config"]["hidden"] == 16 and ckpt["config"]["out"] == str(tmp_path / "run")
    assert ckpt["best_val"] == min(ckpt["history"]["valid"])
    assert ckpt["history"]["valid"][-1] < ckpt["history"]["valid"][0] < math.log(ckpt["model_config"]["vocab_size"]) + 1
    assert ckpt["vocab"]["kind"] == "curve" and ckpt["train_seconds"] > 0
    assert (tmp_path / "run" / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "run").glob("*.tmp"))  # the temporary checkpoint was renamed


def test_the_same_seed_gives_the_same_run(data, tmp_path):
    runs = [train(*tiny_args(data, tmp_path / name, "--max-steps", "8", "--seed", seed))
            for name, seed in (("a", "5"), ("b", "5"), ("c", "6"))]
    assert runs[0]["history"]["valid"] == runs[1]["history"]["valid"]
    assert runs[0]["history"]["train"] == runs[1]["history"]["train"]
    for key, value in runs[0]["model"].items():
        assert torch.equal(value, runs[1]["model"][key]), key
    assert runs[0]["history"]["valid"] != runs[2]["history"]["valid"]


def test_resume_continues_as_if_never_stopped(data, tmp_path):
    constant = ("--lr", "0.005", "--min-lr", "0.005")  # a schedule that does not depend on max_steps
    straight = train(*tiny_args(data, tmp_path / "straight", "--max-steps", "16", *constant))
    train(*tiny_args(data, tmp_path / "stopped", "--max-steps", "8", *constant))
    resumed = train("--out", str(tmp_path / "stopped"), "--resume", "--max-steps", "16")
    assert resumed["step"] == 16
    assert resumed["history"]["valid"] == straight["history"]["valid"]
    for key, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][key]), key


def test_bfloat16_autocast_trains_like_float32(data, tmp_path):
    runs = [train(*tiny_args(data, tmp_path / name, "--max-steps", "8", *flag))
            for name, flag in (("fp32", ()), ("bf16", ("--bf16",)))]
    assert runs[1]["config"]["bf16"] and all(v.dtype == torch.float32 for v in runs[1]["model"].values())
    assert runs[1]["history"]["valid"] == pytest.approx(runs[0]["history"]["valid"], rel=0.02)


def test_resume_refuses_another_model_shape_or_a_missing_run(data, tmp_path):
    train(*tiny_args(data, tmp_path / "run", "--max-steps", "4"))
    with pytest.raises(UserError, match="cannot resume with another hidden"):
        train_lstm.main(["--out", str(tmp_path / "run"), "--resume", "--hidden", "32"])
    with pytest.raises(UserError, match="no checkpoint to resume"):
        train_lstm.main(["--out", str(tmp_path / "nothing"), "--resume"])


def test_early_stopping_ends_the_run(data, tmp_path):
    ckpt = train(*tiny_args(data, tmp_path / "run", "--max-steps", "400", "--patience", "1", "--lr", "0.0",
                            "--min-lr", "0.0"))  # nothing learns, so the second evaluation cannot improve
    assert ckpt["step"] == 8 and ckpt["bad_evals"] == 1


def test_padding_is_masked_out_of_the_loss():
    torch.manual_seed(0)
    net = NextTokenLSTM(ModelConfig(vocab_size=20, embed_dim=8, hidden=8)).eval()
    tunes = [np.array([1, 5, 6, 7, 2]), np.array([1, 9, 2]), np.array([1, 4, 4, 4, 4, 4, 3, 2])]
    with torch.no_grad():
        batched = batch_loss(net, collate(tunes, 100, None), reduction="sum")
        alone = sum(batch_loss(net, collate([t], 100, None), reduction="sum") for t in tunes)
    torch.testing.assert_close(batched, alone)


def test_long_tunes_become_windows_and_every_tune_is_seen_once_per_epoch():
    rng = np.random.default_rng(0)
    batch = collate([np.arange(1, 40)], 10, rng)
    assert batch.shape == (1, 11) and torch.all(batch[0, 1:] - batch[0, :-1] == 1)
    lengths = np.arange(103) % 17 + 3
    batches = epoch_batches(lengths, 8, seed=1, epoch=4)
    assert sorted(np.concatenate(batches).tolist()) == list(range(103))
    assert [b.tolist() for b in batches] == [b.tolist() for b in epoch_batches(lengths, 8, 1, 4)]


def test_learning_rate_warms_up_then_decays_to_min_lr():
    cfg = train_lstm.TrainConfig(lr=1.0, min_lr=0.1, warmup_steps=10, max_steps=110)
    rates = [learning_rate(cfg, s) for s in range(120)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))
    assert rates[110] == rates[119] == pytest.approx(0.1)


def test_torchrun_with_two_cpu_processes(data, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", str(REPO / "scripts" / "train_lstm.py"),
                             *tiny_args(data, out, "--max-steps", "8")],
                            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[:3000] + "\n...\n" + result.stderr[-1500:]
    assert "2 process(es) on cpu" in result.stdout
    assert result.stdout.count("training with config") == 1  # rank 0 alone logs
    ckpt = torch.load(out / "ckpt.pt", weights_only=True)
    assert ckpt["step"] == 8
    net = NextTokenLSTM(ModelConfig(**ckpt["model_config"]))
    net.load_state_dict(ckpt["model"])
    alone = validation_loss(net, Dataset.load(data).tokens("curve", "valid"), 16, "cpu", 0, 1)
    assert alone == pytest.approx(ckpt["history"]["valid"][-1], rel=1e-6)  # the two halves added up right


def test_export_writes_a_model_folder_the_runtime_loads(data, tmp_path, capsys):
    ckpt = train(*tiny_args(data, tmp_path / "run", "--max-steps", "8"))
    assert export.main([str(tmp_path / "run" / "ckpt.pt"), str(tmp_path / "model"),
                        "--torchscript", str(tmp_path / "step.ts")]) == 0
    folder = load_model_folder(tmp_path / "model")
    standalone = torch.jit.load(str(tmp_path / "step.ts"))  # our own file, for hosts outside liveimpro
    with torch.inference_mode():
        expected, _ = folder.module.step(BOS, folder.module.init_state())
        logits, _ = standalone.step(BOS, standalone.init_state())
    torch.testing.assert_close(logits, expected)
    card = folder.card
    assert card["tokenizer"] == "curve" and card["model_config"] == ckpt["model_config"]
    assert card["validation"]["bits_per_token"] == pytest.approx(ckpt["best_val"] / math.log(2))
    assert card["training"]["wall_seconds"] > 0 and card["training"]["steps"] == 8
    assert "minus kinder0.abc" in card["training_data"]["description"]
    assert card["parameters"] == NextTokenLSTM(ModelConfig(**ckpt["model_config"])).num_parameters()
    assert card["config"] == ckpt["config"]
    imp = Improviser.load(tmp_path / "model", rng=np.random.default_rng(0))
    imp.commit(imp.propose())
    assert imp.steps == 2


def test_export_of_a_missing_checkpoint_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read the checkpoint"):
        export.main([str(tmp_path / "none.pt"), str(tmp_path / "model")])
