"""The command line: output schema, presets round trip, and the refusal format (exit 2, one error line)."""

import json
import subprocess
import sys
import wave

import numpy as np
import pytest
from PIL import Image

from core.__main__ import main
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from skimage import data

    path = tmp_path_factory.mktemp("cli") / "coffee.png"
    Image.fromarray(data.coffee()).save(path)
    return path


def test_inspect_end_to_end_in_a_subprocess(photo, tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "core", "inspect", str(photo), "--preset", "channels", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].split()[:3] == ["variant", "top-1", "conf"]
    assert lines[3].startswith("rgb (ref)") and "espresso" in lines[3]
    data = json.loads(out.read_text())
    assert data["model"] == "efficientnet_lite0"
    assert [v["name"] for v in data["variants"]][0] == "rgb"
    v0 = data["variants"][0]
    assert set(v0) >= {"name", "spec", "top5", "layers"}
    assert set(v0["top5"][0]) == {"label", "index", "prob"} and v0["top5"][0]["label"] == "espresso"
    assert {"name", "mean", "std", "zero_fraction", "similarity", "bn_shift"} <= set(v0["layers"][0])
    assert data["input"]["digest"] and data["versions"]["torch"]


def test_presets_list_and_round_trip_through_variants(photo, tmp_path, capsys):
    assert main(["presets"]) == 0
    listing = capsys.readouterr().out
    assert "channels" in listing and "interpolation" in listing and "colormaps" in listing
    assert main(["presets", "interpolation"]) == 0
    text = capsys.readouterr().out
    f = tmp_path / "interp.json"
    f.write_text(text)
    out = tmp_path / "o.json"
    assert main(["inspect", str(photo), "--variants", str(f), "--json", str(out)]) == 0
    names = [v["name"] for v in json.loads(out.read_text())["variants"]]
    assert names == [v["name"] for v in json.loads(text)["variants"]]


def _bomb(path):
    Image.new("1", (9000, 9000)).save(path)  # 81 megapixels in a few kB


def _silent_wav(path):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros(0, np.int16).tobytes())


@pytest.mark.parametrize(
    "make, args, fragment",
    [
        (lambda p: p.write_text("hello"), [], "not an image"),
        (lambda p: p.write_bytes(b""), [], "empty"),
        (lambda p: p.write_text("<svg xmlns='http://www.w3.org/2000/svg'></svg>"), [], "SVG"),
        (_bomb, [], "megapixels"),
        (_silent_wav, [], "contains no audio samples"),
        (None, [], "No such file"),
        ("photo", ["--preset", "nope"], "Unknown preset"),
        ("photo", ["--variants", "missing.json"], "Cannot read variant file"),
        ("photo", ["--variants", "BAD"], "not valid JSON"),
        ("photo", ["--model", "resnet18", "--weights", "missing.pth"], "not found"),
    ],
)
def test_refusals_exit_2_with_one_error_line(make, args, fragment, photo, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "BAD").write_text("{not json")
    if make == "photo":
        target = photo
    else:
        target = tmp_path / ("input.wav" if make is _silent_wav else "input.png")
        if make is not None:
            make(target)
    code = main(["inspect", str(target), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert fragment in err and "Traceback" not in err


def test_refusal_through_the_real_entry_point(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("just text")
    proc = subprocess.run([sys.executable, "-m", "core", "inspect", str(bad)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stdout == ""


def _wav_bytes(samples, subtype="PCM_16"):
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, 8000, format="WAV", subtype=subtype)
    return buf.getvalue()


@pytest.mark.parametrize(
    "filename, content, fragment",
    [
        ("empty.wav", b"", "empty (0 bytes)"),
        ("header.wav", _wav_bytes(np.zeros(0, np.float32)), "no audio samples"),
        ("noise.wav", bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)), "not a sound file"),
        ("nan.wav", _wav_bytes(np.array([0.0, np.nan, 0.1] * 1000, np.float32), "FLOAT"), "non-finite"),
        ("cut.flac", b"fLaC" + bytes(30), "corrupt or truncated"),
    ],
)
def test_audio_refusals_through_the_cli(filename, content, fragment, tmp_path, capsys):
    path = tmp_path / filename
    path.write_bytes(content)
    assert main(["inspect", str(path), "--preset", "spectrogram"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and fragment in err


def test_inspect_accepts_real_speech(capsys, shared_data):
    clip = shared_data("fsdd", "3_jackson_0.wav")
    assert main(["inspect", str(clip), "--preset", "spectrogram"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[3].startswith("gray-replicate (ref)") and len(out) == 3 + 6 + 1


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("[" * 100000, "nests too deeply"),
        ('[{"name": "a", "degrade": [{"kind": ["jpeg"]}]}]', "kind among"),
        ('[{"name": "a", "resize": {"size": ' + "9" * 400 + "}}]", "..."),
        ('[{"name": "a", "resize": {"size": "224"}}]', "must be an integer"),
        ('[{"name": "a", "channels": ["rgb"]}]', "channels must be one of"),
    ],
)
def test_malformed_variant_files_are_refused_in_one_line(content, fragment, photo, tmp_path, capsys):
    f = tmp_path / "v.json"
    f.write_text(content)
    assert main(["inspect", str(photo), "--variants", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and fragment in err
    assert len(err) < 400


def test_json_to_stdout_is_valid_json_and_bad_targets_fail_before_work(photo, tmp_path, capsys):
    assert main(["inspect", str(photo), "--preset", "channels", "--json", "-"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)  # the table went to stderr
    assert data["variants"][0]["name"] == "rgb" and "variant" in captured.err
    assert main(["inspect", str(photo), "--json", str(tmp_path / "missing" / "r.json")]) == 2
    captured = capsys.readouterr()
    assert "does not exist" in captured.err and captured.out == ""  # refused before computing anything


def test_sweep_refuses_a_negative_seed(capsys):
    assert main(["sweep", "--builtin", "digits", "--seed", "-1"]) == 2
    assert "--seed must be" in capsys.readouterr().err
