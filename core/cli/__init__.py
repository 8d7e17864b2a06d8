"""The command line: ``python -m core inspect|presets|models|fields|sweep|tune|runs|jobs|check|networks|autoencode``.

One module per sub-command, each with ``HELP`` (its line in ``python -m core --help``), ``add_arguments(parser)``
and ``run(args) -> int`` (a command whose own sub-commands set ``func`` may leave ``run`` out). ``COMMANDS`` lists
them; only the chosen command's module is imported, so ``python -m core fields`` does not load torch. Adding a
command: one module here and one line in ``COMMANDS``.

A refused input (any PrepscopeError) exits with status 2 and one line ``error: <message>`` on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module

from core.errors import PrepscopeError

#: Sub-command -> (its module, its line in ``--help``), in the order ``--help`` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("core.cli.inspect", "compare variants on one image or sound"),
    "presets": ("core.cli.presets", "list presets, or print one as JSON"),
    "models": ("core.cli.models", "list registered models"),
    "fields": ("core.cli.fields", "every variant field: type, allowed values, default and help"),
    "sweep": ("core.cli.sweep", "accuracy of each variant on a labelled dataset"),
    "tune": ("core.cli.tune", "the batch size sweeps use on this machine (measured once per model)"),
    "runs": ("core.cli.runs", "recorded sweeps: list, show ID [--json OUT], delete ID"),
    "jobs": ("core.cli.jobs", "the dashboard's jobs (sweeps, checks, trainings): list [--json], stop ID"),
    "check": ("core.cli.check", "audit a labelled dataset: broken files, duplicates, leaks, label errors, "
                                "shortcuts, what the recipe does to it"),
    "networks": ("core.cli.networks", "your own networks: add NAME --arch ARCH --checkpoint FILE, list, show NAME, "
                                      "remove NAME"),
    "autoencode": ("core.cli.autoencode", "Autoencoder lab: a learned gray rule, or a CAE on one noisy image"),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser: every sub-command by name, and the full options of the one ``argv`` chooses (all of them when
    ``argv`` is None)."""
    chosen = None if argv is None else next((a for a in argv if a in COMMANDS), "")
    p = argparse.ArgumentParser(prog="python -m core", description="prepscope: what preprocessing does to a CNN.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, (module_name, line) in COMMANDS.items():
        parser = sub.add_parser(name, help=line)
        if chosen is None or name == chosen:
            module = import_module(module_name)
            module.add_arguments(parser)
            if hasattr(module, "run"):
                parser.set_defaults(func=module.run)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the process's arguments), run the command, return its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PrepscopeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader (e.g. `| head`) left early: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
