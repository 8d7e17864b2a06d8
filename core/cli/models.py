"""``python -m core models``: the registered models and their recipes."""

from __future__ import annotations

import argparse

from core.models import MODELS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``models`` takes no options."""


def run(args: argparse.Namespace) -> int:
    """One line per registered model: architecture, weights and recipe."""
    for spec in MODELS.values():
        dc = spec.data_config
        print(f"{spec.name:20s} {spec.architecture}; {spec.weights}; input {dc.input_size} px, {dc.interpolation}, "
              f"crop_pct {dc.crop_pct:g}, mean {list(dc.mean)}, std {list(dc.std)}")
    return 0
