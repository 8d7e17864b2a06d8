"""Sweep feature extraction: the same bytes whatever the layout and batch size, the thread budget, the device-side
path, the measured batch size, the lazy display spectrogram, stopping and failures in streams."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import InvalidDataset
from core.evaluate import features
from core.evaluate.datasets import scan_folder
from core.evaluate.features import FeatureCache, StageTimes, extract, forward_batch
from core.evaluate.tuning import Layout, choose_batch, plan_layout, recorded, tuning_path
from core.preprocess.presets import get_preset
from core.preprocess.variant import Resize, Variant
from core.provenance import Stopped

LAYOUTS = [
    Layout(8, streams=1),                      # one stream in the caller's thread
    Layout(3, streams=2),                      # two streams, a batch that does not divide the items
    Layout(1, streams=2),                      # one item per forward
    Layout(32, streams=2),                     # a batch larger than the CPU chunk (split into chunks of 8)
    Layout(5, decoders=1, device_prep=True),   # decode thread + forward stream, colormap/resize/normalize "on device"
    Layout(10, decoders=2),                    # two decode threads feeding one forward stream
]


def _extract_all(ds, variants, model, tmp_path: Path) -> dict:
    out = {}
    for i, lay in enumerate([None, *LAYOUTS]):  # None: the default layout with batch_size="auto"
        got = extract(ds, variants, model, FeatureCache(tmp_path / f"c{i}"), layout=lay)
        out[lay] = {k: (np.array(f.pooled), np.array(f.logits)) for k, f in got.items()}
    return out


def _assert_identical(results: dict) -> None:
    ref = results[None]
    for lay, got in results.items():
        assert got.keys() == ref.keys()
        for k in ref:
            assert got[k][0].tobytes() == ref[k][0].tobytes(), f"pooled features differ in {lay}"
            assert got[k][1].tobytes() == ref[k][1].tobytes(), f"logits differ in {lay}"


@pytest.mark.slow
def test_photo_features_are_byte_identical_across_layouts_and_batch_sizes(shared_data, model, tmp_path: Path) -> None:
    ds = scan_folder(shared_data("hymenoptera", "train"))
    ds = ds.subset(np.linspace(0, len(ds) - 1, 11).round().astype(int).tolist())
    variants = [Variant(name="viridis", channels="colormap", colormap="viridis"), Variant(name="rgb"),
                Variant(name="zero-pad", channels="zero-pad", resize=Resize(size=160, fit="letterbox"))]
    results = _extract_all(ds, variants, model, tmp_path)
    _assert_identical(results)
    assert next(iter(results[None].values()))[0].shape == (11, model.feature_dim)


@pytest.mark.slow
def test_sound_features_are_byte_identical_across_layouts_and_batch_sizes(shared_data, model, tmp_path: Path) -> None:
    ds = scan_folder(shared_data("fsdd"))
    ds = ds.subset(np.linspace(0, len(ds) - 1, 9).round().astype(int).tolist())
    variants = [v for v in get_preset("spectrogram") if v.name in ("gray-conv-sum", "viridis")]
    _assert_identical(_extract_all(ds, variants, model, tmp_path))


def test_forward_batch_gives_each_item_the_same_numbers_in_any_batch_and_thread(model) -> None:
    x = torch.randn(11, 3, model.input_size, model.input_size, generator=torch.Generator().manual_seed(3))
    with model.lock:
        ref_p, ref_l = forward_batch(model, x)
        for b in (1, 3, 5):
            p = np.concatenate([forward_batch(model, x[i : i + b])[0] for i in range(0, 11, b)])
            lg = np.concatenate([forward_batch(model, x[i : i + b])[1] for i in range(0, 11, b)])
            assert p.tobytes() == ref_p.tobytes() and lg.tobytes() == ref_l.tobytes(), b
        out = []
        t = threading.Thread(target=lambda: (torch.set_num_threads(2), out.append(forward_batch(model, x[2:4]))))
        t.start()
        t.join()
    assert out[0][0].tobytes() == ref_p[2:4].tobytes() and out[0][1].tobytes() == ref_l[2:4].tobytes()
    # the numbers are the model's: pooled features and logits of its own forward, to float rounding
    p2, l2 = model.features_and_logits(x[:4])
    np.testing.assert_allclose(ref_p[:4], p2.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ref_l[:4], l2.numpy(), rtol=1e-4, atol=1e-4)


def test_device_path_on_the_cpu_gives_the_pipeline_bytes(chelsea_signal, camera_signal, shared_data) -> None:
    from core.io import load_input
    from core.preprocess.device import host_images, on_device, prepare_on_device, to_device
    from core.preprocess.pipeline import prepare_grid

    sound = load_input(shared_data("fsdd", "3_jackson_0.wav"))
    cases = [([chelsea_signal, camera_signal],
              Variant(name=c, channels=c, colormap="magma" if c == "colormap" else None, normalize=n,
                      resize=Resize(size=96, method=m, fit=f)))
             for c, n, m, f in [("rgb", "model", "bicubic", "shorter-side+center-crop"),
                                ("replicate", "imagenet", "bilinear", "stretch"),
                                ("conv-sum", "imagenet", "area", "letterbox"),
                                ("zero-pad", "model", "bilinear", "stretch"),
                                ("native", "model", "bicubic", "shorter-side+center-crop"),
                                ("colormap", "none", "bicubic", "shorter-side+center-crop")]]
    cases += [([sound, sound], v) for v in get_preset("spectrogram")]
    mean, std = (0.45, 0.5, 0.55), (0.2, 0.25, 0.3)
    for signals, v in cases:
        assert on_device(v)
        want = torch.stack([p.tensor for p in prepare_grid(signals, [v], mean, std)[0]])
        got = prepare_on_device(to_device(host_images(signals, v), torch.device("cpu")), v, mean, std)
        assert got.shape == want.shape and torch.equal(got, want), v.name
    assert not on_device(Variant(resize=Resize(backend="pil"))) and not on_device(
        Variant.from_dict({"degrade": [{"kind": "jpeg", "quality": 50}]}))


def test_thread_budget_never_exceeds_the_cores() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    for cores in (1, 2, 3, 16, 64):
        lay = plan_layout(cpu, 4, 10_000, cores=cores)
        assert (lay.streams, lay.decoders, lay.device_prep) == (cores, 0, False)  # one torch thread per stream
        g = plan_layout(gpu, 64, 10_000, cores=cores)
        assert g.streams == 1 and 1 + g.decoders <= max(2, cores) and g.device_prep and g.decoders <= 8
    assert plan_layout(cpu, 8, 20, cores=16).streams == 3  # never more streams than batches
    assert "2 stream(s) x (1 torch thread)" in plan_layout(cpu, 4, 100, cores=2).describe(cpu)


def test_extract_restores_torch_threads_and_reports_its_stages(shared_data, model, tmp_path: Path) -> None:
    ds = scan_folder(shared_data("hymenoptera", "train")).subset(range(6))
    before = torch.get_num_threads()
    times = StageTimes()
    extract(ds, [Variant()], model, FeatureCache(tmp_path), layout=Layout(2, streams=2), profile=times)
    assert torch.get_num_threads() == before
    assert times.items == 6 and times.variants == 1 and "2 stream(s)" in times.layout
    assert all(times.wall[s] > 0 for s in features.STAGES) and times.cpu["forward"] > 0
    assert "decode" in times.summary() and "ms/item" in times.summary()


def test_a_bad_item_in_a_stream_is_one_sentence_and_keeps_nothing(tmp_path: Path, model, shared_data) -> None:
    import shutil

    root = tmp_path / "data"
    for c in ("ants", "bees"):
        src = shared_data("hymenoptera", "train", c)
        (root / c).mkdir(parents=True)
        for p in sorted(src.iterdir())[:4]:
            shutil.copy(p, root / c / p.name)
    (root / "bees" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    ds = scan_folder(root)
    cache = tmp_path / "cache"
    with pytest.raises(InvalidDataset, match="broken.jpg in .* cannot be used"):
        extract(ds, [Variant()], model, FeatureCache(cache), layout=Layout(2, streams=2))
    assert not cache.exists() or not [p for p in cache.iterdir() if p.is_file()]
    assert torch.get_num_threads() >= 1


def test_stop_with_streams_waits_for_running_batches_and_keeps_nothing(shared_data, model, tmp_path: Path) -> None:
    ds = scan_folder(shared_data("fsdd")).subset(range(12))
    checks = [0]

    def stop() -> bool:
        checks[0] += 1
        return checks[0] > 2

    for lay in (Layout(2, streams=1), Layout(2, streams=2), Layout(2, decoders=1)):
        checks[0] = 0
        with pytest.raises(Stopped, match=r"Stopped after \d+ of 12 items"):
            extract(ds, [Variant()], model, FeatureCache(tmp_path), layout=lay, should_stop=stop)
        assert not [p for p in tmp_path.glob("*") if p.is_file()]


def test_streams_hand_the_model_lock_back_between_rounds(shared_data, model, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """An inspection waiting for the model gets it during a long pass, not only at the end."""
    monkeypatch.setattr(features, "ROUND_SECONDS", 0.0)  # a round = one batch per stream
    ds = scan_folder(shared_data("fsdd")).subset(range(16))
    progress: list[float] = []
    got_lock_at: list[float] = []
    started = threading.Event()

    def waiter() -> None:
        started.wait()
        with model.lock:
            got_lock_at.append(progress[-1])

    t = threading.Thread(target=waiter)
    t.start()

    def report(f: float, _: str) -> None:
        progress.append(f)
        started.set()
        time.sleep(0.01)

    extract(ds, [Variant()], model, FeatureCache(tmp_path), layout=Layout(1, streams=2), progress=report)
    t.join()
    assert got_lock_at and got_lock_at[0] < 1.0


@pytest.mark.slow
def test_batch_auto_is_measured_once_per_model_and_machine_and_recorded(model, monkeypatch: pytest.MonkeyPatch
                                                                        ) -> None:
    tuning_path().unlink()  # conftest records a batch size for every test; this test measures it
    assert recorded(model) is None
    first = choose_batch(model)
    data = json.loads(tuning_path().read_text(encoding="utf-8"))
    (key, entry), = data["entries"].items()
    assert key.endswith(f"| {model.name}") and "cores" in key and entry["batch"] == first["batch"]
    assert set(entry["ms_per_item"]) == {"1", "2", "4", "8"} and all(v > 0 for v in entry["ms_per_item"].values())
    best = min(entry["ms_per_item"].values())
    assert entry["ms_per_item"][str(first["batch"])] <= best * 1.03 + 1e-9  # the fastest, or within 3% of it
    assert all(v > best * 1.03 for b, v in entry["ms_per_item"].items() if int(b) > first["batch"])  # the largest

    from core.evaluate import tuning

    monkeypatch.setattr(tuning, "probe", lambda *a, **k: pytest.fail("measured again"))
    assert choose_batch(model) == first  # read back, not measured again
    assert features.resolve_batch("auto", model) == first["batch"]


def test_identical_inputs_go_through_the_network_once(shared_data, model, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_evaluate_sweep import _count_forwards

    ds = scan_folder(shared_data("fsdd")).subset(range(6))
    spec = get_preset("spectrogram")
    same = [v for v in spec if v.name in ("gray-replicate", "gray-conv-sum")]  # equal inputs under 0.5/0.5 stats
    alone = {v.name: extract(ds, [v], model, FeatureCache(tmp_path / v.name)) for v in same}
    calls = _count_forwards(model, monkeypatch)
    both = extract(ds, same, model, FeatureCache(tmp_path / "both"), layout=Layout(4, streams=2))
    assert calls[0] == len(ds)  # not 2 x
    for v in same:
        got, want = both[v.spec_key()], alone[v.name][v.spec_key()]
        assert got.pooled.tobytes() == want.pooled.tobytes() and got.logits.tobytes() == want.logits.tobytes()


def test_batch_values_are_checked(model) -> None:
    for bad in (0, -3, 2.5, "eight", True):
        with pytest.raises(InvalidDataset, match="batch size"):
            features.resolve_batch(bad, model)
    assert features.resolve_batch(5, model) == 5


def test_cli_batch_flag_and_tune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from core.__main__ import main

    assert main(["tune"]) == 0
    out = capsys.readouterr().out
    assert "batch 8 (recorded test" in out and "stream(s) x (1 torch thread)" in out
    with pytest.raises(SystemExit) as e:
        main(["sweep", "--builtin", "digits", "--batch", "zero"])
    assert e.value.code == 2 and "expected a whole number or 'auto', got 'zero'" in capsys.readouterr().err
    js = tmp_path / "r.json"
    assert main(["sweep", "--builtin", "digits", "--max-per-class", "3", "--cv", "none", "--quiet", "--batch", "4",
                 "--cache-dir", str(tmp_path / "c"), "--json", str(js), "--no-record"]) == 0
    ext = json.loads(js.read_text(encoding="utf-8"))["provenance"]["extraction"]
    assert ext["batch"] == 4 and ext["batch_choice"] == "given" and "stream(s)" in ext["layout"]
    assert main(["sweep", "--builtin", "digits", "--max-per-class", "3", "--cv", "none", "--quiet",
                 "--batch-size", "auto", "--cache-dir", str(tmp_path / "c2"), "--json", str(js), "--no-record"]) == 0
    ext = json.loads(js.read_text(encoding="utf-8"))["provenance"]["extraction"]
    assert ext["batch"] == 8 and ext["batch_choice"] == "measured (auto)"


def test_display_spectrogram_is_computed_only_when_asked(shared_data, monkeypatch: pytest.MonkeyPatch) -> None:
    import core.io.audio as audio
    import core.preprocess.spectrogram as spectrogram
    from core.io import load_input
    from core.preprocess.variant import Spectrogram

    calls = [0]
    real = spectrogram.compute_spectrogram

    def counting(*a, **k):
        calls[0] += 1
        return real(*a, **k)

    monkeypatch.setattr(audio, "compute_spectrogram", counting)  # the name the decoder calls
    sig = load_input(shared_data("fsdd", "3_jackson_0.wav"))
    assert calls[0] == 0 and sig.audio is not None
    a = sig.array
    assert calls[0] == 1 and sig.array is a
    assert np.array_equal(a, real(sig.audio[0], sig.audio[1], Spectrogram()))
    with pytest.raises(AttributeError, match="immutable"):
        sig.provenance = {}
