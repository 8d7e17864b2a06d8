"""``python -m core autoencode gray|single``: the JSON keys the issue names, saving into the models folder,
and the refusal format (exit 2, one ``error:`` line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.__main__ import main
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PREPSCOPE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("PREPSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "models"


def _refused(capsys: pytest.CaptureFixture, argv: list[str], match: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and match in err[0], err


def test_single_on_the_builtin_texture_writes_the_contract_keys(tmp_path: Path, folders: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "s.json"
    argv = ["autoencode", "single", "--builtin", "texture", "--steps", "3", "--regimes", "plain,blindspot",
            "--save", "bs", "--json", str(out), "--quiet"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "PSNR vs clean" in table and "the noisy input itself: PSNR vs clean 20.08 dB" in table
    data = json.loads(out.read_text())
    assert [r["name"] for r in data["regimes"]] == ["plain", "blindspot"]
    for r in data["regimes"]:
        assert isinstance(r["psnr_vs_input"], float) and isinstance(r["psnr_vs_clean"], float)
        assert isinstance(r["shifted_crop_mse"], float) and isinstance(r["seconds"], float)
    assert data["input_psnr_vs_clean"] == pytest.approx(20.08, abs=0.01)
    assert (folders / "bs.pt").is_file() and json.loads((folders / "bs.json").read_text())["regime"] == "blindspot"


def test_save_keeps_the_one_regime_trained_when_no_save_regime_is_given(folders: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    assert main(["autoencode", "single", "--builtin", "texture", "--steps", "2", "--regimes", "plain", "--save", "p",
                 "--quiet"]) == 0
    assert "saved the plain model as the lab denoiser 'p'" in capsys.readouterr().out
    assert json.loads((folders / "p.json").read_text())["regime"] == "plain"
    assert main(["autoencode", "single", "--builtin", "texture", "--steps", "2", "--regimes", "augmented,plain",
                 "--save", "a", "--quiet"]) == 0
    assert json.loads((folders / "a.json").read_text())["regime"] == "augmented"  # the first one trained


def test_single_without_a_clean_image_reports_null(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from core.autoencode.single import builtin_texture

    noisy, _ = builtin_texture(side=48)
    path = tmp_path / "n.png"
    Image.fromarray((noisy * 255).round().astype(np.uint8)).save(path)
    assert main(["autoencode", "single", str(path), "--steps", "2", "--regimes", "augmented", "--json", "-",
                 "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["regimes"][0]["psnr_vs_clean"] is None and data["input_psnr_vs_clean"] is None


def test_refusals_are_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((600, 700, 3), np.uint8)).save(big)
    _refused(capsys, ["autoencode", "single", str(big), "--steps", "2"], "at most 512×512")
    _refused(capsys, ["autoencode", "single", str(tmp_path / "nope.png")], "nope.png")
    _refused(capsys, ["autoencode", "single", "--builtin", "texture", "--regimes", "plain,magic"], "magic")
    _refused(capsys, ["autoencode", "single"], "Give one image")
    _refused(capsys, ["autoencode", "single", "--builtin", "texture", "--steps", "0"], "steps must be")
    _refused(capsys, ["autoencode", "gray", "--builtin", "photos", "--name", "bad name"], "model name")
    _refused(capsys, ["autoencode", "gray", "--train", str(tmp_path), "--name", "x"], "usable color image")
    _refused(capsys, ["autoencode", "gray", "--builtin", "photos", "--name", "x", "--probe"], "--probe needs")


@pytest.mark.slow
def test_gray_in_a_subprocess_saves_the_rule_and_writes_the_contract_keys(tmp_path: Path, folders: Path) -> None:
    out = tmp_path / "g.json"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PREPSCOPE_MODELS_DIR": str(folders)}
    cmd = [sys.executable, "-m", "core", "autoencode", "gray", "--builtin", "photos", "--name", "lg", "--epochs", "1",
           "--json", str(out), "--quiet"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "reconstruction PSNR" in proc.stdout and "learned:lg" in proc.stdout
    data = json.loads(out.read_text())
    assert data["name"] == "lg"
    assert [r["rule"] for r in data["rules"]] == ["601", "709", "mean", "learned:lg"]
    assert all(isinstance(r["reconstruction_psnr"], float) for r in data["rules"])
    assert set(data["isoluminant_contrast"]) >= {"601", "learned:lg"}
    assert data["isoluminant_contrast"]["601"] < 1e-5
    assert (folders / "lg.pt").is_file() and (folders / "lg.json").is_file()
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 2 and again.stderr.strip().startswith("error: A model named 'lg' already exists")


@pytest.mark.slow
def test_progress_lines_reach_a_pipe_while_the_work_runs(tmp_path: Path, folders: Path) -> None:
    import time

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PREPSCOPE_MODELS_DIR": str(folders)}
    cmd = [sys.executable, "-m", "core", "autoencode", "single", "--builtin", "texture", "--regimes", "plain",
           "--steps", "200"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    arrived = []
    for line in proc.stderr:  # stderr is a pipe, not a terminal: one line per 10%, each as it happens
        arrived.append((time.monotonic(), line))
    proc.wait(timeout=300)
    end = time.monotonic()
    assert proc.returncode == 0 and len(arrived) >= 5, arrived
    assert all(line.startswith("[") for _, line in arrived)
    assert end - arrived[0][0] > 1.0, "the first progress line came only at the end"


@pytest.mark.slow
def test_gray_probe_runs_the_network_named_by_model_a_card_included(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture) -> None:
    """``--probe --model NAME`` sweeps the four gray rules through that network (here a random-init card), not the
    default model; ``--model`` without ``--probe`` and an unknown name are refused before any training."""
    import timm
    import torch
    from safetensors.torch import save_file

    from core.models.install import add_network

    monkeypatch.setenv("PREPSCOPE_NETWORKS_DIR", str(tmp_path / "networks"))
    torch.manual_seed(0)
    net = timm.create_model("resnet10t", pretrained=False, num_classes=2)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "r.safetensors"))
    add_network("antbee", "resnet10t", tmp_path / "r.safetensors", ("ants", "bees"), input_size=64)
    rng = np.random.default_rng(0)
    for ci, cls in enumerate(("ants", "bees")):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 255, (48, 56, 3)).astype(np.uint8)
            pixels[..., ci] //= 2
            Image.fromarray(pixels).save(tmp_path / "data" / cls / f"{i}.png")
    data = str(tmp_path / "data")
    _refused(capsys, ["autoencode", "gray", "--train", data, "--name", "lg", "--model", "antbee"],
             "--model names the network that --probe runs")
    _refused(capsys, ["autoencode", "gray", "--train", data, "--name", "lg", "--probe", "--model", "nope"],
             "Unknown model 'nope'")
    assert not (tmp_path / "models" / "lg.pt").exists()  # refused before training
    out = tmp_path / "g.json"
    assert main(["autoencode", "gray", "--train", data, "--name", "lg", "--epochs", "1", "--probe", "--model",
                 "antbee", "--json", str(out), "--quiet"]) == 0
    probe = json.loads(out.read_text())["probe"]
    assert probe["provenance"]["model"] == "antbee"
    assert [v["name"] for v in probe["variants"]][-1] == "learned:lg"
