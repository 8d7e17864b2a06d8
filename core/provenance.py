"""What produced a number: library versions, progress and stop conventions shared by long-running work."""

from __future__ import annotations

import platform
from collections.abc import Callable

import numpy as np
import PIL

import core
from core.errors import PrepscopeError

#: ``progress(fraction in [0, 1], message)``: called as long work advances.
Progress = Callable[[float, str], None]
#: ``should_stop()``: polled between units of long work; True stops it.
StopCheck = Callable[[], bool]


class Stopped(PrepscopeError):
    """The user stopped long work (a sweep, a training run). Nothing partial is kept; what earlier runs
    cached stays cached."""


def versions() -> dict[str, str]:
    """Versions of prepscope and of every library that shapes its numbers."""
    # torch and torchvision are read when a record is written: every floor imports this module, and the dashboard's
    # first paint must not load torch (timm and scikit-learn are on the TID253 list).
    import sklearn
    import timm
    import torch  # noqa: PLC0415
    import torchvision  # noqa: PLC0415

    return {"prepscope": core.__version__, "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "timm": timm.__version__, "numpy": np.__version__,
            "scikit-learn": sklearn.__version__, "pillow": PIL.__version__}
