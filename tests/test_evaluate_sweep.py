"""Sweeps end to end: probe accuracy, the on-disk feature cache, stopping, zero-shot, adapter, baselines, CLI."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from core.errors import InvalidDataset
from core.evaluate.datasets import builtin_digits, builtin_sounds, open_dataset
from core.evaluate.sweep import evaluate_sweep
from core.preprocess.variant import Resize, Spectrogram, Variant, VariantSet
from core.provenance import Stopped

SMALL = [Variant(name="gray", resize=Resize(size=64), channels="replicate"),
         Variant(name="jet", resize=Resize(size=64), channels="colormap", colormap="jet")]


@pytest.fixture(scope="module")
def digits_small():
    return builtin_digits().sample_per_class(16, seed=0)  # 160 items


def _count_forwards(model, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the items that go through the network (a sweep's streams call ``pooled_features`` from several threads;
    ``features_and_logits`` is the single-call forward)."""
    calls = [0]
    lock = threading.Lock()

    def counting(name: str):
        real = getattr(model, name)

        def counted(x):
            with lock:
                calls[0] += len(x)
            return real(x)
        return counted

    monkeypatch.setattr(model, "features_and_logits", counting("features_and_logits"))
    monkeypatch.setattr(model, "pooled_features", counting("pooled_features"))
    return calls


