"""Remedies and more networks: BatchNorm re-estimation, fine-tuning the stem, Lite1/Lite2, multi-model sweeps."""

import json

import numpy as np
import pytest
import torch

from core.evaluate.datasets import DatasetRequest, open_request
from core.evaluate.features import prepared_batches
from core.evaluate.methods.adabn import adapt_bn, batch_tensors, dataset_bn_shift
from core.evaluate.methods.finetune import _normalizer, _one_channel_stem, inputs_u8, train_finetune
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
        return batch_tensors(prepared_batches(digits, idx, variant, model, size))

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
    for v in first.to_dict()["variants"]:
        a = v["adapted"]
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
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    assert runs[0][1].dtype == np.float32 and ((runs[0][1] > 0) & (runs[0][1] <= 1)).all()
    assert runs[0][2]["history"] == runs[1][2]["history"] and runs[0][2]["epochs_run"] >= 1
    assert runs[0][2]["stem"].startswith("one-channel")
    other = train_finetune(model, x[:32], y[:32], x[32:], 10, variant, seed=4, max_epochs=2)
    assert other[2]["history"] != runs[0][2]["history"]  # the seed matters (order, validation part)
    after = model.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(not p.requires_grad and p.grad is None for p in model.module.parameters())


@pytest.mark.slow
def test_finetune_sweep_is_compared_with_probe_on_the_same_split(model, digits, tmp_path, monkeypatch):
    import core.evaluate.methods.finetune as ft

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
    from core.evaluate.multimodel import evaluate_models, parse_models
    from core.evaluate.report import multi_table

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


# ------------------------------------------------------------------ remedies within the sweep's evaluation (issue 12)


def test_adabn_under_cross_validation_adapts_each_fold_on_its_training_side_only(model, digits, tmp_path,
                                                                                  monkeypatch):
    import core.evaluate.methods.adabn as adabn
    from core.evaluate.folds import make_evaluation
    from core.evaluate.report import print_report
    from core.runs import RunStore

    calls = []
    real = adabn.prepared_batches

    def spy(dataset, indices, variant, model, batch_size, should_stop=None):
        if batch_size == adabn.ADABN_BATCH:  # the re-estimation pass (BN-shift passes use the sweep's batch)
            calls.append((variant.name, set(np.asarray(indices).tolist())))
        return real(dataset, indices, variant, model, batch_size, should_stop)

    monkeypatch.setattr(adabn, "prepared_batches", spy)
    variants = [GRAY.replace(resize=SMALL), Variant(name="viridis", channels="colormap", colormap="viridis",
                                                    resize=SMALL),
                GRAY.replace(name="conv-sum", channels="conv-sum", resize=SMALL)]  # = gray on one-channel data
    r = evaluate_sweep(digits, variants, model, adapt="bn", cv=2, batch_size=8, cache_dir=tmp_path / "c")
    ev = make_evaluation(digits, cv=2)
    assert r.cross_validated and len(r.folds) == 2
    # one re-estimation per fold and distinct variant, each on that fold's training items only
    assert [name for name, _ in calls] == ["gray", "gray", "viridis", "viridis"]
    for (_, used), fold in zip(calls, ev.folds * 2, strict=True):
        assert used == set(fold.train_idx.tolist()) and not used & set(fold.test_idx.tolist())
    y = r.labels
    for v in r.variants:
        a = v.adapted
        pred = np.array([r.classes.index(row["predicted"]) for row in a["items"]])
        assert len(pred) == len(r.items) == 40  # every item tested once, with an adapted prediction
        assert a["accuracy"] == pytest.approx(float((pred == y).mean()))  # pooled = mean over items
        assert [f["n_test"] for f in a["folds"]] == [f["n_test"] for f in r.folds]
        assert sum(f["n_correct"] for f in a["folds"]) == a["n_correct"]
        assert [f["n_adaptation_items"] for f in a["folds"]] == [len(f.train_idx) for f in ev.folds]
        assert a["fold_test_p_vs_unadapted"] is not None and all(0 < c["confidence"] <= 1 for c in a["items"])
    assert r.identical[0]["variants"] == ["gray", "conv-sum"]
    assert r.variants[2].adapted["same_input_as_earlier_variant"]
    assert r.variants[2].adapted["accuracy"] == r.variants[0].adapted["accuracy"]
    # recorded and read back exactly; `runs show` prints the adapted table from the database
    store = RunStore()
    rid = store.record(r, origin="cli")
    assert store.load(rid).to_dict() == r.to_dict()
    assert store.load_dict(rid)["variants"][1]["adapted"] == r.to_dict()["variants"][1]["adapted"]
    import io

    buf = io.StringIO()
    print_report(store.load(rid), buf)
    assert "BatchNorm re-estimation (AdaBN)" in buf.getvalue() and "fold test p" in buf.getvalue()
    # a repeat adapts nothing
    calls.clear()
    again = evaluate_sweep(digits, variants, model, adapt="bn", cv=2, batch_size=8, cache_dir=tmp_path / "c")
    assert calls == [] and all(v.adapted["cached"] for v in again.variants)
    assert [v.adapted["accuracy"] for v in again.variants] == [v.adapted["accuracy"] for v in r.variants]


