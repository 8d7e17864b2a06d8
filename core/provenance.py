"""What produced a number: library versions, progress and stop conventions shared by long-running work."""

from __future__ import annotations

import platform
from collections.abc import Callable

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
    import numpy
    import PIL
    import sklearn
    import timm
    import torch
    import torchvision

    import core

    return {"prepscope": core.__version__, "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "timm": timm.__version__, "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__, "pillow": PIL.__version__}
