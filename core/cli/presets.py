"""``python -m core presets [NAME]``: list the presets, or print one as JSON (the format ``--variants`` reads)."""

from __future__ import annotations

import argparse
import json

from core.preprocess.presets import get_preset, preset_description, preset_names, preset_question


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``presets``' one optional argument."""
    parser.add_argument("name", nargs="?")


def run(args: argparse.Namespace) -> int:
    """Print the preset ``args.name`` as JSON, or list every preset."""
    if args.name:
        q = preset_question(args.name)
        extra = {} if q is None else {"question": q.question, "sample": q.sample, "look_for": q.look_for}
        data = {"description": preset_description(args.name), **extra, **get_preset(args.name).to_dict()}
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    for name in preset_names():
        vs = get_preset(name)
        first_sentence = preset_description(name).split(". ")[0].rstrip(".") + "."
        print(f"{name:16s} {len(vs):2d} variants  {first_sentence}")
    return 0
