"""``python -m core sweep``: accuracy of each variant on a labelled dataset, from the command line.

Usage: ``python -m core sweep --train PATH [--test PATH] [--preset NAME | --variants FILE]
[--method probe|adapter|zeroshot|finetune] [--adapt bn] [--cv K|groups|none|auto] [--model NAME[,NAME...]]
[--seed N] [--label-pattern REGEX] [--batch N|auto] [--engine inprocess|ray [--ray-address HOST:PORT]] [--json OUT]
[--items-csv OUT]``, or ``--builtin digits|sounds``
instead of ``--train``. PATH is a folder or a zip. Prints a table (variant, accuracy, 95% CI, macro, McNemar p,
folds, fold test p, seconds; identical inputs as one row), per-fold accuracies under cross-validation,
the remedies' tables (BatchNorm re-estimation, finetune vs probe), notes on what this size can show, and a
provenance line; the run is recorded in the runs database. Several models (``--model a,b,c``,
``core.evaluate.multimodel``) print a model x variant table and record one run per model.
"""

from __future__ import annotations

import argparse
import sys

from core.cliutil import check_json_target, progress_printer, table_stream, write_json, write_text
from core.errors import InvalidDataset, PrepscopeError
from core.evaluate.datasets import DatasetRequest, open_request
from core.evaluate.folds import CV_HELP, normalize_cv, overlap_warning
from core.evaluate.methods import method_help, method_names
from core.evaluate.multimodel import evaluate_models, parse_models
from core.evaluate.rayengine import ENGINES, engine_for
from core.evaluate.report import adapted_table, multi_table, print_report, probe_table
from core.evaluate.sweep import evaluate_sweep
from core.models import DEFAULT_MODEL, load_model
from core.preprocess.presets import load_variant_set
from core.runs import RunStore, record_each


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument("--method", choices=method_names(), default="probe", help=method_help())
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
    add_engine_arguments(parser)


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """``--engine`` and ``--ray-address`` (sweep and check)."""
    parser.add_argument("--engine", choices=ENGINES, default="inprocess",
                        help="feature extraction: inprocess (default, this process's threads) or ray (Ray Data actors; "
                             "the same features, byte for byte)")
    parser.add_argument("--ray-address", metavar="HOST:PORT",
                        help="with --engine ray: the cluster's head (default $RAY_ADDRESS, else a local Ray instance "
                             "sized to this machine); scripts/ray_head.sh starts one on 127.0.0.1")


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
    default = "spectrogram" if kind == "audio" else "channels"
    return load_variant_set(args.variants, args.preset, default)


def run(args: argparse.Namespace) -> int:
    """Run the sweep the parsed ``args`` describe; print the table and provenance; return 0.

    Refusals (unusable dataset or archive, unknown preset or model, unmatched zero-shot class) raise
    PrepscopeError subclasses, which ``python -m core`` reports as one ``error:`` line with exit 2.
    """
    check_json_target(args.json)
    check_json_target(args.items_csv)
    if not 0 <= args.seed < 2**32:
        raise InvalidDataset(f"--seed must be between 0 and 2**32 - 1; got {args.seed}.")
    if not 0.0 < args.test_fraction < 1.0:
        raise InvalidDataset(f"--test-fraction must be between 0 and 1; got {args.test_fraction}.")
    if args.builtin and args.test:
        raise InvalidDataset("--test goes with --train, not with --builtin.")
    cv = normalize_cv(args.cv)
    engine = engine_for(args.engine, args.ray_address, args.weights)
    request = DatasetRequest(builtin=args.builtin, path=args.train, test_path=args.test,
                             label_pattern=args.label_pattern, per_class=args.max_per_class, seed=args.seed,
                             n_sounds=args.n_per_class)
    if "," in args.model:  # several models: core.evaluate.multimodel runs this sweep once per model
        return run_multi_sweep(args, request, cv, engine)
    with open_request(request) as (train, test):
        variants = _variants(args, train.kind)
        model = load_model(args.model, args.weights)
        result = evaluate_sweep(
            train, variants, model, test=test, method=args.method, seed=args.seed,
            test_fraction=args.test_fraction, group_split=args.group_split, cv=cv, cache_dir=args.cache_dir,
            batch_size=args.batch, progress=progress_printer(args.quiet), adapt=args.adapt, engine=engine,
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


def run_multi_sweep(args: argparse.Namespace, request: DatasetRequest, cv: str | int, engine=None) -> int:  # noqa: ANN001
    """``python -m core sweep --model a,b,c``: the sweep once per model, each recorded as its own run (unless
    ``--no-record``); print the model x variant table, the remedies' tables, notes and provenance."""
    names = parse_models(args.model)
    if args.weights:
        raise InvalidDataset("--weights applies to one model; give a single --model with it.")
    with open_request(request) as (train, test):
        variants = _variants(args, train.kind)
        models = [load_model(n) for n in names]
        result = evaluate_models(
            train, variants, models, keep_size=args.keep_size, test=test, method=args.method, seed=args.seed,
            test_fraction=args.test_fraction, group_split=args.group_split, cv=cv, cache_dir=args.cache_dir,
            batch_size=args.batch, progress=progress_printer(args.quiet), adapt=args.adapt, engine=engine)
    if not args.no_record:
        for warning in record_each(result.results, "cli"):
            print(f"warning: {warning}", file=sys.stderr)
    out = table_stream(args.json)
    print(multi_table(result), file=out)
    first = result.results[0]
    n_test = first.variants[0].n_test
    pooled = f"pooled over {len(first.folds)} folds, " if first.cross_validated else ""
    print(f"accuracy = micro, {pooled}on the same {n_test} test items for every model; macro = mean per-class recall; "
          "95% CI = Wilson; McNemar p = exact, vs the same model's reference"
          + ("; fold test p = Wilcoxon signed-rank across folds." if first.cross_validated else "."), file=out)
    for r in result.results:
        for extra in (adapted_table(r), probe_table(r)):
            if extra:
                print(f"\n{r.provenance['model']}:", file=out)
                print(extra, file=out)
    for r in result.results:
        for g in r.identical:
            print(f"same input ({r.provenance['model']}): {g['reason']}", file=out)
    for note in dict.fromkeys(n for r in result.results for n in r.notes):
        print(f"note: {note}", file=out)
    print("provenance: " + result.provenance_line(), file=out)
    if any(i is not None for i in result.run_ids):
        print("recorded as runs " + ", ".join(f"#{i}" for i in result.run_ids if i is not None)
              + " (python -m core runs show ID)", file=out)
    write_outputs(args, result, first.provenance["split"])
    return 0


def write_outputs(args: argparse.Namespace, result, split: dict) -> None:  # noqa: ANN001 - (Multi)SweepResult
    """After the printed report: the overlap warning on stderr, then ``--json`` and ``--items-csv``."""
    overlap = overlap_warning(split)
    if overlap:
        print(f"warning: {overlap}", file=sys.stderr)
    if args.json:
        write_json(args.json, result.to_dict())
    if args.items_csv:
        write_text(args.items_csv, result.items_csv())
