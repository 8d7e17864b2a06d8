"""Shared fixtures. Test data beside the project (../shared/data) is optional: tests that need it skip
with a clear reason when it is absent, except in CI (CI=true), where its absence is a failure."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, skipping (or failing in CI) when it is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        msg = f"test data {path} is missing (../shared/data beside the project)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


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
