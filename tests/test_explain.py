"""Activation maps per variant: agreement, faithfulness, isolation of the shared model, CLI contract."""

import json
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.explain import InvalidCam, attach, explain
from core.explain.cam import METHODS, cam_maps
from core.explain.measures import auc, perturbation_curves, spearman, top_iou, top_mask
from core.inspect.engine import inspect
from core.preprocess.pipeline import prepare
from core.preprocess.variant import Resize, Variant
from core.signal import Signal


def _photo(name: str) -> Signal:
    from skimage import data

    return Signal(getattr(data, name)().astype(np.float32) / 255.0, {"name": name})


def _input(model, signal) -> torch.Tensor:
    return prepare(signal, [Variant()], model.mean, model.std)[0].tensor


def test_identical_variants_agree_perfectly_and_contract_keys(model, chelsea_signal):
    report = explain(chelsea_signal, [Variant(name="ref"), Variant(name="same")], model, method="gradcam")
    ref, same = report.variants
    assert report.layer == "head" and ref.class_label in {"tabby", "tiger cat", "Egyptian cat"}
    assert same.agreement_spearman == pytest.approx(1.0) and same.agreement_iou == 1.0
    assert np.array_equal(ref.map, same.map) and ref.map.shape == (224, 224) and ref.map.min() >= 0
    assert ref.deletion_curve[0] == pytest.approx(ref.class_prob, abs=1e-5)  # nothing deleted yet
    assert ref.insertion_curve[-1] == pytest.approx(ref.class_prob, abs=1e-5)  # everything inserted
    data = attach(inspect(chelsea_signal, [Variant(name="ref"), Variant(name="same")], model).to_dict(), report)
    assert set(data["variants"][1]["cam"]) >= {"method", "layer", "class_index", "agreement_spearman", "agreement_iou",
                                               "deletion_auc", "insertion_auc"}
    assert data["variants"][1]["cam"]["class_index"] == ref.class_index


def test_agreement_drops_for_a_horizontally_flipped_input(model, chelsea_signal):
    x = _input(model, chelsea_signal)
    maps = cam_maps(model, torch.stack([x, x, x.flip(-1)]), "head", [285] * 3)
    assert spearman(maps[0], maps[1]) == pytest.approx(1.0) and top_iou(maps[0], maps[1]) == 1.0
    flipped_rho, flipped_iou = spearman(maps[0], maps[2]), top_iou(maps[0], maps[2])
    assert flipped_rho < 0.9 and flipped_iou < 0.5
    # the map follows the content: flipping the flipped map back restores most of the agreement
    assert spearman(maps[0], maps[2][:, ::-1].copy()) > flipped_rho + 0.05


def test_every_method_gives_maps_for_mixed_input_sizes(model, chelsea_signal):
    variants = [Variant(name="ref"), Variant(name="small", resize=Resize(size=160)),
                Variant(name="gray", channels="replicate")]
    prepared = prepare(chelsea_signal, variants, model.mean, model.std)
    for method in METHODS:
        big = cam_maps(model, torch.stack([prepared[0].tensor, prepared[2].tensor]), "stage6", [285, 285], method)
        small = cam_maps(model, prepared[1].tensor[None], "stage6", [285], method)
        assert big.shape == (2, 224, 224) and small.shape == (1, 160, 160)
        assert np.isfinite(big).all() and big.min() >= 0 and big.max() > 0, method
        rho = spearman(big[0], small[0])  # resized to the reference's size first
        assert rho is not None and rho > 0.2, (method, rho)  # the same scene at two sizes: clearly related maps


def test_top_mask_and_auc_definitions():
    m = np.arange(100, dtype=np.float32).reshape(10, 10)
    mask = top_mask(m, 0.15)
    assert mask.sum() == 15 and mask.ravel()[-15:].all()
    assert top_iou(m, m[::-1].copy()) == 0.0
    assert auc(np.array([1.0, 1.0, 1.0])) == pytest.approx(1.0)
    assert auc(np.array([1.0, 0.0])) == pytest.approx(0.5)
    assert spearman(np.zeros((4, 4)), m[:4, :4]) is None


@pytest.mark.slow
def test_real_maps_delete_evidence_faster_than_random_maps(model):
    """Summed over the bundled color photos, deleting pixels in Grad-CAM's order lowers the top-1 probability
    faster (lower deletion AUC) than deleting them in the order of random maps of the same resolution."""
    real, random = [], []
    for name in ("chelsea", "coffee", "astronaut"):
        x = _input(model, _photo(name))
        c = int(model.features_and_logits(x[None])[1].argmax())
        real.append(auc(perturbation_curves(model, x, cam_maps(model, x[None], "head", [c])[0], c)[0]))
        for seed in range(3):
            g = torch.Generator().manual_seed(seed)
            r = F.interpolate(torch.rand(1, 1, 7, 7, generator=g), size=(224, 224), mode="bilinear")[0, 0].numpy()
            random.append(auc(perturbation_curves(model, x, r, c)[0]))
    assert np.mean(real) < np.mean(random)
    # ranking pixels by the inverted map (least salient first) keeps the evidence longest
    x = _input(model, _photo("coffee"))
    c = int(model.features_and_logits(x[None])[1].argmax())
    m = cam_maps(model, x[None], "head", [c])[0]
    assert auc(perturbation_curves(model, x, m, c)[0]) < auc(perturbation_curves(model, x, -m, c)[0])


