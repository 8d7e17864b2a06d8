"""Models and the inspection engine: real pretrained predictions, statistics, similarity, safety."""

import threading

import numpy as np
import pytest
import torch

from core.errors import UnknownModel
from core.inspect.engine import STATS, RunCache, _bn_shift, inspect, linear_cka
from core.models import load_model, model_names
from core.preprocess.presets import get_preset
from core.preprocess.variant import Variant
from core.signal import Signal

CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


def test_pretrained_weights_map_onto_timm(model):
    from skimage import data

    sig = lambda a: Signal(a.astype(np.float32) / 255.0)  # noqa: E731
    v = [Variant()]
    assert inspect(sig(data.chelsea()), v, model).variants[0].top5[0].label in CAT_CLASSES
    assert inspect(sig(data.coffee()), v, model).variants[0].top5[0].label in {"espresso", "cup"}
    assert model.pretrained and len(model.labels) == 1000


def test_registry_lists_metadata_without_building_models(monkeypatch):
    import core.models.registry as reg
    from core.models import specs

    monkeypatch.setattr(reg, "_cached", lambda *a: pytest.fail("listing must not build a model"))
    assert list(specs.MODELS)[0] == specs.DEFAULT_MODEL == "efficientnet_lite0"
    labels = {name: spec.label for name, spec in specs.MODELS.items()}
    assert labels["resnet18"] == "resnet18 (untrained baseline)"
    assert labels["efficientnet_lite0"] == "efficientnet_lite0"
    # the input recipe comes from the weights' pretrained config, not from constants in prepscope
    from timm.models import get_pretrained_cfg

    for n in (0, 1, 2):
        cfg, dc = get_pretrained_cfg(f"tf_efficientnet_lite{n}"), specs.MODELS[f"efficientnet_lite{n}"].data_config
        assert (dc.input_size, dc.interpolation, dc.crop_pct, dc.mean) == (cfg.input_size[-1], cfg.interpolation,
                                                                           cfg.crop_pct, cfg.mean)
    assert specs.MODELS["efficientnet_lite1"].data_config.input_size == 240
    rn = specs.MODELS["resnet18"].data_config
    assert (rn.input_size, rn.interpolation, rn.crop_pct) == (224, "bilinear", 224 / 256)


def test_registry_and_baselines():
    assert model_names()[0] == "efficientnet_lite0"
    for name in ("resnet18", "mobilenet_v3_small"):
        m = load_model(name)
        assert not m.pretrained and "untrained baseline" in m.description
        feats, logits = m.features_and_logits(torch.zeros(1, 3, 224, 224))
        assert feats.shape == (1, m.feature_dim) and logits.shape == (1, 1000)
    with pytest.raises(UnknownModel, match="available"):
        load_model("vgg99")


def test_user_state_dict_is_loaded_with_weights_only(tmp_path):
    base = load_model("resnet18")
    sd = {k: v.clone() for k, v in base.module.state_dict().items()}
    sd["fc.bias"] = torch.full_like(sd["fc.bias"], 0.0)
    sd["fc.bias"][7] = 100.0
    path = tmp_path / "mine.pth"
    torch.save(sd, path)
    mine = load_model("resnet18", path)
    assert mine.pretrained and "mine.pth" in mine.description
    assert int(mine.features_and_logits(torch.zeros(1, 3, 224, 224))[1].argmax()) == 7
    bad = tmp_path / "bad.pth"
    torch.save({"not": torch.zeros(2)}, bad)
    with pytest.raises(UnknownModel, match="does not match"):
        load_model("resnet18", bad)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UnknownModel, match="Cannot read"):
        load_model("resnet18", tmp_path / "junk.pth")


def test_inspect_result_shape_and_reference(model, chelsea_signal):
    variants = get_preset("channels")
    result = inspect(chelsea_signal, variants, model)
    assert [v.name for v in result.variants] == [v.name for v in variants]
    assert result.layer_names == ["stem", *[f"stage{i}" for i in range(1, 8)], "head"]
    ref = result.reference
    for layer in ref.layers:
        assert layer.similarity == pytest.approx(1.0) and layer.cka == pytest.approx(1.0, abs=1e-6)
        assert max(layer.fmap.shape[1:]) <= 56 and layer.fmap.dtype == np.float16
    for v in result.variants:
        assert sum(p.prob for p in v.top5) <= 1.0 + 1e-6
        assert [p.prob for p in v.top5] == sorted((p.prob for p in v.top5), reverse=True)
        assert v.display.shape == (224, 224, 3) and 0 <= v.display.min() and v.display.max() <= 1
    by = {v.name: v for v in result.variants}
    # with the model's equal statistics, conv-sum and replicate are the same computation
    assert by["gray-conv-sum"].top5[0].prob == pytest.approx(by["gray-replicate"].top5[0].prob, abs=1e-5)
    # a gray image moves the network away from the color reference
    assert by["gray→turbo"].layers[-1].similarity < 0.99
    d = result.to_dict()
    assert d["model"] == "efficientnet_lite0" and d["variants"][0]["spec"] == variants[0].to_dict()
    assert set(d["variants"][0]["layers"][0]) >= {"name", "mean", "std", "zero_fraction", "similarity", "bn_shift"}


