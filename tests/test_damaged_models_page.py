"""Damaged saved lab models in the dashboard: the Autoencoder lab lists them with the reason and never offers
them; a link that still names one leaves Compare with one error and a finished (failed) status, not a progress
line stuck at 5%."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.autoencode.single import SingleConfig, builtin_texture, lab_card, train_single
from core.learned import store
from core.preprocess.variant import Variant
from tests.apptest import ok, open_app, plain


@pytest.fixture
def damaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A models folder with an intact lab denoiser ``good`` and ``flipped``, whose weights lost a byte."""
    monkeypatch.setenv("PREPSCOPE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("PREPSCOPE_HOME", str(tmp_path / "home"))
    noisy, clean = builtin_texture(side=48)
    r = train_single(noisy, clean, ("plain",), SingleConfig(steps=2, width=4, bottleneck=2, crop=16, batch=2))
    for name in ("good", "flipped"):
        store.save(r.regime("plain").model, lab_card(r, "plain", name))
    w, _ = store.paths("flipped")
    data = bytearray(w.read_bytes())
    data[-20] ^= 0xFF
    w.write_bytes(bytes(data))
    return "good", "flipped"


def test_the_lab_lists_a_damaged_model_with_the_reason_and_does_not_offer_it(damaged: tuple[str, str]) -> None:
    at = open_app("pages/autoencoder_lab.py")
    ok(at)
    warning = [plain(w.value) for w in at.warning if "cannot be used" in w.value]
    assert len(warning) == 1 and "flipped" in warning[0] and "does not match its weights" in warning[0], warning
    assert list(at.selectbox(key="ael_m_pick").options) == ["good"]


@pytest.mark.slow
def test_compare_with_a_damaged_model_shows_one_error_and_a_failed_status(damaged: tuple[str, str]) -> None:
    at = open_app("pages/compare.py", [Variant(name="rgb"), Variant.from_dict(
        {"name": "dn", "denoise": [{"kind": "learned", "model": "flipped"}]})], sample="chelsea")
    ok(at)
    assert len(at.error) == 1 and "does not match its weights" in at.error[0].value
    status = [s for s in at.get("status")]
    assert status and all("%" not in s.label for s in status), [s.label for s in status]
    assert any("could not" in s.label.lower() for s in status), [s.label for s in status]
