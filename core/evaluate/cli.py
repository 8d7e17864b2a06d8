"""``python -m core sweep``: accuracy of each variant on a labelled dataset, from the command line.

Usage: ``python -m core sweep --train PATH [--test PATH] [--preset NAME | --variants FILE]
[--method probe|adapter|zeroshot|finetune] [--adapt bn] [--cv K|groups|none|auto] [--model NAME[,NAME...]]
[--seed N] [--label-pattern REGEX] [--batch N|auto] [--json OUT] [--items-csv OUT]``, or ``--builtin digits|sounds``
instead of ``--train``. PATH is a folder or a zip. Prints a table (variant, accuracy, 95% CI, macro, McNemar p,
folds, fold test p, seconds; identical inputs as one row), per-fold accuracies under cross-validation,
the remedies' tables (BatchNorm re-estimation, finetune vs probe), notes on what this size can show, and a
provenance line; the run is recorded in the runs database. Several models (``--model a,b,c``,
``core.evaluate.multimodel``) print a model x variant table and record one run per model.
"""

from __future__ import annotations

import argparse
import sys

from core.cliutil import format_table
from core.errors import InvalidDataset, PrepscopeError
from core.evaluate.folds import CV_HELP
from core.evaluate.methods import METHODS
from core.models import DEFAULT_MODEL


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the sweep sub-command's options on ``parser``."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--train", metavar="PATH", help="dataset folder or zip (class subfolders, train/ + test/, "
                                                      "or a flat folder named label_group_n.ext)")
    src.add_argument("--builtin", choices=("digits", "sounds"), help="a built-in dataset instead of --train")
    parser.add_argument("--test", metavar="PATH", help="a separate test folder or zip (default: a held-out split)")
    var = parser.add_mutually_exclusive_group()
    var.add_argument("--preset", help="named variant set (see `presets`); default: channels for images, "
                                      "spectrogram for sounds")
    var.add_argument("--variants", metavar="FILE.json", help="variant set as JSON; the first is the reference")
    parser.add_argument("--method", choices=METHODS, default="probe",
                        help="probe: logistic regression on frozen features; adapter: learned 1x1 conv for "
                             "one-channel input; zeroshot: ImageNet classes named like the folders; finetune: "
                             "stem + BatchNorm + head trained with early stopping per fold, compared with probe")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="registered model (see `models`), or several separated by commas: a model x variant "
                             "table, each model's variants tested against its own reference, one run per model")
    parser.add_argument("--adapt", choices=("bn",), default=None,
                        help="bn: also score each variant after re-estimating every BatchNorm's statistics on each "
                             "fold's training side under that variant (AdaBN), with McNemar vs the unadapted run")
    parser.add_argument("--keep-size", action="store_true",
                        help="several models: keep the variants' resize size (default: each model's own input size)")
    parser.add_argument("--weights", metavar="STATE_DICT.pth", help="local state_dict for the architecture")
    parser.add_argument("--seed", type=int, default=0, help="split and training seed (default 0)")
    parser.add_argument("--cv", default="auto", metavar="K|groups|none|auto", help=CV_HELP + " (default auto)")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="held-out fraction (default 0.2)")
    grp = parser.add_mutually_exclusive_group()
    grp.add_argument("--group-split", dest="group_split", action="store_true", default=None,
                     help="keep each group (e.g. speaker) on one side (default: automatic when groups exist)")
    grp.add_argument("--no-group-split", dest="group_split", action="store_false", help="stratified split only")
    parser.add_argument("--label-pattern", metavar="REGEX",
                        help="for flat folders: regex with named groups 'label' (and optionally 'group') "
                             "searched in the file name without extension")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="feature cache (default $PREPSCOPE_CACHE_DIR, else $PREPSCOPE_HOME/features, else "
                             "~/.cache/prepscope/features)")
    parser.add_argument("--batch", "--batch-size", dest="batch", type=batch_value, default="auto", metavar="N|auto",
                        help="items per batch; auto (default) = measured once per model and machine and recorded in "
                             "$PREPSCOPE_HOME/tuning.json (python -m core tune shows or redoes it)")
    parser.add_argument("--n-per-class", type=int, default=20, help="built-in sounds per class (default 20)")
    parser.add_argument("--max-per-class", type=int, default=0, metavar="N",
                        help="use at most N items per class (a seeded subset; default 0 = all)")
    parser.add_argument("--json", metavar="OUT", help="write the full result as JSON ('-' for stdout)")
    parser.add_argument("--items-csv", metavar="OUT", help="write per-item evidence as CSV (one row per item and "
                                                           "variant: label, prediction, confidence, fold)")
    parser.add_argument("--no-record", action="store_true", help="do not record the run in the runs database "
                                                                 "($PREPSCOPE_HOME/runs.sqlite)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def batch_value(text: str) -> int | str:
    """``--batch``: ``auto`` or a whole number of at least 1."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'auto', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _variants(args: argparse.Namespace, kind: str) -> list:
    from core.preprocess.presets import load_variant_set

    default = "spectrogram" if kind == "audio" else "channels"
    return load_variant_set(args.variants, args.preset, default)


def _fmt(x: float | None, spec: str) -> str:
    return "—" if x is None or x != x else format(x, spec)


def sweep_table(result) -> str:
    """The human-readable sweep table: one row per variant, variants with identical inputs as one row
    (``a = b``), the reference first; under cross-validation the folds' range and the paired test across folds."""
    from core.evaluate.sameinput import display_rows

    cv = result.cross_validated
    header = ["variant", "accuracy", "95% CI", "macro", "McNemar p"] + (["folds min-max", "fold test p"] if cv
                                                                         else []) + ["seconds"]
    rows = []
    names = [v.name for v in result.variants]
    for label, i, members in display_rows(names, [g["variants"] for g in result.identical]):
        v = result.variants[i]
        ref = 0 in members
        row = [label + (" (ref)" if ref else ""), _fmt(v.accuracy, ".3f"), f"[{v.ci95[0]:.3f}, {v.ci95[1]:.3f}]",
               _fmt(v.macro_accuracy, ".3f"), "—" if ref else _fmt(v.mcnemar_p, ".3g")]
        if cv:
            spread = v.fold_spread
            row += [f"{spread['min']:.3f}-{spread['max']:.3f}", "—" if ref else _fmt(v.fold_test_p, ".3g")]
        row.append(f"{v.seconds:.1f}" + (" (cached)" if v.cached else ""))
        rows.append(row)
    return format_table(rows, header)


def folds_table(result) -> str:
    """Accuracy of every fold (columns) per variant row (identical inputs as one row)."""
    from core.evaluate.sameinput import display_rows

    names = [v.name for v in result.variants]
    header = ["variant"] + [f"{f['name']} (n={f['n_test']})" for f in result.folds]
    rows = [[label] + [f"{f['accuracy']:.3f}" for f in result.variants[i].folds]
            for label, i, _ in display_rows(names, [g["variants"] for g in result.identical])]
    return format_table(rows, header)


def print_report(result, out) -> None:  # noqa: ANN001 - SweepResult, text stream
    """Everything a person reads about a sweep: table, per-fold table, conventions, the remedies' tables
    (BatchNorm re-estimation, finetune vs probe), identical inputs, notes, provenance (``python -m core sweep``
    and ``runs show`` print the same)."""
    print(sweep_table(result), file=out)
    n = result.variants[0].n_test
    if result.cross_validated:
        k = len(result.folds)
        print(f"accuracy = micro, pooled over {k} folds (each of the {n} items tested once); macro = mean per-class "
              f"recall; 95% CI = Wilson; McNemar p = exact, vs the reference on the same {n} items; fold test p = "
              f"Wilcoxon signed-rank on the {k} per-fold accuracy differences vs the reference.", file=out)
        print("\nper-fold accuracy:", file=out)
        print(folds_table(result), file=out)
    else:
        print(f"accuracy = micro; macro = mean per-class recall; 95% CI = Wilson; McNemar p = exact, vs the reference "
              f"on the same {n} test items.", file=out)
    if any(v.adapted for v in result.variants):
        from core.evaluate.adabn import adapted_table

        print("\nBatchNorm re-estimation (AdaBN), same items:", file=out)
        print(adapted_table(result), file=out)
    if result.method == "finetune":
        from core.evaluate.finetune import probe_table

        print("\nfinetune vs the linear probe, same items:", file=out)
        print(probe_table(result), file=out)
    for g in result.identical:
        print(f"same input: {g['reason']}", file=out)
    for note in result.notes:
        print(f"note: {note}", file=out)
    print("provenance: " + result.provenance_line(), file=out)


def _progress_printer(quiet: bool):
    if quiet:
        return None
    last = [-1]
    tty = sys.stderr.isatty()

    def show(fraction: float, message: str) -> None:
        pct = int(fraction * 100)
        if tty and pct != last[0]:
            last[0] = pct
            print(f"\r[{pct:3d}%] {message[:90]:<90}", end="", file=sys.stderr, flush=True)
            if fraction >= 1.0:
                print(file=sys.stderr)
        elif not tty and pct // 10 != last[0]:  # a log file gets one line per 10%
            last[0] = pct // 10
            print(f"[{pct:3d}%] {message}", file=sys.stderr, flush=True)

    return show


def run_sweep(args: argparse.Namespace) -> int:
    """Run the sweep the parsed ``args`` describe; print the table and provenance; return 0.

    Refusals (unusable dataset or archive, unknown preset or model, unmatched zero-shot class) raise
    PrepscopeError subclasses, which ``python -m core`` reports as one ``error:`` line with exit 2.
    """
    from core.cliutil import check_json_target, table_stream
    from core.evaluate.datasets import DatasetRequest, open_request
    from core.evaluate.folds import normalize_cv
    from core.evaluate.sweep import evaluate_sweep
    from core.models import load_model
    from core.runs import RunStore

    check_json_target(args.json)
    check_json_target(args.items_csv)
    if not 0 <= args.seed < 2**32:
        raise InvalidDataset(f"--seed must be between 0 and 2**32 - 1; got {args.seed}.")
    if not 0.0 < args.test_fraction < 1.0:
        raise InvalidDataset(f"--test-fraction must be between 0 and 1; got {args.test_fraction}.")
    if args.builtin and args.test:
        raise InvalidDataset("--test goes with --train, not with --builtin.")
    cv = normalize_cv(args.cv)
    request = DatasetRequest(builtin=args.builtin, path=args.train, test_path=args.test,
                             label_pattern=args.label_pattern, per_class=args.max_per_class, seed=args.seed,
                             n_sounds=args.n_per_class)
    if "," in args.model:  # several models: core.evaluate.multimodel runs this sweep once per model
        from core.evaluate.multimodel import run_multi_sweep

        return run_multi_sweep(args, request, cv)
    with open_request(request) as (train, test):
        variants = _variants(args, train.kind)
        model = load_model(args.model, args.weights)
        result = evaluate_sweep(
            train, variants, model, test=test, method=args.method, seed=args.seed,
            test_fraction=args.test_fraction, group_split=args.group_split, cv=cv, cache_dir=args.cache_dir,
            batch_size=args.batch, progress=_progress_printer(args.quiet), adapt=args.adapt,
        )
    if not args.no_record:
        store = RunStore()
        try:
            store.record(result, origin="cli")
        except PrepscopeError as e:
            print(f"warning: the run was not recorded: {e}", file=sys.stderr)
    out = table_stream(args.json)
    print_report(result, out)
    if result.run_id is not None:
        print(f"recorded as run #{result.run_id} in {store.path} (python -m core runs show {result.run_id})", file=out)
    write_outputs(args, result, result.provenance["split"])
    return 0


def write_outputs(args: argparse.Namespace, result, split: dict) -> None:  # noqa: ANN001 - (Multi)SweepResult
    """After the printed report: the overlap warning on stderr, then ``--json`` and ``--items-csv``."""
    from core.cliutil import write_json, write_text
    from core.evaluate.folds import overlap_warning

    overlap = overlap_warning(split)
    if overlap:
        print(f"warning: {overlap}", file=sys.stderr)
    if args.json:
        write_json(args.json, result.to_dict())
    if args.items_csv:
        write_text(args.items_csv, result.items_csv())


def add_tune_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the tune sub-command's options on ``parser``."""
    parser.add_argument("--model", default=DEFAULT_MODEL, help="registered model (see `models`)")
    parser.add_argument("--again", action="store_true", help="measure again and record the new choice")


def run_tune(args: argparse.Namespace) -> int:
    """Show the batch size a sweep uses for ``--model`` on this machine (measuring it the first time, or again
    with ``--again``), the candidates' times and the layout."""
    import torch

    from core.evaluate.tuning import choose_batch, plan_layout, recorded, tuning_path
    from core.models import load_model

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