@pytest.mark.slow
def test_probe_beats_chance_widely_on_digits_and_a_repeat_hits_the_cache(
    digits_small, model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_forwards(model, monkeypatch)
    seen: list[float] = []
    first = evaluate_sweep(digits_small, SMALL, model, cache_dir=tmp_path, seed=0,
                           progress=lambda f, m: seen.append(f))
    assert calls[0] == 2 * len(digits_small)  # every item once per variant, nothing else
    ref = first.variants[0]
    assert ref.n_test == 32 and ref.accuracy >= 0.6 and ref.ci95[0] > 0.3  # chance is 0.1
    assert ref.mcnemar_p is None and 0.0 <= first.variants[1].mcnemar_p <= 1.0
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert len(list(tmp_path.glob("*.pooled.npy"))) == 2 and not list(tmp_path.glob("*.tmp*"))

    second = evaluate_sweep(digits_small, SMALL, model, cache_dir=tmp_path, seed=0)
    assert calls[0] == 2 * len(digits_small)  # no forward pass the second time
    assert [v.cached for v in second.variants] == [True, True]
    for a, b in zip(first.variants, second.variants, strict=True):
        assert (a.accuracy, a.ci95, a.confusion, a.mcnemar_p) == (b.accuracy, b.ci95, b.confusion, b.mcnemar_p)
    prov = second.provenance
    assert prov["split"]["kind"] == "stratified" and prov["split"]["n_test"] == 32 and prov["seed"] == 0
    assert prov["dataset"]["train"]["digest"] == digits_small.digest and prov["model"] == "efficientnet_lite0"
    assert "LogisticRegression(C=1.0" in prov["method"]["classifier"] and "torch" in prov["versions"]

    # another variant spec is a different cache entry; another seed re-splits but reuses features
    third = evaluate_sweep(digits_small, SMALL[:1], model, cache_dir=tmp_path, seed=5)
    assert calls[0] == 2 * len(digits_small) and third.provenance["split"]["seed"] == 5


def test_stop_between_batches_leaves_no_partial_cache(digits_small, model, tmp_path: Path) -> None:
    import re

    checks = [0]

    def stop_after_two() -> bool:
        checks[0] += 1
        return checks[0] > 2

    with pytest.raises(Stopped, match="Stopped after") as info:
        evaluate_sweep(digits_small, SMALL[:1], model, cache_dir=tmp_path, batch_size=32, should_stop=stop_after_two)
    done = int(re.search(r"Stopped after (\d+) of 160 items", str(info.value)).group(1))
    assert done % 32 == 0 and 64 <= done < 160  # between batches: the running ones finish, no new one starts
    assert checks[0] == 3
    assert not [p for p in tmp_path.glob("*") if p.is_file()]


def test_refusals_are_typed_and_say_what_to_do(digits_small, model, tmp_path: Path) -> None:
    with pytest.raises(InvalidDataset, match="Unknown method"):
        evaluate_sweep(digits_small, SMALL, model, method="knn", cache_dir=tmp_path)
    with pytest.raises(InvalidDataset, match="no match for '0'"):
        evaluate_sweep(digits_small, SMALL, model, method="zeroshot", cache_dir=tmp_path)
    assert not list(tmp_path.glob("*.npy"))


@pytest.mark.slow
def test_random_init_baseline_runs_with_the_probe(model, tmp_path: Path) -> None:
    from core.models import load_model

    baseline = load_model("resnet18")
    ds = builtin_digits().sample_per_class(8, seed=1)
    v = [Variant(name="gray", resize=Resize(size=32), channels="replicate")]
    res = evaluate_sweep(ds, v, baseline, cache_dir=tmp_path)
    assert res.provenance["model"] == "resnet18" and res.provenance["pretrained"] is False
    assert res.variants[0].n_test == 16 and 0.0 <= res.variants[0].accuracy <= 1.0
    assert "random init" in res.provenance["model_description"]


@pytest.mark.slow
def test_adapter_trains_deterministically_from_the_probe_start(model, tmp_path: Path) -> None:
    ds = builtin_digits().sample_per_class(8, seed=2)
    v = [Variant(name="gray", resize=Resize(size=32), channels="replicate"),
         Variant(name="viridis", resize=Resize(size=32), channels="colormap", colormap="viridis")]
    a = evaluate_sweep(ds, v, model, method="adapter", cache_dir=tmp_path, seed=3)
    b = evaluate_sweep(ds, v[:1], model, method="adapter", cache_dir=tmp_path, seed=3)
    assert a.variants[0].confusion == b.variants[0].confusion
    assert a.variants[0].details["conv_weight"] == b.variants[0].details["conv_weight"]
    # the colormap variant has the same one-channel input: the adapter replaces its channel strategy
    assert a.variants[1].details["same_one_channel_input_as_earlier_variant"] is True
    assert a.variants[1].mcnemar_p == 1.0
    assert a.variants[0].accuracy > 0.3  # chance is 0.1
    losses = a.variants[0].details["epoch_loss"]
    assert len(losses) == 2 and all(np.isfinite(losses))
    # batch "auto" is not measured for the adapter (its network runs in its own training loop): said so
    assert a.provenance["extraction"]["batch_choice"] == "fixed for the adapter"


def test_builtin_sounds_leave_one_group_out_by_default_or_use_a_grouped_split(model, tmp_path: Path) -> None:
    ds = builtin_sounds(n_per_class=3)  # three groups (recording conditions)
    spec = Spectrogram(n_fft=512, hop=256, n_mels=32)
    v = [Variant(name="gray", resize=Resize(size=32, fit="stretch"), channels="replicate", spectrogram=spec)]
    res = evaluate_sweep(ds, v, model, cache_dir=tmp_path)
    split = res.provenance["split"]
    assert split["kind"] == "leave-one-group-out" and split["n_folds"] == 3
    assert [f["test_groups"] for f in split["folds"]] == [["clean"], ["mild"], ["noisy"]]
    assert res.variants[0].n_test == split["n_test"] == len(ds) == sum(sum(r) for r in res.variants[0].confusion)
    assert [f["name"] for f in res.variants[0].folds] == ["clean", "mild", "noisy"]

    one = evaluate_sweep(ds, v, model, cache_dir=tmp_path, cv="none")
    split = one.provenance["split"]
    assert split["kind"] == "grouped"
    assert split["test_groups"] and not set(split["train_groups"]) & set(split["test_groups"])
    assert one.variants[0].n_test == split["n_test"] == sum(sum(r) for r in one.variants[0].confusion)


def test_fsdd_is_a_flat_folder_split_by_speaker(shared_data) -> None:
    fsdd = shared_data("fsdd")
    from core.evaluate.splits import make_split

    with open_dataset(fsdd) as src:
        ds = src.train
        assert ds.classes == [str(d) for d in range(10)] and len(ds) == 2500 and ds.kind == "audio"
        split = make_split(ds, seed=0)
        d = split.describe()
        assert d["kind"] == "grouped" and len(d["test_groups"]) == 1 and len(d["train_groups"]) == 4
        assert not set(d["train_groups"]) & set(d["test_groups"])


@pytest.mark.slow
def test_probe_and_zeroshot_on_real_photos(model, tmp_path: Path, shared_data) -> None:
    hym = shared_data("hymenoptera", "train")
    with open_dataset(hym) as src:
        ds = src.train.sample_per_class(30, seed=0)
        rgb = [Variant(name="rgb")]
        probe = evaluate_sweep(ds, rgb, model, cache_dir=tmp_path, seed=0)
        zs = evaluate_sweep(ds, rgb, model, method="zeroshot", cache_dir=tmp_path)
    assert probe.variants[0].n_test == 12 and probe.variants[0].accuracy >= 0.75  # chance 0.5
    assert zs.variants[0].n_test == 60 and zs.variants[0].accuracy >= 0.8
    assert zs.provenance["method"]["imagenet_matches"] == {"ants": ["ant"], "bees": ["bee"]}
    assert zs.provenance["split"]["kind"] == "all"


def test_cli_json_shape_and_refusal(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from core.__main__ import main
    vfile = tmp_path / "v.json"
    pair = VariantSet.of([Variant(name="gray", resize=Resize(size=32), channels="replicate"),
                          Variant(name="jet", resize=Resize(size=32), channels="colormap", colormap="jet")])
    vfile.write_text(pair.to_json(indent=2))
    out = tmp_path / "out.json"
    rc = main(["sweep", "--builtin", "digits", "--variants", str(vfile), "--max-per-class", "6", "--seed", "1",
               "--cache-dir", str(tmp_path / "cache"), "--json", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "gray (ref)" in text and "95% CI" in text and "provenance: model efficientnet_lite0" in text
    data = json.loads(out.read_text())
    names = [v["name"] for v in data["variants"]]
    assert names == ["gray", "jet"] and data["variants"][0]["mcnemar_p"] is None
    for v in data["variants"]:
        assert {"accuracy", "ci95", "n_test", "mcnemar_p", "seconds"} <= set(v)
        assert v["ci95"][0] <= v["accuracy"] <= v["ci95"][1] and v["n_test"] == 12
    assert isinstance(data["variants"][1]["mcnemar_p"], float)

    import zipfile

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("a/1.png", b"x")
        zf.writestr("../b/1.png", b"x")
    rc = main(["sweep", "--train", str(evil), "--cache-dir", str(tmp_path / "cache2")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ") and "outside the archive" in err[0]
    assert not (tmp_path / "cache2").exists()  # refused before anything is written
