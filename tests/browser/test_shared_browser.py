"""A server several people share (PREPSCOPE_SHARED=1), with two visitors in two browser contexts: A keeps a lab
denoiser, B cannot overwrite it nor delete a run; a run recorded from the command line on a folder outside the
data root is listed by name only (no thumbnails); no server path reaches the page; the server log has an audit
line for each training, saved model and recorded run. Screenshots: test-artifacts/screenshots/shared-*.png."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import ARTIFACTS, ROOT, UI, _clean_env, _python, running_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 240_000
LOG = "streamlit-shared-server.log"


def _images(folder: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for c, label in enumerate(("ants", "bees")):
        (folder / label).mkdir(parents=True)
        for i in range(4):
            im = np.clip(rng.normal(80 + 90 * c, 30, (48, 48, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(im).save(folder / label / f"{label}{i}.png")


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A shared server whose runs database holds one command-line run on a folder outside the data root."""
    home, root, private = tmp_path / "home", tmp_path / "data", tmp_path / "private" / "secret-photos"
    _images(root / "photos", 0)
    _images(private, 1)
    variants = tmp_path / "v.json"
    variants.write_text(json.dumps([{"name": "gray", "resize": {"size": 32}, "channels": "replicate"}]))
    env = {**_clean_env(), "PREPSCOPE_HOME": str(home), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([_python(), "-m", "core", "sweep", "--train", str(private), "--variants", str(variants),
                           "--cv", "2", "--batch", "8", "--quiet"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    with running_server(home, LOG, {"PREPSCOPE_SHARED": "1", "PREPSCOPE_DATA_ROOT": str(root)}) as url:
        yield url, home


def _main(ui: UI):  # noqa: ANN202 - playwright Locator
    return ui.page.locator('[data-testid="stMain"]')


def _train_single(ui: UI) -> None:
    ui.go("Autoencoder lab")
    ui.page.get_by_role("tab", name="Single noisy image").click()
    box = _main(ui).get_by_role("spinbutton", name="Steps per regime")
    box.fill("20")
    box.press("Enter")
    ui.page.wait_for_timeout(300)
    ui.wait_idle()
    _main(ui).get_by_role("button", name="Train the regimes").click()
    ui.page.wait_for_timeout(500)
    _main(ui).get_by_role("button", name="Save and use this denoiser in my variants").wait_for(timeout=WAIT_MS)
    ui.wait_idle()


def _shows_no_server_path(ui: UI, *folders: Path) -> None:
    text = ui.page.locator('[data-testid="stApp"]').inner_text()
    for secret in (*map(str, folders), os.fspath(ROOT)):
        assert secret not in text, secret


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_visitor_b_cannot_overwrite_a_model_nor_delete_a_run(browser, shared, tmp_path: Path) -> None:  # noqa: ANN001
    url, home = shared
    contexts = [browser.new_context(viewport={"width": 1440, "height": 900}) for _ in range(2)]
    try:
        a, b = (UI(c.new_page(), url) for c in contexts)
        a.open()
        _train_single(a)
        _main(a).get_by_role("button", name="Save and use this denoiser in my variants").click()
        _main(a).get_by_text("Added the variant").wait_for(timeout=WAIT_MS)
        a.wait_idle()
        weights = home / "models" / "plain-denoiser.pt"
        before = _digest(weights)

        b.open()
        _train_single(b)
        _main(b).get_by_role("button", name="Save and use this denoiser in my variants").click()
        refusal = _main(b).get_by_text("A model named 'plain-denoiser' already exists.")
        refusal.wait_for(timeout=WAIT_MS)
        assert "PREPSCOPE_SHARED=1" in refusal.inner_text()
        b.assert_no_exception()
        b.screenshot("shared-lab-overwrite-refused")
        assert _digest(weights) == before  # A's model is untouched
        b.page.get_by_role("tab", name="Learned grayscale").click()
        overwrite = _main(b).get_by_role("checkbox", name="Overwrite a model of the same name")
        assert overwrite.is_disabled()

        b.go("Runs")
        main = _main(b)
        main.get_by_text("Delete run #1").click()
        main.get_by_text("deleting runs is not possible from the dashboard").wait_for(timeout=30_000)
        assert main.get_by_role("button", name="Delete").is_disabled()
        assert main.get_by_role("checkbox", name="Yes, delete it from the runs database").is_disabled()
        main.get_by_text("listed by name only").first.wait_for(timeout=30_000)
        assert main.locator('[data-testid="stDataFrame"]').filter(has_text="ants0.png").count() >= 1
        b.screenshot("shared-runs-delete-refused")
        _shows_no_server_path(b, tmp_path, home)
        b.assert_no_exception()
        b.go("Accuracy")
        _shows_no_server_path(b, tmp_path, home)
        b.go("Autoencoder lab")
        _shows_no_server_path(b, tmp_path, home)
    finally:
        for c in contexts:
            c.close()
    log = (ARTIFACTS / LOG).read_text(errors="replace")
    assert log.count("prepscope.audit training started by visitor session=") == 2
    assert "prepscope.audit model saved by visitor session=" in log and "name='plain-denoiser'" in log
    assert log.count("prepscope.audit model saved") == 1  # B's attempt saved nothing
