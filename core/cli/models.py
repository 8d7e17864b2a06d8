"""``python -m core models``: the registered models and their recipes."""

from __future__ import annotations

import argparse

from core.models import MODELS, model_spec
from core.models.networks import card_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``models`` takes no options."""


def run(args: argparse.Namespace) -> int:
    """One line per registered model (built-ins, then your networks' cards): architecture, weights and recipe."""
    for spec in [*MODELS.values(), *(model_spec(n) for n in card_names() if n not in MODELS)]:
        dc = spec.data_config
        print(f"{spec.name:20s} {spec.architecture}; {spec.weights}; input {dc.input_size} px, {dc.interpolation}, "
              f"crop_pct {dc.crop_pct:g}, mean {list(dc.mean)}, std {list(dc.std)}")
    return 0
