"""Remedies and more networks: BatchNorm re-estimation, fine-tuning the stem, Lite1/Lite2, multi-model sweeps."""

import json

import numpy as np
import pytest
import torch

from core.evaluate.adabn import _tensors, adapt_bn, dataset_bn_shift, prepared_batches
from core.evaluate.datasets import DatasetRequest, open_request
from core.evaluate.finetune import _normalizer, _one_channel_stem, inputs_u8, train_finetune
from core.evaluate.sweep import evaluate_sweep
from core.inspect.engine import inspect
from core.models import load_model
from core.preprocess.pipeline import prepare
from core.preprocess.variant import Resize, Variant

CATS = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
GRAY = Variant(name="gray", channels="replicate")
SMALL = Resize(size=96)


@pytest.fixture
def digits(tmp_path, monkeypatch):
    monkeypatch.setenv("PREPSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PREPSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    with open_request(DatasetRequest(builtin="digits", per_class=4, seed=0)) as (train, _):
        yield train


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_lite1_and_lite2_predict_a_cat_and_an_espresso(name, chelsea_signal):
    from skimage import data

    from core.signal import Signal

    m = load_model(name)
    own = [Variant(resize=Resize(size=m.input_size))]
    assert m.input_size == {"efficientnet_lite1": 240, "efficientnet_lite2": 260}[name]
    assert inspect(chelsea_signal, own, m).variants[0].top5[0].label in CATS
    coffee = Signal(data.coffee().astype(np.float32) / 255.0, {"name": "coffee"})
    assert inspect(coffee, own, m).variants[0].top5[0].label in {"espresso", "cup"}


def test_adabn_keeps_shared_buffers_and_zeroes_the_bn_shift_on_training_data(model, digits):
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    idx = np.arange(len(digits))
    variant = GRAY.replace(resize=SMALL)

    def batches(size=16):
        return _tensors(prepared_batches(digits, idx, variant, model, size))

    shift_before = dataset_bn_shift(model.private_copy(), batches())
    twin = adapt_bn(model, batches(size=64))  # one batch: the estimate is the exact training statistic
    shift_after = dataset_bn_shift(twin, batches())
    after = model.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the shared model is untouched
    assert not torch.equal(twin.layers[0].norm.running_mean, model.layers[0].norm.running_mean)
    assert set(shift_after) == set(model.layer_names)
    assert shift_before["stem"] > 1.0  # gray digits are far from ImageNet statistics
    assert max(shift_after.values()) < 1e-3 < min(shift_before.values())
    assert not twin.module.training and not any(m._forward_pre_hooks for m in twin.module.modules())


@pytest.mark.slow
def test_sweep_with_bn_reestimation_reports_and_caches_the_adapted_run(model, digits, tmp_path):
    variants = [Variant(name="gray", resize=SMALL), GRAY.replace(name="viridis", channels="colormap",
                                                                  colormap="viridis", resize=SMALL)]
    first = evaluate_sweep(digits, variants, model, adapt="bn", cache_dir=tmp_path / "c", test_fraction=0.3)
    for v in first.variants:
        a = v.to_dict()["adapted"]
        assert 0 <= a["ci95"][0] <= a["accuracy"] <= a["ci95"][1] <= 1 and 0 < a["mcnemar_p_vs_unadapted"] <= 1
        assert a["n_adaptation_items"] == first.provenance["split"]["n_train"] and not a["cached"]
        assert max(a["bn_shift_after"].values()) < min(a["bn_shift_before"].values())
    assert "AdaBN" in first.provenance["method"]["adaptation"]
    again = evaluate_sweep(digits, variants, model, adapt="bn", cache_dir=tmp_path / "c", test_fraction=0.3)
    assert all(v.adapted["cached"] for v in again.variants)
    assert [v.adapted["accuracy"] for v in again.variants] == [v.adapted["accuracy"] for v in first.variants]
    from core.errors import InvalidDataset

    with pytest.raises(InvalidDataset, match="probe or zeroshot"):
        evaluate_sweep(digits, variants, model, adapt="bn", method="adapter", cache_dir=tmp_path / "c")


def test_one_channel_stem_starts_exactly_at_conv_sum(model, chelsea_signal):
    variant = Variant(name="conv-sum", channels="conv-sum")
    (p,) = prepare(chelsea_signal, [variant], model.mean, model.std)
    twin = model.private_copy()
    _one_channel_stem(twin)
    assert twin.first_conv.weight.shape[1] == 1 and model.first_conv.weight.shape[1] == 3
    gray = torch.from_numpy(p.display[..., 0].copy())[None, None]
    mean, std = _normalizer(variant, model)
    _, logits_one = twin.features_and_logits((gray - mean) / std)
    _, logits_ref = model.features_and_logits(p.tensor[None])
    assert torch.allclose(logits_one, logits_ref, atol=1e-3)


def test_finetune_is_deterministic_for_a_seed_and_leaves_the_model_alone(model, digits):
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    idx = np.arange(len(digits))
    variant = GRAY.replace(resize=Resize(size=64))
    x = inputs_u8(digits, idx, variant, model)
    y = digits.labels[idx]
    assert x.shape == (len(idx), 1, 64, 64) and x.dtype == torch.uint8
    runs = [train_finetune(model, x[:32], y[:32], x[32:], 10, variant, seed=3, max_epochs=2) for _ in range(2)]
    assert np.array_equal(runs[0][0], runs[1][0])
    assert runs[0][1]["history"] == runs[1][1]["history"] and runs[0][1]["epochs_run"] >= 1
    assert runs[0][1]["stem"].startswith("one-channel")
    other = train_finetune(model, x[:32], y[:32], x[32:], 10, variant, seed=4, max_epochs=2)
    assert other[1]["history"] != runs[0][1]["history"]  # the seed matters (order, validation part)
    after = model.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(not p.requires_grad and p.grad is None for p in model.module.parameters())


@pytest.mark.slow
def test_finetune_sweep_is_compared_with_probe_on_the_same_split(model, digits, tmp_path, monkeypatch):
    import core.evaluate.finetune as ft

    monkeypatch.setattr(ft, "MAX_EPOCHS", 1)
    variants = [Variant(name="rgb", resize=Resize(size=64)), GRAY.replace(name="gray", resize=Resize(size=64)),
                GRAY.replace(name="conv-sum", channels="conv-sum", resize=Resize(size=64))]
    r = evaluate_sweep(digits, variants, model, method="finetune", cache_dir=tmp_path / "c", test_fraction=0.3)
    d = r.to_dict()
    assert d["method"] == "finetune" and "LogisticRegression" in d["provenance"]["method"]["compared_with"]
    for v in d["variants"]:
        pr = v["details"]["probe"]
        assert 0 <= pr["accuracy"] <= 1 and 0 < pr["mcnemar_p_finetune_vs_probe"] <= 1
        assert v["details"]["best_epoch"] in (0, 1)
    # replicate and conv-sum give the same one-channel input: trained once, reported for both
    assert d["variants"][2]["details"]["same_input_as_earlier_variant"]
    assert d["variants"][2]["accuracy"] == d["variants"][1]["accuracy"]
    assert d["variants"][0]["details"]["stem"] == "three-channel"


def test_multi_model_sweep_table_and_json(digits, tmp_path):
    from core.evaluate.multimodel import evaluate_models, multi_table, parse_models

    names = parse_models("efficientnet_lite0, mobilenet_v3_small")
    models = [load_model(n) for n in names]
    variants = [Variant(name="ref", resize=SMALL), GRAY.replace(name="viridis", channels="colormap",
                                                                 colormap="viridis", resize=SMALL)]
    r = evaluate_models(digits, variants, models, cache_dir=tmp_path / "c", test_fraction=0.3)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["models"] == names and [v["model"] for v in d["variants"]] == [names[0]] * 2 + [names[1]] * 2
    assert [v["mcnemar_p"] is None for v in d["variants"]] == [True, False, True, False]  # each model's own ref
    assert {v["spec"]["resize"]["size"] for v in d["variants"]} == {224}  # each model's own input size
    kept = evaluate_models(digits, variants, models[:1], keep_size=True, cache_dir=tmp_path / "c", test_fraction=0.3)
    assert kept.results[0].variants[0].spec["resize"]["size"] == 96
    table = multi_table(r)
    assert "mobilenet_v3_small" in table and "viridis" in table
    from core.errors import InvalidDataset

    with pytest.raises(InvalidDataset, match="Unknown model"):
        parse_models("efficientnet_lite0,vgg")
