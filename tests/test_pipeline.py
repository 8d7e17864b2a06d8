"""Preprocessing pipeline: channel strategies, conv-sum equivalence, interpolation, degradations."""

import copy
import itertools

import numpy as np
import pytest
import torch
from timm.models import adapt_input_conv

from core.models.specs import IMAGENET_MEAN, IMAGENET_STD
from core.preprocess.color import colormap_lut
from core.preprocess.pipeline import prepare, prepare_many, resize_batch
from core.preprocess.variant import Blur, Jpeg, Median, Noise, Resize, Variant
from core.signal import Signal


def _checkerboard(n=500, square=2):
    yy, xx = np.mgrid[:n, :n]
    return torch.from_numpy((((yy // square) + (xx // square)) % 2 * 255).astype(np.uint8))[None, None]


def _resize(x, method, antialias=True, backend="torch"):
    r = Resize(size=224, method=method, antialias=antialias, backend=backend, fit="stretch")
    return resize_batch(x, r)[0, 0].float() / 255


DISTINCT_METHODS = [
    ("nearest", False, "torch"), ("nearest-exact", False, "torch"), ("bilinear", True, "torch"),
    ("bicubic", True, "torch"), ("area", True, "torch"), ("lanczos", True, "pil"), ("hamming", True, "pil"),
    ("area", True, "pil"), ("bilinear", False, "torch"), ("bicubic", False, "torch"),
]


def test_each_interpolation_method_differs_on_a_fine_checkerboard():
    x = _checkerboard()
    outs = {m: _resize(x, *m) for m in DISTINCT_METHODS}
    for a, b in itertools.combinations(outs, 2):
        diff = float((outs[a] - outs[b]).abs().mean())
        assert diff > 0.004, f"{a} and {b} give the same image (mean |diff| {diff:.5f})"


def test_torch_and_pil_bicubic_with_antialias_agree():
    x = _checkerboard()
    diff = (_resize(x, "bicubic", True, "torch") - _resize(x, "bicubic", True, "pil")).abs()
    assert float(diff.mean()) < 1e-3


@pytest.mark.parametrize("method", ["bilinear", "bicubic"])
def test_antialias_off_aliases_more(method):
    # 2-pixel squares resized 500 -> 224 lie above the output Nyquist frequency: the ideal result is
    # uniform gray, so any remaining contrast is aliasing.
    x = _checkerboard()
    on, off = _resize(x, method, True), _resize(x, method, False)
    assert float(off.std()) > 4 * float(on.std())


@pytest.mark.parametrize("fit, expect_black_rows", [("letterbox", True), ("shorter-side+center-crop", False)])
def test_fit_geometry(fit, expect_black_rows):
    img = np.ones((100, 200, 3), np.float32)  # wide white image
    (p,) = prepare(Signal(img), [Variant(resize=Resize(size=64, fit=fit), normalize="none")], (0,) * 3, (1,) * 3)
    assert p.tensor.shape == (3, 64, 64)
    rows = p.display.mean(axis=(1, 2))
    if expect_black_rows:
        assert rows[:16].max() == 0 and rows[-16:].max() == 0 and rows[20:44].min() == 1
    else:
        assert rows.min() == 1


def test_gray_rules_and_colormap_lookup(camera_signal):
    rgb = np.zeros((32, 32, 3), np.float32)
    rgb[..., 1] = 1.0  # pure green
    v601 = Variant(channels="replicate", gray="601", normalize="none", resize=Resize(size=32))
    v709 = v601.replace(gray="709")
    p601, p709 = prepare(Signal(rgb), [v601, v709], (0,) * 3, (1,) * 3)
    assert np.allclose(p601.display, round(0.587 * 255) / 255)
    assert np.allclose(p709.display, round(0.7152 * 255) / 255)
    # A colormapped one-channel image is the matplotlib table at the quantized gray level.
    gray = np.linspace(0, 1, 256, dtype=np.float32)[None, :].repeat(16, 0)
    v = Variant(channels="colormap", colormap="viridis", normalize="none",
                resize=Resize(size=16, fit="stretch", method="nearest", antialias=False))
    (p,) = prepare(Signal(np.ascontiguousarray(gray[:, ::16])), [v], (0,) * 3, (1,) * 3)
    lut = colormap_lut("viridis")
    expected = np.rint(lut[np.rint(gray[0, ::16] * 255).astype(int)] * 255) / 255
    assert np.allclose(p.display[0], expected, atol=1e-6)


def conv_sum_stem(conv: torch.nn.Conv2d) -> torch.nn.Conv2d:
    """A one-input-channel copy of ``conv`` with weights summed over input channels (timm's adapt_input_conv)."""
    one = copy.deepcopy(conv)
    one.weight = torch.nn.Parameter(adapt_input_conv(1, conv.weight.detach().clone()), requires_grad=False)
    one.in_channels = 1
    return one


def replicate_minus_conv_sum(conv, mean, std):
    """The documented closed form (core.preprocess.pipeline): per filter f with kernel w_fc, replicate minus
    conv-sum is ``sum_c w_fc (1/s_c - 1/s) * g - sum_c w_fc (m_c/s_c - m/s)`` (m, s the channel means)."""
    w = conv.weight.detach().double()
    m = torch.tensor(mean, dtype=torch.float64)
    s = torch.tensor(std, dtype=torch.float64)
    gain_kernel = (w * (1 / s - 1 / s.mean())[None, :, None, None]).sum(1, keepdim=True)
    offset = -(w * (m / s - m.mean() / s.mean())[None, :, None, None]).sum(dim=(1, 2, 3))
    return gain_kernel.float(), offset.float()


def _stem_out(model, x):
    with torch.no_grad():
        return model.first_conv(x[None])[0]


def test_conv_sum_equals_replicate_under_equal_statistics(model, camera_signal):
    rep = Variant(name="rep", channels="replicate")
    cs = Variant(name="cs", channels="conv-sum")
    p_rep, p_cs = prepare(camera_signal, [rep, cs], model.mean, model.std)  # model stats: 0.5 / 0.5 everywhere
    one = p_cs.tensor[0:1]
    summed = conv_sum_stem(model.first_conv)
    with torch.no_grad():
        through_summed = summed(one[None])[0]
    assert summed.weight.shape[1] == 1 and model.first_conv.weight.shape[1] == 3  # shared stem untouched
    assert torch.allclose(_stem_out(model, p_rep.tensor), through_summed, atol=1e-4)
    # and the engine's conv-sum input through the original stem is the summed conv itself
    assert torch.allclose(_stem_out(model, p_cs.tensor), through_summed, atol=1e-4)


def test_conv_sum_differs_by_documented_per_filter_terms_under_imagenet_statistics(model, camera_signal):
    rep = Variant(name="rep", channels="replicate", normalize="imagenet")
    cs = Variant(name="cs", channels="conv-sum", normalize="imagenet")
    p_rep, p_cs = prepare(camera_signal, [rep, cs], model.mean, model.std)
    diff = _stem_out(model, p_rep.tensor) - conv_sum_stem(model.first_conv)(p_cs.tensor[0:1][None])[0].detach()
    gain_kernel, offset = replicate_minus_conv_sum(model.first_conv, IMAGENET_MEAN, IMAGENET_STD)
    g = torch.from_numpy(p_rep.display[..., 0].copy())[None, None]
    conv = model.first_conv
    with torch.no_grad():
        predicted = torch.nn.functional.conv2d(g, gain_kernel, stride=conv.stride)[0] + offset[:, None, None]
    # TF "same" padding of a stride-2 3x3 conv on an even size pads only the bottom/right: away from
    # that padded edge the difference is exactly gain * g + per-filter offset.
    inner = diff[:, :-1, :-1]
    assert inner.shape == predicted.shape
    assert torch.allclose(inner, predicted, atol=1e-4)
    assert float(offset.abs().max()) > 0.1  # and it is not negligible


def test_zero_pad_puts_gray_in_first_channel_only(model, camera_signal):
    (p,) = prepare(camera_signal, [Variant(channels="zero-pad")], model.mean, model.std)
    assert float(p.tensor[1:].abs().max()) == 0
    assert float(p.tensor[0].std()) > 0.1


def test_degradations():
    rng = np.random.default_rng(0)
    img = rng.random((64, 64, 3)).astype(np.float32) * 0.5 + 0.25
    base = Variant(name="base", normalize="none", resize=Resize(size=64, fit="stretch"))
    jpg = base.replace(name="jpg", degrade=(Jpeg(quality=10),))
    noisy = base.replace(name="noisy", degrade=(Noise(snr_db=10.0, seed=3),))
    noisy2 = base.replace(name="noisy2", degrade=(Noise(snr_db=10.0, seed=3),))
    blur = base.replace(name="blur", degrade=(Blur(sigma=2.0),))
    prepared = prepare(Signal(img), [base, jpg, noisy, noisy2, blur], (0,) * 3, (1,) * 3)
    out = {p.variant.name: p.display for p in prepared}
    assert np.abs(out["jpg"] - out["base"]).mean() > 0.02
    assert np.array_equal(out["noisy"], out["noisy2"])  # same seed, same noise
    measured_snr = 10 * np.log10((out["base"] ** 2).mean() / ((out["noisy"] - out["base"]) ** 2).mean())
    assert 9.0 < measured_snr < 11.5  # clipping at 0 and 1 removes a little noise power
    assert out["blur"].std() < 0.5 * out["base"].std()


def test_median_removes_salt_and_pepper():
    img = np.full((64, 64), 0.5, np.float32)
    img[::7, ::5] = 1.0
    v = Variant(channels="replicate", normalize="none", resize=Resize(size=64), degrade=(Median(size=3),))
    (p,) = prepare(Signal(img), [v], (0,) * 3, (1,) * 3)
    assert np.allclose(p.display, 0.5, atol=1 / 255)


def test_prepare_many_matches_prepare(camera_signal, chelsea_signal):
    v = Variant(channels="colormap", colormap="turbo", degrade=(Jpeg(quality=40),))
    batch = prepare_many([camera_signal, chelsea_signal], v, (0.5,) * 3, (0.5,) * 3)
    singles = [prepare(s, [v], (0.5,) * 3, (0.5,) * 3)[0].tensor for s in (camera_signal, chelsea_signal)]
    assert batch.shape == (2, 3, 224, 224)
    assert torch.equal(batch[0], singles[0]) and torch.equal(batch[1], singles[1])


def test_extreme_strip_is_trimmed_before_resizing_not_blown_up():
    import core.preprocess.pipeline as pp

    strip = np.zeros((1, 20000, 3), np.float32)
    strip[:, 9990:10010] = 1.0  # the crop (one source pixel wide at 224x upscaling) sees only this mark
    strip[:, 5000:5100] = 0.5  # off-center content is cropped away
    seen = []
    original = pp._resize_torch
    try:
        pp._resize_torch = lambda x, hw, r: seen.append(hw) or original(x, hw, r)
        (p,) = prepare(Signal(strip), [Variant(normalize="none")], (0,) * 3, (1,) * 3)
    finally:
        pp._resize_torch = original
    assert p.tensor.shape == (3, 224, 224)
    assert seen and seen[0][0] * seen[0][1] <= pp.MAX_INTERMEDIATE_PIXELS  # not 224 x 4,480,000
    assert np.allclose(p.display, 1.0)
    # an ordinary panorama takes the exact path: no trim
    x = torch.zeros(1, 3, 300, 2000, dtype=torch.uint8)
    assert pp._trim_for_center_crop(x, Resize()).shape == x.shape


def test_noise_is_independent_across_inputs_and_repeatable_per_input():
    a = Signal(np.full((32, 32), 0.5, np.float32), {"digest": "a"})
    b = Signal(np.full((32, 32), 0.5, np.float32), {"digest": "b"})
    v = Variant(channels="replicate", normalize="none", resize=Resize(size=32), degrade=(Noise(snr_db=10.0, seed=1),))
    na, nb = (p.display - 0.5 for p in (prepare(a, [v], (0,) * 3, (1,) * 3)[0], prepare(b, [v], (0,) * 3, (1,) * 3)[0]))
    assert abs(np.corrcoef(na[..., 0].ravel(), nb[..., 0].ravel())[0, 1]) < 0.2  # not the same noise pattern
    again = prepare_many([a, b], v, (0,) * 3, (1,) * 3)
    assert np.allclose(again[0].permute(1, 2, 0).numpy() - 0.5, na, atol=1e-6)


def test_the_zone_plate_sample_aliases_visibly_without_antialiasing() -> None:
    from components.session import decode_sample
    from core.preprocess.pipeline import prepare_grid
    from core.preprocess.variant import Resize, Variant

    plate = decode_sample("zoneplate")
    variants = [Variant(name="aa", resize=Resize(size=224, method="bilinear", antialias=True)),
                Variant(name="no-aa", resize=Resize(size=224, method="bilinear", antialias=False))]
    (aa,), (no_aa,) = prepare_grid([plate], variants, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    ring = np.s_[96:128, 200:224]  # near the right edge: rings finer than the 224-px grid can hold
    aa_contrast, no_aa_contrast = aa.display[ring].std(), no_aa.display[ring].std()
    assert aa_contrast < 0.1  # filtered away to near-uniform gray
    assert no_aa_contrast > 3 * aa_contrast  # false rings (moire) instead
