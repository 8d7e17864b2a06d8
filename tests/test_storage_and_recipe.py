"""Issue 9: storage (float / png8 / png16 / jpeg), the OpenCV backend, crop_pct, "resize": "model", the
sound channel strategies multi-window and deltas, and sweeps over variants of different input sizes."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from skimage import data
from torchvision.transforms import InterpolationMode

from core.errors import InvalidVariant, UnsupportedInput
from core.io import load_input
from core.models import MODELS
from core.preprocess.pipeline import prepare, prepare_grid, resize_batch
from core.preprocess.recipe import model_resize, recipe_differences, recipe_line, resolve
from core.preprocess.soundchannels import deltas_image, multi_window_image, multi_window_specs
from core.preprocess.spectrogram import compute_spectrogram
from core.preprocess.variant import (
    BACKEND_CAPS,
    OPENCV_FLAGS,
    Deltas,
    MultiWindow,
    Resize,
    Spectrogram,
    Variant,
    VariantSet,
)
from core.signal import Signal

NONE = ((0.0,) * 3, (1.0,) * 3)  # normalization that leaves [0, 1] values as they are


def _run(signal: Signal, *variants: Variant) -> list[np.ndarray]:
    return [p.display for p in prepare(signal, list(variants), *NONE)]


def _smooth_float_image(h: int = 180, w: int = 240) -> np.ndarray:
    """A color image whose values are nowhere on the 8-bit grid (smooth, so resizing is well behaved)."""
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    img = np.stack([0.5 + 0.4 * np.sin(xx / 17 + yy / 29), 0.5 + 0.4 * np.cos(yy / 13),
                    (xx + yy) / (h + w) * 0.9 + 0.05], axis=2)
    return img.astype(np.float32)


def _checkerboard(n=500, square=2):
    yy, xx = np.mgrid[:n, :n]
    return ((((yy // square) + (xx // square)) % 2) * 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------- storage


def test_old_variant_json_keeps_its_meaning_png8_and_crop_pct_1():
    old = {"name": "x", "resize": {"size": 96, "method": "bicubic", "antialias": True, "backend": "torch",
                                   "fit": "shorter-side+center-crop"}, "channels": "rgb", "normalize": "none"}
    v = Variant.from_dict(old)
    assert v.storage == "png8" and v.resize.crop_pct == 1.0 and v.resize.scale_size == 96
    img = _smooth_float_image()
    (got,) = _run(Signal(img), v)
    # the 8-bit path, written out by hand: round to uint8, torchvision bicubic+antialias on uint8, center crop
    x8 = torch.from_numpy(np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)).permute(2, 0, 1)[None]
    y = TF.resize(x8, [96, 128], interpolation=InterpolationMode.BICUBIC, antialias=True)[0, :, :, 16:112]
    assert np.array_equal(got, y.permute(1, 2, 0).numpy().astype(np.float32) / 255)


@pytest.mark.parametrize("backend, method, antialias", [("torch", "bilinear", True), ("pil", "bilinear", True),
                                                        ("opencv", "area", True)])
def test_float_path_is_the_float_computation_and_within_a_quantization_step_of_png8(backend, method, antialias):
    img = _smooth_float_image()
    r = Resize(size=100, method=method, antialias=antialias, backend=backend, fit="stretch")
    f, p8 = _run(Signal(img), Variant(name="f", resize=r, storage="float"), Variant(name="8", resize=r))
    # exactly the float computation of the library itself, no rounding anywhere
    if backend == "torch":
        ref = TF.resize(torch.from_numpy(img).permute(2, 0, 1)[None], [100, 100],
                        interpolation=InterpolationMode.BILINEAR, antialias=True)[0].permute(1, 2, 0).numpy()
    elif backend == "pil":
        ref = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(img[..., c]), mode="F")
                                   .resize((100, 100), Image.Resampling.BILINEAR)) for c in range(3)], axis=2)
    else:
        ref = cv2.resize(img, (100, 100), interpolation=cv2.INTER_AREA)
    assert f.dtype == np.float32 and np.allclose(f, ref, atol=1e-6, rtol=0)
    off_grid = np.abs(f * 255 - np.rint(f * 255))
    assert off_grid.max() > 0.4  # not quantized
    # png8 rounds at storage and after each of the resizer's two separable 8-bit passes: at most 1.5 steps
    # apart, about 0.3 step on average
    diff = np.abs(f - p8)
    assert diff.max() <= 1.5 / 255 and diff.mean() <= 0.35 / 255
    # without a resize, storage is the only difference: png8 is the float path rounded to 8 bits
    same = r.replace(size=img.shape[0], fit="shorter-side+center-crop")
    f0, p0 = _run(Signal(img[:, :img.shape[0]]), Variant(name="f", resize=same, storage="float"),
                  Variant(name="8", resize=same))
    assert np.array_equal(f0, img[:, :img.shape[0]]) and np.array_equal(p0, np.rint(f0 * 255) / 255)


@pytest.mark.parametrize("backend", ["torch", "pil", "opencv"])
def test_every_backend_and_method_resizes_float_without_rounding(backend):
    x = torch.from_numpy(_smooth_float_image(60, 80)).permute(2, 0, 1)[None].contiguous()
    for method, antialiases in BACKEND_CAPS[backend].items():
        r = Resize(size=32, method=method, antialias=antialiases[0], backend=backend, fit="stretch")
        y = resize_batch(x, r)
        assert y.dtype == torch.float32 and y.shape == (1, 3, 32, 32), (backend, method)
        if method not in ("nearest", "nearest-exact"):
            assert float((y * 255 - (y * 255).round()).abs().max()) > 0.1, (backend, method)


def _gradient_png16(tmp_path, h=300, w=300) -> Signal:
    yy, xx = np.mgrid[:h, :w]
    g = ((yy * w + xx) * (65535 / (h * w - 1))).astype(np.uint16)  # 90,000 distinct 16-bit levels
    path = tmp_path / "gradient16.png"
    Image.fromarray(g).save(path)
    assert Image.open(path).mode.startswith("I;16")
    return load_input(path)


def test_a_16_bit_gradient_keeps_more_than_256_levels_through_float_and_png16(tmp_path):
    signal = _gradient_png16(tmp_path)
    assert len(np.unique(signal.array)) > 60_000  # the decoder kept 16 bits
    r = Resize(size=224, method="bilinear", fit="stretch")
    outs = _run(signal, *(Variant(name=s, channels="replicate", storage=s, resize=r)
                          for s in ("float", "png16", "png8")))
    levels = {s: len(np.unique(o[..., 0])) for s, o in zip(("float", "png16", "png8"), outs, strict=True)}
    assert levels["float"] > 10_000 and levels["png16"] > 10_000 and levels["png8"] <= 256, levels
    assert np.abs(outs[0] - outs[1]).max() <= 1 / 65535 + 1e-6  # png16: float within a 16-bit step


def _edge_image() -> np.ndarray:
    e = np.zeros((64, 64, 3), np.float32)
    e[:, :33] = (1.0, 0.0, 0.0)  # red | blue, the edge at an odd column (inside a 2x2 chroma block)
    e[:, 33:] = (0.0, 0.0, 1.0)
    return e


def test_jpeg_95_444_is_close_to_png8_and_420_smears_color_edges():
    r = Resize(size=64, fit="stretch")
    jpeg = {"kind": "jpeg", "quality": 95}
    vs = [Variant(name="png8", resize=r), Variant(name="444", resize=r, storage={**jpeg, "subsampling": "4:4:4"}),
          Variant(name="420", resize=r, storage={**jpeg, "subsampling": "4:2:0"})]
    photo = _run(Signal(data.astronaut().astype(np.float32) / 255), *[v.replace(resize=r.replace(size=512))
                                                                       for v in vs])
    assert np.abs(photo[1] - photo[0]).mean() < 2 / 255  # q95 4:4:4: about one 8-bit step on average
    png8, s444, s420 = _run(Signal(_edge_image()), *vs)
    near = slice(30, 36)  # columns around the edge
    err444 = np.abs(s444 - png8)[:, near].max()
    err420 = np.abs(s420 - png8)[:, near].max()
    assert err444 < 4 / 255 and err420 > 0.3  # 4:2:0 bleeds red into blue and back
    assert np.abs(s420 - png8)[:, :24].max() < 4 / 255  # away from the edge both are faithful


def test_jpeg_storage_happens_at_the_source_resolution_before_resizing():
    img = data.astronaut()
    r = Resize(size=128, method="bilinear", fit="stretch")
    (got,) = _run(Signal(img.astype(np.float32) / 255), Variant(resize=r, storage={"kind": "jpeg", "quality": 30}))
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=30, subsampling="4:2:0")
    back = np.array(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    want = TF.resize(torch.from_numpy(back).permute(2, 0, 1)[None], [128, 128],
                     interpolation=InterpolationMode.BILINEAR, antialias=True)[0].permute(1, 2, 0).numpy()
    assert np.array_equal(got, want.astype(np.float32) / 255)
    gray = Signal(data.camera().astype(np.float32) / 255)  # one channel: a gray JPEG
    (g,) = _run(gray, Variant(resize=r, channels="replicate", storage={"kind": "jpeg", "quality": 30}))
    assert g.shape == (128, 128, 3) and np.array_equal(g[..., 0], g[..., 2])


def test_storage_validation_messages():
    with pytest.raises(InvalidVariant, match="storage must be float, png8, png16"):
        Variant.from_dict({"storage": "png9"})
    with pytest.raises(InvalidVariant, match=r"storage\.quality must be between 1 and 100"):
        Variant.from_dict({"storage": {"kind": "jpeg", "quality": 0}})
    with pytest.raises(InvalidVariant, match=r"storage\.subsampling must be one of"):
        Variant.from_dict({"storage": {"kind": "jpeg", "subsampling": "4:1:1"}})
    v = Variant.from_dict({"storage": {"kind": "jpeg", "quality": 30}})
    assert v.storage_kind == "jpeg" and Variant.from_dict(v.to_dict()) == v
    assert v.to_dict()["storage"] == {"kind": "jpeg", "quality": 30, "subsampling": "4:2:0"}


# ------------------------------------------------------------------------------------------- OpenCV


@pytest.mark.parametrize("method", sorted(OPENCV_FLAGS))
@pytest.mark.parametrize("side", [150, 700])  # downscale and upscale
def test_opencv_backend_equals_cv2_resize_byte_for_byte(method, side):
    img = data.astronaut()[:400, :500]
    aa = BACKEND_CAPS["opencv"][method][0]
    v = Variant(resize=Resize(size=side, method=method, antialias=aa, backend="opencv", fit="stretch"))
    (got,) = _run(Signal(img.astype(np.float32) / 255), v)
    want = cv2.resize(img, (side, side), interpolation=getattr(cv2, OPENCV_FLAGS[method]))
    assert np.array_equal(np.rint(got * 255).astype(np.uint8), want)
    gray = data.camera()[:300, :350]  # one channel goes to cv2.resize as HxW
    (g,) = _run(Signal(gray.astype(np.float32) / 255), v.replace(channels="replicate"))
    want_g = cv2.resize(gray, (side, side), interpolation=getattr(cv2, OPENCV_FLAGS[method]))
    assert np.array_equal(np.rint(g[..., 0] * 255).astype(np.uint8), want_g)


def test_opencv_linear_downscale_aliases_a_checkerboard_more_than_torchvision_antialias():
    # 1-pixel squares shrunk 500 -> 224 lie far above the output Nyquist frequency: the ideal result is
    # flat gray, so the remaining contrast is aliasing.
    x = torch.from_numpy(_checkerboard(square=1))[None, None]
    cv = resize_batch(x, Resize(size=224, method="bilinear", antialias=False, backend="opencv", fit="stretch"))
    tv = resize_batch(x, Resize(size=224, method="bilinear", antialias=True, backend="torch", fit="stretch"))
    area = resize_batch(x, Resize(size=224, method="area", antialias=True, backend="opencv", fit="stretch"))
    cv_std, tv_std, area_std = (float(t.float().std()) for t in (cv, tv, area))
    assert cv_std > 20 and cv_std > 20 * tv_std and cv_std > 10 * area_std, (cv_std, tv_std, area_std)


def test_opencv_refuses_what_it_cannot_honour_and_names_the_alternative():
    with pytest.raises(InvalidVariant, match=r"no antialias switch.*INTER_CUBIC.*'area'.*torch or pil"):
        Resize(method="bicubic", antialias=True, backend="opencv")
    with pytest.raises(InvalidVariant, match="INTER_AREA always averages"):
        Resize(method="area", antialias=False, backend="opencv")
    with pytest.raises(InvalidVariant, match="opencv backend has no 'hamming'"):
        Resize(method="hamming", antialias=True, backend="opencv")


# ------------------------------------------------------------------------------------------- crop_pct


def test_crop_pct_0875_at_224_resizes_the_shorter_side_to_256_then_crops():
    img = data.astronaut()[:300, :400]  # H 300, W 400
    r = Resize(size=224, method="bilinear", crop_pct=0.875)
    assert r.scale_size == 256
    (got,) = _run(Signal(img.astype(np.float32) / 255), Variant(resize=r))
    mid = TF.resize(torch.from_numpy(img).permute(2, 0, 1)[None], [256, 341],
                    interpolation=InterpolationMode.BILINEAR, antialias=True)[0]
    want = mid[:, 16:240, 58:282].permute(1, 2, 0).numpy().astype(np.float32) / 255
    assert np.array_equal(got, want)
    # stretch with a crop_pct: squash to 256x256, then crop the center
    (st,) = _run(Signal(img.astype(np.float32) / 255), Variant(resize=r.replace(fit="stretch")))
    sq = TF.resize(torch.from_numpy(img).permute(2, 0, 1)[None], [256, 256],
                   interpolation=InterpolationMode.BILINEAR, antialias=True)[0]
    assert np.array_equal(st, sq[:, 16:240, 16:240].permute(1, 2, 0).numpy().astype(np.float32) / 255)
    assert Resize(size=240, crop_pct=0.882).scale_size == 272 and Resize(size=260, crop_pct=0.89).scale_size == 292
    with pytest.raises(InvalidVariant, match="letterbox"):
        Resize(crop_pct=0.9, fit="letterbox")


def test_the_model_recipe_with_pillow_reproduces_timms_eval_transform_exactly():
    import timm
    from timm.data import create_transform, resolve_data_config

    cfg = resolve_data_config({}, model=timm.create_model("tf_efficientnet_lite0", pretrained=False))
    tf = create_transform(**cfg)
    img = data.astronaut()[:300, :400]
    want = tf(Image.fromarray(img)).numpy()
    v = Variant(resize=model_resize(MODELS["efficientnet_lite0"]).replace(backend="pil"))
    (p,) = prepare(Signal(img.astype(np.float32) / 255), [v], MODELS["efficientnet_lite0"].data_config.mean,
                   MODELS["efficientnet_lite0"].data_config.std)
    assert np.allclose(p.tensor.numpy(), want, atol=1e-5)


# ------------------------------------------------------------------------------------------- "resize": "model"


@pytest.mark.parametrize("name", list(MODELS))
def test_resize_model_expands_to_the_pretrained_config(name):
    spec = MODELS[name]
    dc = spec.data_config
    vs = VariantSet.of([Variant(name="recipe", resize="model"), Variant(name="own", resize=Resize(size=96))])
    out = resolve(vs, spec)
    assert isinstance(out, VariantSet) and out[1] == vs[1]
    r = out[0].resize
    assert (r.size, r.method, r.crop_pct, r.fit, r.antialias) == (
        dc.input_size, dc.interpolation, dc.crop_pct, "shorter-side+center-crop", True)
    if spec.family == "timm":  # tied to timm's own pretrained config, not to a copy of it
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(spec.builder)
        assert (r.size, r.method, r.crop_pct) == (cfg.input_size[-1], cfg.interpolation, cfg.crop_pct)
    assert recipe_differences(vs[0], spec) == [] and recipe_line(vs[0], spec).startswith("follows")


def test_recipe_differences_name_what_departs():
    lite0 = MODELS["efficientnet_lite0"]
    assert recipe_differences(Variant(), lite0) == ["crop"]  # bicubic 224, but crop_pct 1.0
    v = Variant(resize=Resize(method="bilinear", antialias=False, backend="opencv", fit="stretch", size=256),
                normalize="imagenet")
    assert recipe_differences(v, lite0) == ["size", "interpolation", "antialias", "crop", "normalization"]
    assert recipe_line(v, lite0) == ("differs from the model's training recipe in: size, interpolation, antialias, "
                                     "crop, normalization")
    assert "normalization" not in recipe_differences(Variant(resize="model", normalize="imagenet"), MODELS["resnet18"])


def test_unresolved_model_resize_is_refused_by_the_pipeline():
    with pytest.raises(InvalidVariant, match="resolve it against a model"):
        prepare_grid([Signal(np.zeros((8, 8), np.float32))], [Variant(resize="model")], *NONE)
    with pytest.raises(InvalidVariant, match='or "model"'):
        Variant.from_dict({"resize": "timm"})


def test_inspect_resolves_model_and_records_it_expanded(model, chelsea_signal):
    from core.inspect.engine import inspect

    explicit = Variant(name="explicit", resize=model_resize(model))
    res = inspect(chelsea_signal, [Variant(name="recipe", resize="model"), explicit], model)
    spec = res.to_dict()["variants"][0]["spec"]
    assert spec["resize"] == model_resize(model).to_dict() and spec["resize"]["crop_pct"] == 0.875
    json.dumps(res.to_dict())
    assert res.variants[1].layers[-1].similarity == pytest.approx(1.0, abs=1e-6)
    assert np.array_equal(res.variants[0].display, res.variants[1].display)


# ------------------------------------------------------------------------------------------- sound channels


def _tone_signal(seconds: float = 1.0, sr: int = 8000) -> Signal:
    t = np.arange(int(seconds * sr)) / sr
    chirp = np.sin(2 * np.pi * (300 + 1500 * t) * t) * np.minimum(1, 4 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    wave = (0.3 * chirp).astype(np.float32)
    spec = compute_spectrogram(wave, sr, Spectrogram())
    return Signal(spec, {"name": "chirp"}, audio=(wave, sr))


def test_multi_window_channels_have_the_documented_window_and_hop_lengths():
    specs = multi_window_specs(Spectrogram(sample_rate=16000), MultiWindow())
    assert [(s.n_fft, s.hop) for s in specs] == [(400, 160), (800, 400), (1600, 800)]  # 25/50/100 ms, 10/25/50 ms
    specs8 = multi_window_specs(Spectrogram(sample_rate=8000, fmax=4000.0, n_mels=64), MultiWindow())
    assert [(s.n_fft, s.hop) for s in specs8] == [(200, 80), (400, 200), (800, 400)]
    sig = _tone_signal()
    wave, sr = sig.audio
    spec = Spectrogram(n_mels=64, fmax=8000.0)
    img = multi_window_image(wave, sr, spec, MultiWindow())
    chans = [compute_spectrogram(wave, sr, s) for s in multi_window_specs(spec, MultiWindow())]
    assert img.shape == (64, chans[0].shape[1], 3)
    assert np.array_equal(img[..., 0], chans[0])
    # channel 3 (hop 800 samples) is aligned on channel 1's frames (hop 160): its frame k sits at column 5k
    k = np.arange(chans[2].shape[1])
    k = k[5 * k < img.shape[1]]
    assert np.allclose(img[:, 5 * k, 2], chans[2][:, k], atol=1e-6)
    assert np.allclose(img[:, 5 * k[:-1] + 2, 2], 0.6 * chans[2][:, k[:-1]] + 0.4 * chans[2][:, k[:-1] + 1], atol=1e-6)
    with pytest.raises(InvalidVariant, match="multi-window channel 1"):
        multi_window_specs(Spectrogram(sample_rate=4000), MultiWindow(windows_ms=(5.0, 50.0, 100.0),
                                                                      hops_ms=(5.0, 25.0, 50.0)))


def test_deltas_are_the_spectrogram_its_delta_and_delta_delta():
    import librosa

    sig = _tone_signal()
    img = deltas_image(sig.array, Deltas())
    assert np.array_equal(img[..., 0], sig.array)
    d1 = librosa.feature.delta(sig.array, width=9, order=1)
    assert np.allclose(img[..., 1], 0.5 + 0.5 * d1 / np.abs(d1).max(), atol=1e-6)
    fixed = deltas_image(sig.array, Deltas(width=5, delta_range=0.05))
    d2 = librosa.feature.delta(sig.array, width=5, order=2)
    assert np.allclose(fixed[..., 2], np.clip(0.5 + 10 * d2, 0, 1), atol=1e-6)
    with pytest.raises(InvalidVariant, match="needs at least 25 frames"):
        deltas_image(sig.array[:, :10], Deltas(width=25))


def test_sound_strategies_through_the_pipeline_and_refused_for_images():
    sig = _tone_signal()
    vs = [Variant(name=c, channels=c, storage="float", resize=Resize(size=64, fit="stretch"))
          for c in ("multi-window", "deltas")]
    for p in prepare(sig, vs, *NONE):
        assert p.tensor.shape == (3, 64, 64)
        assert float((p.tensor[0] - p.tensor[2]).abs().mean()) > 0.01  # three different channels
    with pytest.raises(UnsupportedInput, match="from a sound"):
        prepare(Signal(np.zeros((32, 32), np.float32)), vs[:1], *NONE)
    with pytest.raises(InvalidVariant, match="kind mel, pcen or mfcc"):
        Variant(channels="multi-window", spectrogram=Spectrogram(kind="stft"))


# ------------------------------------------------------------------------------------------- sweeps across sizes


@pytest.mark.slow
def test_a_sweep_scores_variants_of_different_input_sizes(model, tmp_path):
    from core.evaluate.datasets import builtin_digits
    from core.evaluate.sweep import evaluate_sweep

    digits = builtin_digits().sample_per_class(4, seed=0)  # 40 items of 8x8, up-sampled
    vs = [Variant(name="recipe", resize="model"),
          Variant(name="128 opencv nearest", resize=Resize(size=128, method="nearest", antialias=False,
                                                          backend="opencv", crop_pct=0.875)),
          Variant(name="288", resize=Resize(size=288, crop_pct=0.875))]
    res = evaluate_sweep(digits, vs, model, cache_dir=tmp_path, seed=0)
    n_test = res.provenance["split"]["n_test"]
    assert n_test > 0 and [v.n_test for v in res.variants] == [n_test] * 3
    assert res.variants[0].spec["resize"]["size"] == 224 and res.variants[0].spec["resize"]["crop_pct"] == 0.875
    assert [v.spec["resize"]["size"] for v in res.variants[1:]] == [128, 288]
    assert len(list(tmp_path.glob("*.pooled.npy"))) == 3


# ------------------------------------------------------------------------------------------- presets


def test_the_seed_question_presets_are_data_with_a_question_and_a_bundled_sample():
    from components.session import sample_names
    from core.preprocess.presets import get_preset, preset_question, preset_questions

    for q in preset_questions():
        assert q.sample in sample_names() and q.question and q.look_for, q
    for name in ("storage", "resize-libraries", "resolution"):
        assert preset_question(name) is not None
    storage = get_preset("storage")
    assert [v.storage_kind for v in storage] == ["float", "png8", "png8", "png8", "jpeg", "jpeg", "float", "float"]
    assert [v.channels for v in storage][-2:] == ["multi-window", "deltas"]
    assert [(v.storage.quality, v.storage.subsampling) for v in storage if v.storage_kind == "jpeg"] == [
        (75, "4:2:0"), (30, "4:2:0")]
    libs = get_preset("resize-libraries")
    assert libs[0].resize == "model" and {v.resize.backend for v in libs[1:]} == {"torch", "pil", "opencv"}
    res = resolve(get_preset("resolution"), MODELS["efficientnet_lite0"])
    assert sorted(v.resize.size for v in res) == [128, 160, 192, 224, 256, 288, 320]
    assert {v.resize.crop_pct for v in res} == {0.875} and {v.resize.method for v in res} == {"bicubic"}
