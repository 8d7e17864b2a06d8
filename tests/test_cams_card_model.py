"""Activation maps with your own network (a card with two classes): the class target speaks of the card's classes,
not ImageNet's 1000, and the page opens with it (a 285 default would exceed a two-class head)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.preprocess.variant import Resize, Variant
from tests.apptest import ok, open_app

SIZE = 64
VARIANTS = [Variant(name="rgb", resize=Resize(size=SIZE)), Variant(name="gray", resize=Resize(size=SIZE),
                                                                  channels="replicate")]


@pytest.mark.slow
def test_compare_maps_with_a_two_class_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import timm
    from safetensors.torch import save_file

    from core.models.install import add_network

    monkeypatch.setenv("PREPSCOPE_HOME", str(tmp_path))
    monkeypatch.setenv("PREPSCOPE_NETWORKS_DIR", str(tmp_path / "networks"))
    m = timm.create_model("resnet10t", pretrained=False, num_classes=2)
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(tmp_path / "r.safetensors"))
    add_network("my-two", "resnet10t", tmp_path / "r.safetensors", ("ants", "bees"), input_size=SIZE)

    at = open_app("pages/compare.py", VARIANTS, model="my-two", compare_cam="1", compare_cam_target="class")
    ok(at)
    number = next(n for n in at.number_input if n.key == "compare_cam_class__widget")
    assert "ImageNet" not in number.label and number.value in (0, 1)
    target = next(s for s in at.selectbox if s.key == "compare_cam_target__widget")
    assert target.options and all("ImageNet" not in o for o in target.options)
    number.set_value(1).run()
    ok(at)
    assert any("bees" in str(c.value) for c in at.caption) or any(
        "bees" in str(d.value.to_string()) for d in at.dataframe)