def test_adabn_refuses_zero_shot_without_training_items_before_any_work(model, shared_data, tmp_path,
                                                                        monkeypatch):
    from core.errors import InvalidDataset
    from tests.test_evaluate_sweep import _count_forwards

    calls = _count_forwards(model, monkeypatch)
    request = DatasetRequest(path=str(shared_data("hymenoptera", "train")), per_class=3, seed=0)
    with open_request(request) as (ants_bees, _), pytest.raises(InvalidDataset, match="needs training items"):
        evaluate_sweep(ants_bees, [GRAY.replace(resize=SMALL)], model, adapt="bn", method="zeroshot",
                       cache_dir=tmp_path / "c")
    assert calls[0] == 0


@pytest.mark.slow
def test_finetune_under_cross_validation_pools_items_and_matches_the_probe_sweep(model, digits, tmp_path,
                                                                                 monkeypatch):
    import core.evaluate.methods.finetune as ft
    from core.runs import RunStore

    monkeypatch.setattr(ft, "MAX_EPOCHS", 1)
    size = Resize(size=64)
    variants = [Variant(name="rgb", resize=size), GRAY.replace(resize=size),
                GRAY.replace(name="conv-sum", channels="conv-sum", resize=size)]
    r = evaluate_sweep(digits, variants, model, method="finetune", cv=2, cache_dir=tmp_path / "c")
    probe = evaluate_sweep(digits, variants, model, method="probe", cv=2, cache_dir=tmp_path / "c")
    y = r.labels
    assert len(r.items) == 40 and [f["n_test"] for f in r.folds] == [20, 20]
    for v, p in zip(r.variants, probe.variants, strict=True):
        assert v.accuracy == pytest.approx(float((v.predicted == y).mean()))
        assert v.confidence.dtype == np.float32 and ((v.confidence > 0) & (v.confidence <= 1)).all()
        assert len(v.details["folds"]) == 2 and len(v.details["best_epoch"]) == 2
        pr = v.details["probe"]
        assert pr["accuracy"] == p.accuracy and [f["n_correct"] for f in pr["folds"]] == \
            [f["n_correct"] for f in p.folds]  # the same probe as a probe sweep on the same folds
        assert 0 < pr["mcnemar_p_finetune_vs_probe"] <= 1 and pr["fold_test_p_finetune_vs_probe"] is not None
    # gray strategies share one fine-tuned input: trained once, shown as one group with the reason
    assert r.identical == [{"variants": ["gray", "conv-sum"], "reason": r.identical[0]["reason"]}]
    assert "fine-tuning the same input" in r.identical[0]["reason"]
    rid = RunStore().record(r, origin="cli")
    back = RunStore().load(rid)
    assert back.to_dict() == r.to_dict() and back.variants[1].details["probe"] == r.variants[1].details["probe"]
    from core.evaluate.report import probe_table

    table = probe_table(back)
    assert "gray = conv-sum" in table and "fold test p" in table


@pytest.mark.slow
def test_multi_model_cli_records_one_run_per_model_and_every_entry_names_its_model(tmp_path, capsys):
    from core.__main__ import main
    from core.preprocess.variant import VariantSet

    vfile = tmp_path / "v.json"
    vfile.write_text(VariantSet.of([Variant(name="ref", resize=SMALL), GRAY.replace(
        name="viridis", channels="colormap", colormap="viridis", resize=SMALL)]).to_json())
    out = tmp_path / "multi.json"
    rc = main(["sweep", "--builtin", "digits", "--max-per-class", "4", "--variants", str(vfile), "--cv", "2",
               "--model", "efficientnet_lite0,mobilenet_v3_small", "--keep-size", "--cache-dir", str(tmp_path / "c"),
               "--json", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "recorded as runs #1, #2" in text and "fold test p" in text and "None" not in text
    data = json.loads(out.read_text())
    assert data["run_ids"] == [1, 2] and [r["run_id"] for r in data["runs"]] == [1, 2]
    assert [v["model"] for v in data["variants"]] == ["efficientnet_lite0"] * 2 + ["mobilenet_v3_small"] * 2
    assert all(len(v["items"]) == 40 and len(v["folds"]) == 2 for v in data["variants"])
    shown = tmp_path / "shown.json"
    assert main(["runs", "show", "2", "--json", str(shown)]) == 0
    run2 = json.loads(shown.read_text())
    assert [v["model"] for v in run2["variants"]] == ["mobilenet_v3_small"] * 2
    assert run2["variants"] == data["variants"][2:]  # the same numbers as the multi-model JSON
    assert run2["provenance"]["compared_models"]["models"] == ["efficientnet_lite0", "mobilenet_v3_small"]


def test_adabn_with_zero_shot_and_a_given_test_set_adapts_on_the_training_set(model, shared_data, tmp_path,
                                                                               monkeypatch):
    import core.evaluate.methods.adabn as adabn
    from core.evaluate.datasets import open_dataset

    extracted = []
    real = adabn.extract

    def spy(ds, *args, **kwargs):
        extracted.append(ds)
        return real(ds, *args, **kwargs)

    monkeypatch.setattr(adabn, "extract", spy)
    with open_dataset(str(shared_data("hymenoptera", "train"))) as opened:
        train, test = opened.train.sample_per_class(4, seed=0), opened.train.sample_per_class(3, seed=1)
        r = evaluate_sweep(train, [Variant(name="rgb", resize=SMALL)], model, test=test, method="zeroshot",
                           adapt="bn", cache_dir=tmp_path / "c")
    a = r.variants[0].adapted
    assert a["n_adaptation_items"] == len(train) == 8 and a["n_test"] == len(test) == 6 == len(a["items"])
    assert extracted == [test]  # zero-shot reads only the tested items' adapted logits
    assert a["fold_test_p_vs_unadapted"] is None and r.folds[0]["name"] == "test set"
