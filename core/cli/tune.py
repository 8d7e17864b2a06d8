"""``python -m core tune [--model NAME] [--again]``: the batch size sweeps use on this machine."""

from __future__ import annotations

import argparse

import torch

from core.cliutil import format_table
from core.evaluate.tuning import choose_batch, plan_layout, recorded, tuning_path
from core.models import DEFAULT_MODEL, load_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the tune sub-command's options on ``parser``."""
    parser.add_argument("--model", default=DEFAULT_MODEL, help="registered model (see `models`)")
    parser.add_argument("--again", action="store_true", help="measure again and record the new choice")


def run(args: argparse.Namespace) -> int:
    """Show the batch size a sweep uses for ``--model`` on this machine (measuring it the first time, or again
    with ``--again``), the candidates' times and the layout."""
    model = load_model(args.model)
    fresh = args.again or recorded(model) is None
    entry = choose_batch(model, again=args.again)
    print(f"model {entry['model']} on {entry['machine']}")
    print(f"batch {entry['batch']} ({'measured now' if fresh else 'recorded ' + entry['probed_at']}; "
          f"load average then {entry.get('load_average')})")
    print(format_table([[b, f"{ms:.2f}"] for b, ms in entry["ms_per_item"].items()], ["batch", "ms per item"]))
    print(f"metric: {entry['metric']}")
    print(f"layout for a sweep: {plan_layout(model.device, entry['batch'], 10**6).describe(model.device)}; "
          f"torch intra-op threads otherwise {torch.get_num_threads()}")
    print(f"recorded in {tuning_path()}")
    return 0
