"""Dataset check (core.check): sets built in the test with known problems, each one found and counted."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from core.check.report import KINDS


def _texture(kind: str, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """An RGB uint8 image: horizontal stripes or a checkerboard, with a random period, phase, colour, smooth blobs
    and noise."""
    period = int(rng.integers(4, 9))
    yy, xx = np.mgrid[:size, :size]
    shift = int(rng.integers(0, period))
    if kind == "stripes":
        v = ((yy + shift) // period) % 2
    else:
        v = (((yy + shift) // period) + ((xx + shift) // period)) % 2
    colour = rng.uniform(0.4, 1.0, 3)
    # smooth random blobs under the pattern: every picture's layout differs, as photos' do
    blobs = np.asarray(Image.fromarray((rng.uniform(0, 255, (4, 4))).astype(np.uint8)).resize(
        (size, size), Image.Resampling.BICUBIC), dtype=np.float64)
    img = v[..., None] * colour * 110 + blobs[..., None] * 0.55 + rng.normal(0, 6, (size, size, 3)) + 5
    return np.clip(img, 0, 255).astype(np.uint8)


def _save(a: np.ndarray, path: Path, fmt: str = "PNG", **kw) -> Path:  # noqa: ANN003 - Pillow save options
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path, format=fmt, **kw)
    return path


def _textures(root: Path, n: int = 8, seed: int = 0, fmt: dict[str, str] | None = None) -> None:
    rng = np.random.default_rng(seed)
    for cls in ("checks", "stripes"):
        f = (fmt or {}).get(cls, "PNG")
        for i in range(n):
            _save(_texture(cls, rng), root / cls / f"{cls}{i:02d}.{'jpg' if f == 'JPEG' else 'png'}", f)


@pytest.fixture(scope="module")
def small_model():
    from core.models import load_model

    return load_model("efficientnet_lite0")


def _check(path: Path, model, test: Path | None = None, features: bool = False, **kw):  # noqa: ANN001, ANN003
    from core.check.run import check_dataset
    from core.evaluate.datasets import DatasetRequest, open_request
    from core.preprocess.presets import get_preset

    with open_request(DatasetRequest(path=str(path), test_path=None if test is None else str(test))) as (tr, te):
        preset = "spectrogram" if tr.kind == "audio" else "channels"
        return check_dataset(tr, te, list(get_preset(preset))[:1], model, features=features, **kw)


def test_file_findings_count_gray_rgb_16bit_exif_rotated_and_truncated(tmp_path: Path, small_model) -> None:
    _textures(tmp_path, n=6)
    rng = np.random.default_rng(5)
    gray = _texture("checks", rng)[..., :1].repeat(3, axis=2)  # R = G = B, stored as RGB
    _save(gray, tmp_path / "checks" / "gray_as_rgb.png")
    deep = (rng.integers(0, 65535, (40, 40))).astype(np.uint16)
    _save(deep, tmp_path / "stripes" / "deep16.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = tmp_path / "stripes" / "rotated.jpg"
    Image.fromarray(_texture("stripes", rng, 48)[:, :32]).save(rotated, format="JPEG", exif=exif.tobytes())
    whole = io.BytesIO()
    Image.fromarray(_texture("checks", rng)).save(whole, format="JPEG", quality=90)
    (tmp_path / "checks" / "truncated.jpg").write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])

    report = _check(tmp_path, small_model)
    by = {f.kind: f for f in report.findings}
    assert [it["name"] for it in by["unreadable"].items] == ["truncated.jpg"]
    assert "truncated" in by["unreadable"].items[0]["error"]
    assert [it["name"] for it in by["gray_rgb"].items] == ["gray_as_rgb.png"]
    assert [(it["name"], it["bit_depth"]) for it in by["bit_depth"].items] == [("deep16.png", 16)]
    assert [(it["name"], it["exif_orientation"]) for it in by["exif_rotation"].items] == [("rotated.jpg", 6)]
    assert by["format_mix"].details["values"] == {"PNG": 14, "JPEG": 1}
    # the truncated file is named and left out; the check itself completed on the other 15 items
    assert report.dataset["n_items"] == 16 and len([i for i in report.provenance["items"] if i["readable"]]) == 15
    # 64 px images are enlarged by the recipe (224 px)
    assert by["upscale"].count == 15


def test_one_class_png_the_other_jpeg_is_a_format_shortcut(tmp_path: Path, small_model) -> None:
    _textures(tmp_path, n=10, fmt={"checks": "PNG", "stripes": "JPEG"})
    report = _check(tmp_path, small_model)
    f = report.finding("shortcut")
    assert f is not None and f.severity == "high"
    assert "'format'" in f.summary and "checks: PNG 100%" in f.summary and "stripes: JPEG 100%" in f.summary
    assert report.recipe["shortcuts"]["fields"]["format"] == pytest.approx(1.0)
    # two classes of the same kind of picture, all PNG: no field carries the label (stripes and checkerboards
    # would not do: their PNG sizes differ, a real shortcut the check finds through the field 'bytes')
    rng = np.random.default_rng(4)
    for cls in ("a", "b"):
        for i in range(10):
            _save(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8), tmp_path / "same" / cls / f"{i}.png")
    same = _check(tmp_path / "same", small_model)
    assert same.finding("shortcut") is None and same.recipe["shortcuts"]["all_fields"] < 0.75


def test_exact_and_reencoded_resized_copies_across_train_test_are_leakage(tmp_path: Path, small_model) -> None:
    _textures(tmp_path / "train", n=8, seed=1)
    _textures(tmp_path / "test", n=4, seed=2)
    src = tmp_path / "train" / "checks" / "checks03.png"
    (tmp_path / "test" / "checks" / "exact.png").write_bytes(src.read_bytes())
    im = Image.open(tmp_path / "train" / "stripes" / "stripes05.png").convert("RGB")
    im.resize((45, 45), Image.Resampling.BICUBIC).save(tmp_path / "test" / "stripes" / "smaller.jpg", quality=70)

    report = _check(tmp_path, small_model)
    leak = report.finding("leakage")
    assert leak is not None and leak.count == 2
    got = {it["name"]: (it["copy_of"], it["how"]) for it in leak.items}
    assert got == {"exact.png": ("train/checks/checks03.png", "identical bytes"),
                   "smaller.jpg": ("train/stripes/stripes05.png", "near (perceptual hash)")}
    assert report.finding("duplicate") is None  # nothing repeats inside a split


def _tone(sr: int, seconds: float = 0.5, gain: float = 0.3, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (gain * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_mixed_sample_rates_and_a_clipped_sound_are_found(tmp_path: Path, small_model) -> None:
    for label, freq in (("low", 300.0), ("high", 900.0)):
        for k in range(4):
            sr = 8000 if k < 3 else 16000
            sf.write(tmp_path / f"{label}_s{k}_0.wav", _tone(sr, freq=freq + 10 * k), sr, subtype="PCM_16")
    sf.write(tmp_path / "low_s9_0.wav", np.clip(_tone(8000, gain=3.0), -1, 1), 8000, subtype="PCM_16")

    report = _check(tmp_path, small_model)
    rates = report.finding("sample_rate")
    assert rates is not None and rates.details["values"] == {"8000": 7, "16000": 2}
    assert sorted(it["name"] for it in rates.items) == ["high_s3_0.wav", "low_s3_0.wav"]
    clip = report.finding("clipping")
    assert clip is not None and [it["name"] for it in clip.items] == ["low_s9_0.wav"]
    analysis = report.finding("analysis_rate")  # the spectrogram preset analyses at 16 kHz: 8 kHz items upsampled
    assert analysis is not None and analysis.count == 7


def _phrase(rng: np.random.Generator, sr: int = 8000) -> np.ndarray:
    """A short random 'word': three tones with random pitches, each under its own envelope."""
    t = np.arange(int(sr * 0.6)) / sr
    out = np.zeros_like(t)
    for _ in range(3):
        f0, start = rng.uniform(200, 3000), rng.uniform(0, 0.4)
        out += np.sin(2 * np.pi * f0 * t) * np.exp(-((t - start - 0.1) ** 2) / 0.003)
    return (0.3 * out / np.abs(out).max()).astype(np.float32)


def test_a_resampled_copy_of_a_training_sound_in_the_test_set_is_leakage(tmp_path: Path, small_model) -> None:
    import librosa

    rng = np.random.default_rng(7)
    for split, n in (("train", 6), ("test", 3)):
        (tmp_path / split).mkdir()
        for label in ("yes", "no"):
            for k in range(n):
                sf.write(tmp_path / split / f"{label}_s{k}_0.wav", _phrase(rng), 8000, subtype="PCM_16")
    wave, _ = sf.read(tmp_path / "train" / "yes_s2_0.wav", dtype="float32")
    copy = librosa.resample(wave, orig_sr=8000, target_sr=16000) * 0.8 + rng.normal(0, 0.002, 2 * len(wave))
    sf.write(tmp_path / "test" / "yes_s9_0.wav", copy.astype(np.float32), 16000, subtype="PCM_16")

    report = _check(tmp_path, small_model)
    leak = report.finding("leakage")
    assert leak is not None and [(it["name"], it["copy_of"]) for it in leak.items] == [
        ("yes_s9_0.wav", "train/yes_s2_0.wav")]
    assert report.finding("duplicate") is None  # distinct phrases stay apart


def test_label_issues_on_features_come_from_cleanlab_datalab() -> None:
    from core.check.content import datalab_findings, out_of_fold_probs
    from core.evaluate.datasets import Dataset, Item

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (40, 16)), rng.normal(4, 1, (40, 16))]).astype(np.float32)
    y = [0] * 40 + [1] * 40
    for i in (3, 7, 11):  # three items of class a labelled b
        y[i] = 1
    items = [Item(f"/x/{i}.png", y[i]) for i in range(80)]
    ds = Dataset("t", ["a", "b"], items, "image", "test", "d", lambda it: None)
    facts = [{"split": "train", "path": f"{i}.png", "name": f"{i}.png", "label": ds.classes[y[i]]} for i in range(80)]
    probs, folds = out_of_fold_probs(ds, x)
    assert folds["kind"] == "stratified-kfold"
    found = {f.kind: f for f in datalab_findings(ds, facts, x, probs)}
    assert sorted(it["name"] for it in found["label"].items) == ["11.png", "3.png", "7.png"]
    assert {it["suggested"] for it in found["label"].items} == {"a"}


def test_label_probabilities_ignore_groups_so_cross_speaker_errors_are_not_label_noise() -> None:
    from core.check.content import datalab_findings, out_of_fold_probs
    from core.evaluate.datasets import Dataset, Item

    # 4 speakers, each in their own region of feature space; the folds must not leave a speaker out (a grouped split
    # asks how the probe does on a new speaker, and cleanlab would read its errors there as label noise)
    rng = np.random.default_rng(1)
    x, items = [], []
    for g in range(4):
        centre = rng.normal(0, 10, 16)
        for label in (0, 1):
            for _ in range(12):
                x.append(centre + (3.0 if label else -3.0) * np.eye(16)[0] + rng.normal(0, 0.5, 16))
                items.append(Item(f"/x/{len(items)}.wav", label, f"s{g}"))
    x = np.asarray(x, dtype=np.float32)
    ds = Dataset("t", ["a", "b"], items, "audio", "test", "d", lambda it: None)
    facts = [{"split": "train", "path": f"{i}", "name": f"{i}", "label": ds.classes[it.label]}
             for i, it in enumerate(items)]
    probs, folds = out_of_fold_probs(ds, x)
    assert ds.has_groups and folds["kind"] == "stratified-kfold" and folds["probe_accuracy"] > 0.95
    assert "label" not in {f.kind for f in datalab_findings(ds, facts, x, probs)}


@pytest.mark.slow
def test_relabelled_items_are_flagged_end_to_end_on_the_network_features(tmp_path: Path, small_model) -> None:
    _textures(tmp_path, n=16, seed=3)
    for name in ("checks00.png", "checks01.png"):  # two checkerboards filed under stripes
        (tmp_path / "checks" / name).rename(tmp_path / "stripes" / name)
    report = _check(tmp_path, small_model, features=True, cache_dir=tmp_path.parent / "cache")
    label = report.finding("label")
    assert label is not None
    assert {"checks00.png", "checks01.png"} <= {it["name"] for it in label.items}
    assert label.count <= 4
    assert "bn_shift" in report.recipe and report.recipe["folds"]["n_folds"] == 5
    # a repeat reads the file facts, the features and the BN-shift back from the cache beside them
    assert len(list((tmp_path.parent / "cache").glob("*.bnshift.json"))) == 1
    assert len(list((tmp_path.parent / "cache").glob("*.checkfiles.json"))) == 1
    again = _check(tmp_path, small_model, features=True, cache_dir=tmp_path.parent / "cache")
    assert again.recipe["bn_shift"] == report.recipe["bn_shift"]
    assert [it["name"] for it in again.finding("label").items] == [it["name"] for it in label.items]
    assert any("read from the cache" in n for n in again.notes) and again.seconds["features"] < 1.0


def test_fail_on_exit_codes_json_and_items_csv(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from core.__main__ import main

    data = tmp_path / "set"
    _textures(data, n=10, fmt={"checks": "PNG", "stripes": "JPEG"})
    out_json, out_csv = tmp_path / "r.json", tmp_path / "items.csv"
    args = ["check", str(data), "--metadata-only", "--quiet"]
    assert main([*args, "--fail-on", "label,shortcut", "--json", str(out_json), "--items-csv", str(out_csv)]) == 1
    assert "fail-on: found shortcut" in capsys.readouterr().err
    doc = json.loads(out_json.read_text())
    kinds = [f["kind"] for f in doc["findings"]]
    assert "shortcut" in kinds and all(k in KINDS for k in kinds)
    assert all({"kind", "severity", "count", "items"} <= set(f) for f in doc["findings"])
    assert out_csv.read_text().splitlines()[0] == "kind,severity,split,path,name,label,values"
    assert main([*args, "--fail-on", "leakage,label"]) == 0  # none of these present
    capsys.readouterr()
    for bad in (["check", str(tmp_path / "nowhere")], [*args, "--fail-on", "labels"]):
        assert main(bad) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ")


def test_checks_are_recorded_in_the_runs_database(tmp_path: Path) -> None:
    from core.__main__ import main
    from core.runs.store import RunStore, list_checks, load_check

    _textures(tmp_path / "set", n=6)
    assert main(["check", str(tmp_path / "set"), "--metadata-only", "--quiet"]) == 0
    store = RunStore()
    (summary,) = list_checks(store)
    assert summary.n_items == 12 and summary.origin == "cli" and summary.dataset_name == "set"
    assert load_check(store, summary.id)["check_id"] == summary.id
    assert set(summary.kinds) == {f["kind"] for f in load_check(store, summary.id)["findings"]}


def test_the_kinds_in_the_readme_are_the_kinds_of_the_code() -> None:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("### Dataset check", 1)[1].split("\n## ", 1)[0]
    listed = section.split("Finding kinds", 1)[1].split("Each has", 1)[0]
    import re

    assert re.findall(r"`([a-z_]+)`", listed.split(":", 1)[1]) == list(KINDS)


def test_a_version_2_runs_database_gains_the_checks_table(tmp_path: Path) -> None:
    import sqlite3

    from core.runs.store import MIGRATIONS, SCHEMA_VERSION, RunStore, list_checks

    path = tmp_path / "runs.sqlite"
    with sqlite3.connect(path) as con:
        for step in MIGRATIONS[:2]:
            for statement in step:
                con.execute(statement)
        con.execute("PRAGMA user_version = 2")
    con.close()
    assert SCHEMA_VERSION >= 3  # later versions add tables after checks
    assert list_checks(RunStore(path)) == []
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.close()


@pytest.mark.parametrize("quality", [30, 75, 95])
def test_jpeg_quality_is_estimated_from_the_header(tmp_path: Path, quality: int) -> None:
    from core.check.files import image_header

    path = _save(_texture("checks", np.random.default_rng(0)), tmp_path / "q.jpg", "JPEG", quality=quality)
    assert abs(image_header(path)["jpeg_quality"] - quality) <= 1


def test_a_stopped_check_raises_stopped_and_records_nothing(tmp_path: Path, small_model) -> None:
    from core.provenance import Stopped
    from core.runs.store import RunStore, list_checks

    _textures(tmp_path / "set", n=4)
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 3  # after three files

    with pytest.raises(Stopped, match="after reading 3 of 8 files"):
        _check(tmp_path / "set", small_model, should_stop=stop)
    assert list_checks(RunStore()) == []