def _shared_state_ok(module) -> list[str]:
    problems = []
    if module.training:
        problems.append("training mode")
    for name, p in module.named_parameters():
        if p.grad is not None:
            problems.append(f"grad on {name}")
        if p.requires_grad:
            problems.append(f"requires_grad on {name}")
    for name, m in module.named_modules():
        if m._forward_hooks or m._backward_hooks or getattr(m, "_forward_pre_hooks", None):
            problems.append(f"hook on {name}")
    return problems


@pytest.mark.slow
def test_cam_requests_leave_nothing_on_the_shared_model_under_concurrency(model, chelsea_signal, camera_signal):
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    variants = [Variant(name="rgb"), Variant(name="viridis", channels="colormap", colormap="viridis")]
    expected = {(s.digest, meth): [c.summary(meth, "stage7") for c in
                                   explain(s, variants, model, method=meth, layer="stage7").variants]
                for s in (chelsea_signal, camera_signal) for meth in ("gradcam", "eigencam")}
    seen, errors, results = [], [], []
    done = threading.Event()

    def watch() -> None:  # what another request (every forward holds the model's lock) sees while CAMs run
        while not done.is_set():
            with model.lock:
                seen.extend(_shared_state_ok(model.module))

    def cam_work(sig, meth):
        try:
            r = explain(sig, variants, model, method=meth, layer="stage7")
            results.append(((sig.digest, meth), [c.summary(meth, "stage7") for c in r.variants]))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    def inspect_work(sig):
        try:
            inspect(sig, variants, model)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=cam_work, args=(s, m)) for s in (chelsea_signal, camera_signal)
               for m in ("gradcam", "eigencam")]
    threads += [threading.Thread(target=inspect_work, args=(s,)) for s in (chelsea_signal, camera_signal)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    assert not errors and not seen, (errors, sorted(set(seen))[:5])
    assert len(results) == 4
    for key, got in results:
        assert got == expected[key]
    assert not _shared_state_ok(model.module)
    after = model.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_bad_requests_are_refused_with_a_sentence(model, chelsea_signal):
    with pytest.raises(InvalidCam, match="Unknown activation-map method"):
        explain(chelsea_signal, [Variant()], model, method="magic")
    with pytest.raises(InvalidCam, match="choose stem"):
        explain(chelsea_signal, [Variant()], model, layer="stage99")
    with pytest.raises(InvalidCam, match="out of range"):
        explain(chelsea_signal, [Variant()], model, target=1000)
    with pytest.raises(InvalidCam, match="'reference', 'own'"):
        explain(chelsea_signal, [Variant()], model, target="cat")


def test_own_and_fixed_targets(model, chelsea_signal):
    variants = [Variant(name="rgb"), Variant(name="turbo", channels="colormap", colormap="turbo")]
    own = explain(chelsea_signal, variants, model, method="eigencam", layer="stage7", target="own")
    tops = [r.top5[0].index for r in inspect(chelsea_signal, variants, model).variants]
    assert [v.class_index for v in own.variants] == tops
    fixed = explain(chelsea_signal, variants, model, method="eigencam", layer="stage7", target=967)
    assert {v.class_index for v in fixed.variants} == {967} and fixed.variants[0].class_label == "espresso"
    # EigenCAM does not depend on the class; its maps are the same whatever the target
    assert np.array_equal(own.variants[0].map, fixed.variants[0].map)


def test_cli_cam_adds_numbers_to_the_table_and_json(tmp_path, capsys):
    from PIL import Image
    from skimage import data

    from core.__main__ import main

    img = tmp_path / "coffee.png"
    Image.fromarray(data.coffee()).save(img)
    vs = tmp_path / "v.json"
    vs.write_text(json.dumps({"variants": [{"name": "rgb"}, {"name": "gray", "channels": "replicate"}]}))
    out = tmp_path / "r.json"
    assert main(["inspect", str(img), "--variants", str(vs), "--cam", "layercam", "--cam-layer", "stage7",
                 "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "CAM rho" in table and "deletion" in table and "LayerCAM at layer stage7" in table
    got = json.loads(out.read_text())
    cam = got["variants"][1]["cam"]
    assert (cam["method"], cam["layer"]) == ("layercam", "stage7")
    assert cam["class_index"] == got["variants"][0]["top5"][0]["index"]
    assert -1 <= cam["agreement_spearman"] <= 1 and 0 <= cam["agreement_iou"] <= 1
    assert 0 <= cam["deletion_auc"] <= 1 and 0 <= cam["insertion_auc"] <= 1
    assert main(["inspect", str(img), "--cam", "gradcam", "--cam-class", "banana"]) == 2
    assert "error: Target class 'banana'" in capsys.readouterr().err
