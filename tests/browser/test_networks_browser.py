"""Your own network in headless Chromium: add one from the Networks page (uploaded safetensors checkpoint and
classes file), pick it as the sidebar's Model, see its own classes on Compare, remove it.
Screenshots: test-artifacts/screenshots/networks-added.png, networks-compare.png, networks-removed.png."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 240_000


def _checkpoint(tmp_path: Path) -> Path:
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    m = timm.create_model("resnet10t", pretrained=False, num_classes=2)
    path = tmp_path / "antbee.safetensors"
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(path))
    return path


def _shot(ui, name: str, height: int = 900) -> None:  # noqa: ANN001
    ui.page.set_viewport_size({"width": 1440, "height": height})
    ui.page.wait_for_timeout(800)
    ui.screenshot(name)
    ui.page.set_viewport_size({"width": 1440, "height": 1000})


def test_add_pick_compare_and_remove_a_network(ui, tmp_path: Path) -> None:  # noqa: ANN001
    ckpt = _checkpoint(tmp_path)
    classes = tmp_path / "classes.txt"
    classes.write_text("ants\nbees\n", encoding="utf-8")
    ui.open()
    ui.go("Networks")
    main = ui.page.locator('[data-testid="stMain"]')
    assert main.get_by_text("None yet").count() == 1
    main.get_by_role("textbox", name="Name", exact=True).fill("antbee")
    main.get_by_role("textbox", name="Architecture").fill("resnet10t")
    main.locator('[data-testid="stFileUploader"]').filter(has_text="Checkpoint").locator(
        'input[type="file"]').set_input_files(str(ckpt))
    main.locator('[data-testid="stFileUploader"]').filter(has_text="Classes file").locator(
        'input[type="file"]').set_input_files(str(classes))
    box = main.get_by_role("spinbutton", name="Input size (px, 0 = the architecture's)")
    box.fill("64")
    box.press("Tab")
    ui.page.wait_for_timeout(500)
    main.get_by_role("button", name="Check and add").click()
    main.get_by_text("Added antbee").wait_for(timeout=WAIT_MS)
    ui.wait_idle()
    ui.assert_no_exception()
    assert main.get_by_text("Your networks (1)").count() == 1
    assert main.get_by_text("Test forward (a uniform input at the mean)").count() == 1
    assert main.get_by_text("layer4").count() >= 1  # the layers table, from timm's feature_info
    _shot(ui, "networks-added", 1300)

    sidebar = ui.page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_role("combobox", name="Model").click()
    ui.page.get_by_role("option").filter(has_text="antbee").first.click()
    ui.page.wait_for_timeout(300)
    ui.wait_idle()
    assert "model=antbee" in ui.page.url  # links carry the network's name
    ui.go("Compare")
    main.get_by_text("bees").first.wait_for(timeout=WAIT_MS)
    ui.wait_idle()
    ui.assert_no_exception()
    text = main.inner_text()
    assert "ants" in text and "bees" in text  # the card's own classes, not ImageNet's
    assert "tabby" not in text
    _shot(ui, "networks-compare", 1300)

    ui.go("Networks")
    main.get_by_role("button", name="Remove").click()
    main.get_by_text("Removed network antbee").wait_for(timeout=30_000)
    ui.wait_idle()
    ui.assert_no_exception()
    assert main.get_by_text("None yet").count() == 1
    assert sidebar.get_by_text("efficientnet_lite0").count() >= 1  # the chosen model fell back to the default
    _shot(ui, "networks-removed")
