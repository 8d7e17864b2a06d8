"""The Autoencoder lab's core: determinism, stop without partial files, saved models refused when tampered,
the blind-spot mask, learned gray rules through variant JSON into the engine, denoisers, and cache keys: a Variant
reads no file, while every cache that outlives a call keys on ``core.preprocess.recipe.cache_key`` (the weights
digests of the saved models a variant names), and keys of variants naming none never changed."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from components.session import encode_variants
from core.autoencode.gray import (
    GrayConfig,
    GrayData,
    contrast,
    encode_gray,
    isoluminant_pattern,
    train_gray,
)
from core.autoencode.single import (
    SingleConfig,
    builtin_texture,
    grid_mask,
    lab_card,
    mask_input,
    predict,
    train_single,
)
from core.errors import InvalidVariant
from core.evaluate.features import FeatureCache
from core.explain import CamCache
from core.inspect.engine import RunCache, inspect, result_key
from core.learned import store
from core.learned.nets import DenoiseCAE
from core.preprocess.color import to_gray
from core.preprocess.pipeline import prepare
from core.preprocess.recipe import cache_key
from core.preprocess.variant import Variant, VariantSet
from core.provenance import Stopped
from core.signal import Signal

TINY_SINGLE = SingleConfig(steps=4, width=4, bottleneck=2, crop=16, batch=2)
TINY_GRAY = GrayConfig(epochs=2, batch=4, crop=16, side=24, hidden=4, width=4)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own models folder and caches."""
    monkeypatch.setenv("PREPSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PREPSCOPE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("PREPSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "models"


def color_images(n: int = 8, side: int = 24, seed: int = 0) -> GrayData:
    """Smooth random color images (uint8) standing in for photos."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side] / side
    ims = []
    for _ in range(n):
        a = rng.uniform(0, 1, (3, 3))
        im = np.stack([0.5 + 0.4 * np.sin(2 * np.pi * (a[c, 0] * yy + a[c, 1] * xx) + 6 * a[c, 2])
                       for c in range(3)], -1)
        ims.append(np.clip(np.rint(im * 255), 0, 255).astype(np.uint8))
    return GrayData(ims, "synthetic", f"synthetic-{seed}", total_found=n)


def small_texture(side: int = 32) -> tuple[np.ndarray, np.ndarray]:
    return builtin_texture(side=side, seed=1)


def states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------------------------------------- determinism


def test_single_image_training_is_deterministic_for_a_seed() -> None:
    noisy, clean = small_texture()
    runs = [train_single(noisy, clean, ("plain", "blindspot", "augmented"), TINY_SINGLE) for _ in range(2)]
    for r1, r2 in zip(runs[0].regimes, runs[1].regimes, strict=True):
        assert states_equal(r1.model, r2.model), r1.name
        assert r1.losses == r2.losses
        assert np.array_equal(r1.output, r2.output)
    other = train_single(noisy, clean, ("plain",), SingleConfig(**{**TINY_SINGLE.__dict__, "seed": 1}))
    assert not states_equal(runs[0].regimes[0].model, other.regimes[0].model)


def test_gray_training_is_deterministic_for_a_seed() -> None:
    data = color_images()
    a = train_gray(data, "g", TINY_GRAY, save=False)
    b = train_gray(data, "g", TINY_GRAY, save=False)
    assert states_equal(a.model, b.model)
    assert a.losses == b.losses
    assert [s.reconstruction_psnr for s in a.rules] == [s.reconstruction_psnr for s in b.rules]
    c = train_gray(data, "g", GrayConfig(**{**TINY_GRAY.__dict__, "seed": 3}), save=False)
    assert not states_equal(a.model, c.model)


# ---------------------------------------------------------------------------------------------- stop


def test_stop_leaves_no_partial_model_file(home: Path) -> None:
    calls = []

    def stop_after_three() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Stopped, match="nothing was saved"):
        train_gray(color_images(), "stopped", TINY_GRAY, should_stop=stop_after_three)
    assert len(calls) == 4
    assert not home.exists() or list(home.iterdir()) == []
    assert store.model_names("gray") == ()
    # the same run without a stop writes exactly the pair
    train_gray(color_images(), "done", TINY_GRAY)
    assert sorted(p.name for p in home.iterdir()) == ["done.json", "done.pt"]


def test_stop_in_the_single_image_lab_raises_stopped() -> None:
    noisy, clean = small_texture()
    with pytest.raises(Stopped):
        train_single(noisy, clean, ("plain",), TINY_SINGLE, should_stop=lambda: True)


# ---------------------------------------------------------------------------------------------- the store


def _saved_gray(name: str = "g1") -> tuple[Path, Path]:
    train_gray(color_images(), name, TINY_GRAY)
    return store.paths(name)


def test_saved_model_loads_with_its_card_and_an_existing_name_is_refused() -> None:
    w, c = _saved_gray()
    model, card = store.load("g1", "gray")
    assert card["task"] == "gray" and card["name"] == "g1" and card["seed"] == 0
    assert {"architecture", "dataset", "epochs", "losses", "prepscope", "weights_sha256"} <= set(card)
    assert card["dataset"]["digest"] == "synthetic-0"
    with pytest.raises(store.InvalidModelFile, match="already exists"):
        train_gray(color_images(), "g1", TINY_GRAY)
    with pytest.raises(store.InvalidModelFile, match="not a denoise model"):
        store.load("g1", "denoise")


def test_tampered_weights_are_refused() -> None:
    w, _ = _saved_gray()
    data = bytearray(w.read_bytes())
    data[-20] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(store.InvalidModelFile, match="does not match its weights"):
        store.load("g1", "gray")


def test_card_that_does_not_fit_its_weights_is_refused() -> None:
    w, c = _saved_gray()
    card = json.loads(c.read_text())
    card["architecture"]["width"] = 8  # same digest, different architecture
    c.write_text(json.dumps(card))
    with pytest.raises(store.InvalidModelFile, match="does not fit the architecture"):
        store.load("g1", "gray")
    card["architecture"] = {"class": "os.system"}
    c.write_text(json.dumps(card))
    with pytest.raises(store.InvalidModelFile, match="Unknown architecture"):
        store.load("g1", "gray")


class Payload:
    def __reduce__(self):  # noqa: ANN204 - what a malicious pickle does
        return (print, ("pickle code ran",))


def _replace_weights(w: Path, c: Path, data: bytes) -> None:
    w.write_bytes(data)
    card = json.loads(c.read_text())
    card["weights_sha256"] = store.sha256_bytes(data)  # a forged card that matches
    c.write_text(json.dumps(card))


def test_a_pickle_is_refused_even_with_a_matching_card(capsys: pytest.CaptureFixture) -> None:
    w, c = _saved_gray()
    _replace_weights(w, c, pickle.dumps({"encoder.net.0.weight": Payload()}))
    with pytest.raises(store.InvalidModelFile, match="weights_only") as refused:
        store.load("g1", "gray")
    assert "pickle code ran" not in capsys.readouterr().out
    # one clean sentence of ours, not PyTorch's cut-off advice
    message = str(refused.value)
    assert message.endswith(".") and "\n" not in message and "PyTorch 2.6" not in message, message
    assert "pickled Python objects" in message
    _replace_weights(w, c, b"not a torch file at all" * 8)
    with pytest.raises(store.InvalidModelFile, match="not a file written by torch.save") as refused:
        store.load("g1", "gray")
    assert str(refused.value).endswith(".")


def test_a_file_that_is_not_a_state_dict_is_refused() -> None:
    import io

    w, c = _saved_gray()
    buf = io.BytesIO()
    torch.save([torch.zeros(3)], buf)
    _replace_weights(w, c, buf.getvalue())
    with pytest.raises(store.InvalidModelFile, match="not a state_dict"):
        store.load("g1", "gray")


def test_damaged_models_are_listed_as_broken_with_the_reason_and_never_offered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import shutil

    from core.preprocess.variant import gray_rules

    w1, c1 = _saved_gray("g1")
    for name in ("flipped", "pickled", "badcard", "badarch", "forged"):
        w, c = store.paths(name)
        shutil.copy(w1, w)
        card = json.loads(c1.read_text())
        c.write_text(json.dumps({**card, "name": name}))
    w, _ = store.paths("flipped")
    data = bytearray(w.read_bytes())
    data[-20] ^= 0xFF
    w.write_bytes(bytes(data))
    _replace_weights(*store.paths("pickled"), pickle.dumps({"encoder.net.0.weight": Payload()}))
    store.paths("badcard")[1].write_text('{"format": "prepscope-autoencoder-card", "name": ')
    _, c = store.paths("badarch")
    c.write_text(json.dumps({**json.loads(c.read_text()), "architecture": {**json.loads(c.read_text())[
        "architecture"], "width": 8}}))
    buf = io.BytesIO()
    torch.save([torch.zeros(3)], buf)  # a torch.save file, digest forged to match, that is no state_dict
    _replace_weights(*store.paths("forged"), buf.getvalue())

    assert store.model_names("gray") == ("g1",)
    assert [r for r in gray_rules() if r.startswith("learned:")] == ["learned:g1"]
    reasons = {b.name: b.reason for b in store.broken_models("gray")}
    assert set(reasons) == {"flipped", "pickled", "badcard", "badarch", "forged"}
    assert "does not match its weights" in reasons["flipped"]
    assert "pickle" in reasons["pickled"] and "not a readable JSON model card" in reasons["badcard"]
    assert "does not fit the architecture" in reasons["badarch"] and "not a state_dict" in reasons["forged"]

    hashed = []
    monkeypatch.setattr(store, "sha256_bytes", lambda data: hashed.append(1) or "0" * 64)
    assert store.model_names("gray") == ("g1",) and not hashed  # checked once per file state (mtime, size)
    w1.write_bytes(w1.read_bytes() + b"\0")  # a changed file is checked again
    assert store.model_names("gray") == () and hashed


def test_listing_without_torch_checks_digest_and_format_and_imports_no_torch(home: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    w1, c1 = _saved_gray("g1")
    w, c = store.paths("pickled")
    c.write_text(c1.read_text().replace('"name": "g1"', '"name": "pickled"'))
    _replace_weights(w, c, pickle.dumps({"encoder.net.0.weight": Payload()}))
    code = ("import sys; from core.learned import store; print(store.model_names('gray')); "
            "print([b.name for b in store.broken_models('gray')]); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "PREPSCOPE_MODELS_DIR": str(home)}).stdout.split("\n")
    assert out[:3] == ["('g1',)", "['pickled']", "False"], out


def test_model_names_are_checked() -> None:
    for bad in ("", "../x", "a b", "x" * 49, ".hidden"):
        with pytest.raises(store.InvalidModelFile, match="model name"):
            store.check_name(bad)


# ---------------------------------------------------------------------------------------------- blind spot


def test_blind_spot_prediction_never_sees_the_pixel_it_predicts() -> None:
    torch.manual_seed(0)
    model = DenoiseCAE(3, 8, 4).eval()
    x = torch.rand(1, 3, 20, 20, requires_grad=True)
    for (i, j) in [(0, 0), (5, 7), (10, 10), (19, 3), (13, 18)]:
        y = predict(model, x, blind=True, grid=4)
        (gx,) = torch.autograd.grad(y[0, :, i, j].sum(), x)
        assert torch.all(gx[0, :, i, j] == 0), (i, j)
        assert gx[0].abs().sum() > 0  # it does see its surroundings
        y_direct = model(x)
        (gd,) = torch.autograd.grad(y_direct[0, :, i, j].sum(), x)
        assert gd[0, :, i, j].abs().sum() > 0  # without the mask the pixel is in its own receptive field


def test_masked_input_replaces_masked_pixels_by_their_neighbours_only() -> None:
    x = torch.rand(1, 3, 12, 12)
    m = grid_mask(12, 12, 4, (1, 2))
    y = mask_input(x, m)
    assert torch.equal(y[..., ~m], x[..., ~m])
    bumped = x.clone()
    bumped[..., m] += 1.0  # the masked pixels' own values do not reach the masked input
    assert torch.allclose(mask_input(bumped, m), y)
    assert torch.isclose(y[0, 0, 1, 2], (x[0, 0, 0, 2] + x[0, 0, 2, 2] + x[0, 0, 1, 1] + x[0, 0, 1, 3]) / 4)


# ---------------------------------------------------------------------------------------------- learned gray


def test_isoluminant_pattern_has_one_601_luma_and_contrast_under_other_rules() -> None:
    p = isoluminant_pattern()
    g601 = to_gray(p, "601")
    assert np.allclose(g601, 0.5, atol=1e-5)
    assert contrast(g601) < 1e-5
    assert contrast(to_gray(p, "709")) > 0.02 and contrast(to_gray(p, "mean")) > 0.02
    assert p.min() >= 0 and p.max() <= 1


def test_learned_gray_round_trips_through_variant_json_and_reaches_the_engine(model) -> None:  # noqa: ANN001
    result = train_gray(color_images(), "g1", TINY_GRAY)
    v = Variant(name="lg", channels="replicate", gray="learned:g1")
    vs = VariantSet.from_json(VariantSet.of([Variant(name="ref", channels="replicate"), v]).to_json(indent=2))
    assert vs[1] == v and vs[1].gray == "learned:g1"
    rgb = np.random.default_rng(0).uniform(0, 1, (40, 50, 3)).astype(np.float32)
    signal = Signal(rgb, {"name": "noise"})
    p601, plearned = prepare(signal, list(vs), (0.5,) * 3, (0.5,) * 3)
    expected = encode_gray(result.model.encoder, rgb)
    # the pipeline's gray is the encoder's output (then 8-bit, resized): compare before resizing
    from core.preprocess.pipeline import stored_image

    assert np.array_equal(stored_image(rgb, v)[..., 0], np.clip(np.rint(expected * 255), 0, 255).astype(np.uint8))
    assert not np.allclose(p601.display, plearned.display)

    out = inspect(signal, list(vs), model)
    assert out.variants[1].variant.gray == "learned:g1"
    assert np.allclose(out.variants[1].display, plearned.display)
    assert out.variants[1].layers[-1].similarity < 0.9999  # the network saw a different input


#: Two tiny models written by ``core.autoencode.store`` before the saved-model side moved to ``core.learned``.
SAVED_BEFORE_THE_SPLIT = Path(__file__).parent / "data" / "lab_models_v1"


def test_models_saved_before_the_split_still_load_and_give_the_same_output(home: Path) -> None:
    import shutil

    shutil.copytree(SAVED_BEFORE_THE_SPLIT, home)
    assert store.model_names("gray") == ("gray-v1",) and store.model_names("denoise") == ("denoise-v1",)
    assert store.broken_models() == []
    rgb = np.linspace(0, 1, 2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    model, card = store.load("gray-v1", "gray")
    np.testing.assert_allclose(encode_gray(model.encoder, rgb),  # the outputs recorded when it was saved
                               [[0.4384651, 0.4362296, 0.4323702], [0.4285190, 0.4246763, 0.4208428]], atol=1e-6)
    from core.learned.inference import run_lab_denoiser

    den, den_card = store.load("denoise-v1", "denoise")
    x = np.linspace(0, 1, 5 * 6, dtype=np.float32).reshape(5, 6, 1)
    np.testing.assert_allclose(run_lab_denoiser(den, den_card, x)[0, :, 0],
                               [0.4930753, 0.4913765, 0.4934178, 0.4918137, 0.4922394, 0.4916050], atol=1e-6)
    # and through a variant, as the pipeline uses them
    v = Variant.from_dict({"name": "old", "channels": "replicate", "gray": "learned:gray-v1",
                           "degrade": [{"kind": "learned", "model": "denoise-v1"}]})
    luma = Variant.from_dict({"name": "601", "channels": "replicate"})
    out = prepare(Signal(np.random.default_rng(0).uniform(0, 1, (20, 20, 3)).astype(np.float32)), [v, luma],
                  (0.5,) * 3, (0.5,) * 3)
    assert torch.isfinite(out[0].tensor).all() and not torch.allclose(out[0].tensor, out[1].tensor, atol=1e-3)


def test_a_missing_learned_gray_is_refused_when_used_not_when_read(home: Path) -> None:
    v = Variant.from_dict({"name": "x", "channels": "replicate", "gray": "learned:nowhere"})
    rgb = np.zeros((20, 20, 3), np.float32)
    with pytest.raises(InvalidVariant, match="No learned gray rule named 'nowhere'.*models folder"):
        prepare(Signal(rgb), [v], (0.5,) * 3, (0.5,) * 3)
    for bad in ("learned:", "learned:a b", "602", "Learned:x"):
        with pytest.raises(InvalidVariant, match="gray must be 601, 709, mean, or learned:<name>"):
            Variant.from_dict({"name": "x", "gray": bad})


def test_gray_rules_preset_adds_the_newest_learned_rule() -> None:
    from core.preprocess.presets import get_preset

    assert get_preset("gray-rules").names == ["601", "709", "mean"]
    train_gray(color_images(), "g1", TINY_GRAY)
    vs = get_preset("gray-rules")
    assert vs.names == ["601", "709", "mean", "learned:g1"] and vs[3].gray == "learned:g1"
    from core.preprocess.variant import gray_rules

    assert gray_rules() == ("601", "709", "mean", "learned:g1")


def test_the_fair_comparison_covers_every_rule() -> None:
    r = train_gray(color_images(), "g1", TINY_GRAY)
    d = r.to_dict()
    assert [x["rule"] for x in d["rules"]] == ["601", "709", "mean", "learned:g1"]
    assert all(np.isfinite(x["reconstruction_psnr"]) and x["psnr_ci95"][0] <= x["reconstruction_psnr"]
               <= x["psnr_ci95"][1] for x in d["rules"])
    assert set(d["isoluminant_contrast"]) == {"601", "709", "mean", "learned:g1"}
    assert d["isoluminant_contrast"]["601"] < 1e-5
    # every rule's decoder saw the same crops for the same number of steps
    assert len({len(s.losses) for s in r.rules}) == 1 and len(r.rules[0].losses) == len(r.losses)


# ---------------------------------------------------------------------------------------------- denoisers


def _noisy_smooth(side: int = 64, sigma: float = 0.1, channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:side, 0:side] / side
    clean = np.stack([0.5 + 0.3 * np.sin(2 * np.pi * (yy + c * xx)) for c in range(channels)], -1).astype(np.float32)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, sigma, clean.shape), 0, 1).astype(np.float32)
    return (noisy, clean) if channels == 3 else (noisy[..., 0], clean[..., 0])


@pytest.mark.parametrize("kind", ["nl_means", "tv_chambolle", "wavelet", "bilateral"])
@pytest.mark.parametrize("channels", [3, 1])
def test_denoisers_reduce_the_error_of_a_noisy_image(kind: str, channels: int) -> None:
    from core.preprocess.denoise import apply_denoiser, denoiser_spec

    noisy, clean = _noisy_smooth(channels=channels)
    out = apply_denoiser(noisy, denoiser_spec({"kind": kind}))
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert np.mean((out - clean) ** 2) < 0.6 * np.mean((noisy - clean) ** 2)


def test_noise_then_a_denoiser_is_one_variant_at_network_size() -> None:
    _, clean = _noisy_smooth(side=96)
    sig = Signal(clean, {"name": "smooth"})
    vs = [Variant(name="clean"), Variant.from_dict({"name": "noisy", "degrade": [{"kind": "noise", "snr_db": 10.0}]}),
          Variant.from_dict({"name": "nlm", "degrade": [{"kind": "noise", "snr_db": 10.0}, {"kind": "nl_means"}]})]
    ref, noisy, den = prepare(sig, vs, (0.5,) * 3, (0.5,) * 3)
    assert np.mean((den.display - ref.display) ** 2) < 0.5 * np.mean((noisy.display - ref.display) ** 2)


def test_source_resolution_denoise_runs_before_the_channel_strategy() -> None:
    from core.preprocess.denoise import apply_denoiser, denoiser_spec

    noisy, _ = _noisy_smooth(side=96)
    sig = Signal(noisy)
    plain = Variant(name="a", channels="replicate")
    den = Variant.from_dict({"name": "b", "channels": "replicate", "denoise": [{"kind": "tv_chambolle"}]})
    assert Variant.from_dict(json.loads(den.to_json())) == den
    assert Variant.from_dict({"name": "a", "channels": "replicate"}).denoise == ()  # old JSON: no denoising
    from core.preprocess.pipeline import stored_image

    expected = stored_image(apply_denoiser(noisy, denoiser_spec({"kind": "tv_chambolle"})), plain)
    a, b = prepare(sig, [plain, den], (0.5,) * 3, (0.5,) * 3)
    assert not np.allclose(a.display, b.display)
    only = prepare(Signal(np.asarray(expected[..., 0] / 255.0, np.float32)), [plain], (0.5,) * 3, (0.5,) * 3)[0]
    assert np.allclose(only.display, b.display, atol=1 / 255 + 1e-6)
    with pytest.raises(InvalidVariant, match="Each denoiser needs a kind among nl_means"):
        Variant.from_dict({"name": "c", "denoise": [{"kind": "jpeg"}]})


def test_a_lab_denoiser_runs_by_name_on_color_and_gray() -> None:
    noisy, clean = small_texture()
    result = train_single(noisy, clean, ("blindspot",), TINY_SINGLE)
    store.save(result.regime("blindspot").model, lab_card(result, "blindspot", "bs"))
    from core.preprocess.denoise import apply_lab_model

    out = apply_lab_model(noisy, "bs")
    assert np.allclose(out, result.regime("blindspot").output, atol=1e-6)
    assert apply_lab_model(noisy[..., 0], "bs").shape == noisy.shape[:2]
    v = Variant.from_dict({"name": "l", "degrade": [{"kind": "learned", "model": "bs"}]})
    assert prepare(Signal(noisy), [v], (0.5,) * 3, (0.5,) * 3)[0].display.shape == (224, 224, 3)
    with pytest.raises(InvalidVariant, match="No lab denoiser named 'other'"):
        prepare(Signal(noisy), [v.replace(degrade=({"kind": "learned", "model": "other"},))], (0.5,) * 3, (0.5,) * 3)


def test_single_image_metrics_are_consistent() -> None:
    noisy, clean = small_texture(48)
    r = train_single(noisy, clean, ("plain",), TINY_SINGLE).regime("plain")
    from core.autoencode.single import psnr

    assert r.psnr_vs_input == pytest.approx(psnr(r.output, noisy))
    assert r.psnr_vs_clean == pytest.approx(psnr(r.output, clean))
    assert np.allclose(r.residual, r.output - noisy)
    assert -1 <= r.residual_noise_corr <= 1
    assert len(r.track) == TINY_SINGLE.steps and r.track[-1]["step"] == TINY_SINGLE.steps


def test_oversized_and_tiny_images_are_refused() -> None:
    from core.errors import UnsupportedInput

    with pytest.raises(UnsupportedInput, match="at most 512"):
        train_single(np.zeros((600, 100, 3), np.float32))
    with pytest.raises(UnsupportedInput, match="at least 32"):
        train_single(np.zeros((20, 100, 3), np.float32))
    with pytest.raises(UnsupportedInput, match="same size"):
        train_single(np.zeros((40, 40, 3), np.float32), np.zeros((40, 48, 3), np.float32))


# ------------------------------------------------------------------ cache keys of variants naming saved models

def tiny_model() -> SimpleNamespace:
    """Stands in for a LoadedModel where only the key is computed: a name, a description and fixed weights."""
    lin = torch.nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        lin.bias.copy_(torch.tensor([0.5, -0.5]))
    return SimpleNamespace(name="tiny", description="a fixed 2x2 linear layer", module=lin, layer_names=["x"])


def test_feature_cache_keys_of_variants_without_saved_models_are_the_ones_users_have() -> None:
    """Keys computed by prepscope before the digests moved out of ``Variant.spec_key`` (commit ee2e09b): users'
    feature caches stay valid."""
    ds, model = SimpleNamespace(digest="d" * 16), tiny_model()
    jpeg = Variant.from_dict({"name": "v", "channels": "colormap", "colormap": "viridis",
                              "degrade": [{"kind": "jpeg", "quality": 30}]})
    assert FeatureCache("unused").key(ds, Variant(name="ref"), model) == "98a9e4fe0c7d1fe74057a3c8a0602121"
    assert FeatureCache("unused").key(ds, jpeg, model) == "bc778dd3b22b1639196310cc81c94190"
    assert cache_key(jpeg) == jpeg.spec_key()


def test_retraining_a_saved_gray_model_changes_every_cache_key_but_not_the_variant(model) -> None:  # noqa: ANN001
    lg = Variant(name="lg", channels="replicate", gray="learned:g1")
    vs = VariantSet.of([Variant(name="ref", channels="replicate"), lg])
    ds, tiny = SimpleNamespace(digest="d" * 16), tiny_model()
    rgb = np.random.default_rng(0).uniform(0, 1, (40, 50, 3)).astype(np.float32)
    signal = Signal(rgb, {"name": "noise"})

    def keys() -> tuple:
        return (FeatureCache("unused").key(ds, lg, tiny), result_key(signal, list(vs), tiny),
                CamCache.key(signal, list(vs), tiny, "gradcam", "x", None))

    def variant_side() -> tuple:
        return lg.spec_key(), lg.to_json(), vs.to_json(), encode_variants(vs)

    train_gray(color_images(), "g1", TINY_GRAY)
    before, pure = keys(), variant_side()
    cache = RunCache()
    first = inspect(signal, list(vs), model, cache=cache)
    train_gray(color_images(seed=5), "g1", TINY_GRAY, overwrite=True)
    after = keys()
    assert all(a != b for a, b in zip(before, after, strict=True))  # feature cache, inspect cache, CAM cache
    assert variant_side() == pure  # the Variant, its JSON and its link do not know about the files
    second = inspect(signal, list(vs), model, cache=cache)
    fresh = inspect(signal, list(vs), model)
    assert not np.allclose(first.variants[1].display, second.variants[1].display)  # not the stale result
    assert np.array_equal(second.variants[1].display, fresh.variants[1].display)
    assert np.array_equal(first.variants[0].display, second.variants[0].display)  # the luma variant is unchanged
