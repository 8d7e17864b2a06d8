"""Every model a user can name: the built-in models (``core.models.specs``), then the valid network cards in the
networks folder (``core.models.networks``). No torch is imported, so the dashboard's sidebar lists them at once.
"""

from __future__ import annotations

from core.errors import UnknownModel
from core.models.networks import card_names, card_spec
from core.models.specs import MODELS, ModelSpec


def model_names() -> list[str]:
    """Registered model names, then the valid network cards in the networks folder (an unreadable card is listed
    only by the Networks page and ``networks list``, with its reason); the first is the default."""

    def valid(name: str) -> bool:
        try:
            card_spec(name)
        except UnknownModel:
            return False
        return True

    return [*MODELS, *(n for n in card_names() if n not in MODELS and valid(n))]


def model_spec(name: str) -> ModelSpec:
    """The spec of a built-in model or of a network card (``core.models.networks``)."""
    if name in MODELS:
        return MODELS[name]
    if name in card_names():
        return card_spec(name)
    raise UnknownModel(f"Unknown model {name!r}; available: {', '.join(model_names())}.")
