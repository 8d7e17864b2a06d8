"""Shared fixtures. Test data beside the project (../shared/data) is optional on a developer's machine:
tests that need it skip with the reason when it is absent, except in CI (CI=true), where its absence is
a failure. ``shared_data`` is the one way tests locate it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def missing(what: str) -> None:
    """Skip (or, in CI, fail) because something the test needs is not on this machine."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (required in CI)")
    pytest.skip(what)


#: The batch size every test's home has on record for every model, so ``batch_size="auto"`` (the default) does not
#: measure it in each test (tests/test_features.py measures it where that is the point).
SEEDED_BATCH = 8


def seed_tuning(home: Path) -> None:
    """Record ``SEEDED_BATCH`` for every registered model on this machine's CPU under ``home``."""
    import json

    import torch

    from core.evaluate.tuning import TUNING_VERSION, machine_key
    from core.models import MODELS

    key = machine_key(torch.device("cpu"))
    entries = {f"{key} | {name}": {"batch": SEEDED_BATCH, "ms_per_item": {}, "metric": "seeded by tests/conftest.py",
                                   "machine": key, "model": name, "probed_at": "test", "load_average": None}
               for name in MODELS}
    (home / "tuning.json").write_text(json.dumps({"version": TUNING_VERSION, "entries": entries}), encoding="utf-8")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own PREPSCOPE_HOME (runs database, default feature cache, batch-size record), never the
    user's; the record holds ``SEEDED_BATCH``."""
    home = tmp_path_factory.mktemp("prepscope-home")
    monkeypatch.setenv("PREPSCOPE_HOME", str(home))
    monkeypatch.delenv("PREPSCOPE_CACHE_DIR", raising=False)
    seed_tuning(home)
    return home


@pytest.fixture(scope="session")
def shared_data() -> Callable[..., Path]:
    """``shared_data("fsdd", "3_jackson_0.wav")``: a path under ../shared/data, or skip/fail when missing."""

    def locate(*parts: str) -> Path:
        path = SHARED_DATA.joinpath(*parts)
        if not path.exists():
            missing(f"test data {path} is missing (../shared/data beside the project)")
        return path

    return locate


@pytest.fixture(scope="session")
def model():
    from core.models import load_model

    return load_model("efficientnet_lite0")


@pytest.fixture(scope="session")
def chelsea_signal():
    from skimage import data

    from core.signal import Signal

    return Signal(data.chelsea().astype(np.float32) / 255.0, {"name": "chelsea"})


@pytest.fixture(scope="session")
def camera_signal():
    from skimage import data

    from core.signal import Signal

    return Signal(data.camera().astype(np.float32) / 255.0, {"name": "camera"})
