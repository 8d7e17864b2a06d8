"""``python -m core runs list | show ID [--json OUT] | delete ID``: the recorded sweeps, from the command line.

``show`` prints what the sweep printed (table, folds, notes, provenance) from the database, computing
nothing; ``--json`` writes the same structure as ``sweep --json``, with the same numbers.
"""

from __future__ import annotations

import argparse

from core.cliutil import check_json_target, format_table, table_stream, write_json
from core.evaluate.report import print_report
from core.evaluate.sweep import SweepResult
from core.runs import RunStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``runs list | show | delete`` on ``parser``."""
    sub = parser.add_subparsers(dest="runs_command", required=True)
    ls = sub.add_parser("list", help="recorded runs, newest first")
    ls.add_argument("--dataset", help="part of the dataset's name or source, or a digest prefix")
    ls.add_argument("--model", help="model name (exact)")
    ls.add_argument("--method", help="probe, adapter, zeroshot or finetune")
    ls.add_argument("--limit", type=int, default=50, help="at most this many runs (default 50)")
    show = sub.add_parser("show", help="print a recorded run (nothing is recomputed)")
    show.add_argument("id", type=int)
    show.add_argument("--json", metavar="OUT", help="write it as the sweep's JSON ('-' for stdout)")
    delete = sub.add_parser("delete", help="remove a recorded run")
    delete.add_argument("id", type=int)


def runs_table(summaries: list) -> str:
    """One row per run: id, when, origin, dataset, model, method, evaluation, test items, reference and best."""
    header = ["id", "created (UTC)", "from", "dataset", "model", "method", "evaluation", "n_test", "reference",
              "best"]
    rows = [[f"#{r.id}", r.created_utc.replace("T", " ").removesuffix("+00:00"), r.origin,
             f"{r.dataset_label} ({r.dataset_digest[:8]})", r.model, r.method,
             r.evaluation + (f" x{r.n_folds}" if r.n_folds > 1 else ""), str(r.n_test),
             f"{r.reference} {r.reference_accuracy:.3f}", f"{r.best} {r.best_accuracy:.3f}"] for r in summaries]
    return format_table(rows, header)


def run(args: argparse.Namespace) -> int:
    """Carry out the parsed ``runs`` command; refusals are RunsError sentences (exit 2 through ``python -m core``)."""
    store = RunStore()
    if args.runs_command == "list":
        runs = store.list(dataset=args.dataset, model=args.model, method=args.method, limit=max(1, args.limit))
        if not runs:
            print(f"no recorded runs in {store.path}" + (" match the filters" if args.dataset or args.model
                                                          or args.method else ""))
            return 0
        print(runs_table(runs))
        return 0
    if args.runs_command == "show":
        check_json_target(args.json)
        data = store.load_dict(args.id)
        result = SweepResult.from_dict(data)
        out = table_stream(args.json)
        print(f"run #{args.id}, recorded {store.created(args.id)}", file=out)
        print_report(result, out)
        if args.json:
            write_json(args.json, data)
        return 0
    store.delete(args.id)
    print(f"deleted run #{args.id} from {store.path}")
    return 0