def test_layer_statistics_match_a_direct_computation(model, chelsea_signal):
    result = inspect(chelsea_signal, [Variant()], model)
    stem = result.variants[0].layers[0]
    from core.preprocess.pipeline import prepare

    (p,) = prepare(chelsea_signal, [Variant()], model.mean, model.std)
    with torch.no_grad():
        y = model.module.bn1(model.module.conv_stem(p.tensor[None]))
    assert stem.mean == pytest.approx(float(y.mean()), rel=1e-4)
    assert stem.std == pytest.approx(float(y.std(unbiased=False)), rel=1e-4)
    assert (stem.min, stem.max) == pytest.approx((float(y.min()), float(y.max())))
    assert stem.max <= 6.0 and stem.min >= 0.0  # ReLU6 output
    assert stem.zero_fraction == pytest.approx(float((y == 0).float().mean()), abs=1e-6)
    assert stem.saturated_fraction == pytest.approx(float((y >= 6 - 1e-6).float().mean()), abs=1e-6)
    dead = float((y.amax(dim=(2, 3)) <= 0).float().mean())
    assert stem.dead_channel_fraction == pytest.approx(dead)
    assert stem.l2_norm == pytest.approx(float(y.norm()), rel=1e-4)
    assert set(STATS) <= set(stem.to_dict())


def test_bn_shift_is_zero_at_training_statistics():
    bn = torch.nn.BatchNorm2d(4, eps=1e-5).eval()
    bn.running_mean = torch.tensor([0.0, 1.0, -2.0, 0.5])
    bn.running_var = torch.tensor([1.0, 4.0, 0.25, 2.0])
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, 4, 64, 64, generator=g)
    z = (z - z.mean(dim=(2, 3), keepdim=True)) / z.std(dim=(2, 3), unbiased=False, keepdim=True)
    x = z * bn.running_var.sqrt()[None, :, None, None] + bn.running_mean[None, :, None, None]
    assert float(_bn_shift(x, bn)[0]) == pytest.approx(0.0, abs=1e-4)
    shifted = x + 1.0  # mean off by 1: KL grows with (1/v + 1/s2) / 2 per channel
    expected = float(((1.0 / (bn.running_var + bn.eps))).mean())
    assert float(_bn_shift(shifted, bn)[0]) == pytest.approx(expected, rel=1e-3)


def test_linear_cka_properties():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 8, 8)).astype(np.float32)
    q, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    rotated = np.einsum("dc,chw->dhw", q, x)
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, 3.0 * rotated) == pytest.approx(1.0, abs=1e-6)  # invariant to rotation and scale
    assert linear_cka(x, rng.standard_normal((16, 8, 8))) < 0.5
    assert linear_cka(x, x[:, :4, :4]) is None


def test_no_hooks_left_and_weights_unchanged_under_concurrency(model, chelsea_signal, camera_signal):
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    variants = get_preset("channels")[:4]
    expected = {s.digest: inspect(s, variants, model).to_dict()["variants"] for s in (chelsea_signal, camera_signal)}
    results, errors = [], []

    def work(sig):
        try:
            results.append((sig.digest, inspect(sig, variants, model).to_dict()["variants"]))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in [chelsea_signal, camera_signal] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for digest, got in results:
        assert got == expected[digest]
    for m in model.module.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    after = model.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_run_cache_recomputes_only_changed_variants(model, chelsea_signal):
    cache = RunCache(max_entries=8)
    variants = get_preset("channels")[:3]
    first = inspect(chelsea_signal, variants, model, cache=cache)
    assert (cache.hits, cache.misses) == (0, 3)
    edited = [variants[0], variants[1].replace(name="renamed"),
              variants[2].replace(channels="colormap", colormap="magma")]
    second = inspect(chelsea_signal, edited, model, cache=cache)
    assert (cache.hits, cache.misses) == (2, 4)
    assert second.variants[1].top5 == first.variants[1].top5
    assert second.variants[1].name == "renamed"
    # the same request again is answered whole from the cache: no run is even looked up
    assert inspect(chelsea_signal, edited, model, cache=cache) is second
    assert (cache.hits, cache.misses) == (2, 4)


