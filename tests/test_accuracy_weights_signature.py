"""The Accuracy page marks a result out of date when the weights behind a name change: a saved model a variant
uses, retrained under the same name, or a network added again from another checkpoint (the variant set, the model
names and every other setting are the same, so only the weights' digests can tell)."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.accuracy import changed_settings, weights_signature
from core.autoencode.gray import train_gray
from core.preprocess.variant import Variant, VariantSet
from tests.test_autoencode import TINY_GRAY, color_images


def test_retraining_a_saved_gray_model_marks_the_result_out_of_date() -> None:
    vs = VariantSet.of([Variant(name="ref", channels="replicate"),
                        Variant(name="lg", channels="replicate", gray="learned:g1")])
    plain = VariantSet.of([Variant(name="ref", channels="replicate")])
    assert weights_signature(plain, ["efficientnet_lite0"]) == {}  # nothing saved, a built-in network: no key
    train_gray(color_images(), "g1", TINY_GRAY)
    before = weights_signature(vs, ["efficientnet_lite0"])
    assert before == weights_signature(vs, ["efficientnet_lite0"])  # the same files: the same signature
    assert len(before["saved_models"]) == 1 and "g1" in before["saved_models"][0]
    train_gray(color_images(seed=5), "g1", TINY_GRAY, overwrite=True)
    after = weights_signature(vs, ["efficientnet_lite0"])
    assert changed_settings(before, after) == ["saved model weights"]


@pytest.mark.slow
def test_adding_a_network_again_from_other_weights_marks_the_result_out_of_date(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import timm
    import torch
    from safetensors.torch import save_file

    from core.models.install import add_network

    monkeypatch.setenv("PREPSCOPE_NETWORKS_DIR", str(tmp_path / "networks"))
    plain = VariantSet.of([Variant(name="ref")])
    signatures = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        m = timm.create_model("resnet10t", pretrained=False, num_classes=2)
        save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(tmp_path / f"r{seed}.safetensors"))
        add_network("my-two", "resnet10t", tmp_path / f"r{seed}.safetensors", ("ants", "bees"), input_size=64,
                    replace=seed > 0)
        signatures.append(weights_signature(plain, ["my-two"]))
    assert set(signatures[0]) == {"network_weights"}
    assert changed_settings(signatures[0], signatures[1]) == ["network weights"]