def test_cka_is_undefined_not_perfect_for_one_position_or_constant_maps():
    one = np.random.default_rng(0).standard_normal((8, 1, 1)).astype(np.float32)
    assert linear_cka(one, one * 2 + 1) is None
    flat = np.ones((8, 4, 4), np.float32)
    assert linear_cka(flat, np.random.default_rng(1).standard_normal((8, 4, 4))) is None


def test_cka_compares_only_equal_input_sizes_and_big_inputs_are_chunked(model, chelsea_signal, monkeypatch):
    import core.inspect.engine as eng
    from core.preprocess.variant import Resize

    variants = [Variant(name="ref"), Variant(name="big", resize=Resize(size=448)),
                Variant(name="big2", channels="replicate", resize=Resize(size=448))]
    batches = []
    real_forward = eng._forward
    monkeypatch.setattr(eng, "_forward", lambda m, b: batches.append(b.shape[0]) or real_forward(m, b))
    monkeypatch.setattr(eng, "CHUNK_AT_224", 4)  # 448x448 -> one variant per forward
    result = inspect(chelsea_signal, variants, model)
    assert sorted(batches) == [1, 1, 1]
    by = {v.name: v for v in result.variants}
    # early maps of a 448 input are pooled to the same 56x56 as the 224 reference's, but CKA stays blank
    assert all(layer.cka is None for layer in by["big"].layers)
    assert all(layer.cka is not None for layer in by["ref"].layers)
    alone = inspect(chelsea_signal, [variants[1]], model).variants[0]
    assert by["big"].top5[0].prob == pytest.approx(alone.top5[0].prob, abs=1e-5)


def _tiny_model():
    """A two-layer conv net wrapped as a LoadedModel: fast unit tests of the engine's hooks and statistics."""
    from torch import nn

    from core.models.registry import Layer, LoadedModel
    from core.models.specs import ModelSpec

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU6(),
                        nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6), nn.ReLU()).eval()
    net[1].running_mean.fill_(0.3)
    net[4].running_var.fill_(2.0)
    head = nn.Linear(6, 1000).eval()

    def intermediates(x):
        a = net[:3](x)
        b = net[3:](a)
        pooled = b.mean(dim=(2, 3))
        return [a, b], pooled, head(pooled)

    def pooled_logits(x):
        _, pooled, logits = intermediates(x)
        return pooled, logits

    spec = ModelSpec("tiny", "tiny", "random", False, "timm", "tf_efficientnet_lite0")
    layers = (Layer("one", net[1], 6.0), Layer("two", net[4], None))
    return LoadedModel(spec, net, "tiny test net", layers, net[0], 6, intermediates, pooled_logits), net


def test_bn_inputs_capture_the_norms_input_and_always_remove_their_hooks():
    from core.models import bn_inputs

    tiny, net = _tiny_model()
    x = torch.randn(2, 3, 8, 8)
    with bn_inputs(tiny) as captured:
        assert net[1]._forward_pre_hooks and net[4]._forward_pre_hooks
        tiny.forward_layers(x)
    assert torch.equal(captured["one"], net[0](x)) and set(captured) == {"one", "two"}
    assert not net[1]._forward_pre_hooks and not net[4]._forward_pre_hooks
    with pytest.raises(RuntimeError), bn_inputs(tiny):
        tiny.forward_layers(torch.randn(2, 5, 8, 8))  # wrong channel count: the forward fails
    assert all(not m._forward_pre_hooks for m in net.modules())


def test_engine_statistics_on_a_tiny_model_match_numpy():
    import core.inspect.engine as eng

    tiny, net = _tiny_model()
    batch = torch.randn(3, 3, 8, 8)
    per_layer, pooled, logits = eng._forward(tiny, batch)
    with torch.no_grad():
        a = net[:3](batch).numpy()
        b = net[3:](net[:3](batch)).numpy()
        bn_in = net[3](net[:3](batch))
    for i in range(3):
        st = per_layer[0]["stats"][i]
        y = a[i]
        assert st["mean"] == pytest.approx(y.mean(), abs=1e-6) and st["std"] == pytest.approx(y.std(), rel=1e-5)
        assert st["zero_fraction"] == pytest.approx((y == 0).mean())
        assert st["saturated_fraction"] == pytest.approx((y >= 6 - 1e-6).mean())
        assert st["dead_channel_fraction"] == pytest.approx((y.reshape(4, -1).max(1) <= 0).mean())
        assert st["l2_norm"] == pytest.approx(np.linalg.norm(y), rel=1e-5)
        assert per_layer[1]["stats"][i]["saturated_fraction"] == 0  # no ceiling declared for layer two
        assert per_layer[1]["stats"][i]["max"] == pytest.approx(b[i].max(), rel=1e-6)
    assert torch.allclose(per_layer[1]["bn_shift"], eng._bn_shift(bn_in, net[4]))
    assert pooled.shape == (3, 6) and logits.shape == (3, 1000)
