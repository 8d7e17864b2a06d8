"""``python -m core sweep``: accuracy of each variant on a labelled dataset, from the command line.

Usage: ``python -m core sweep --train PATH [--test PATH] [--preset NAME | --variants FILE]
[--method probe|adapter|zeroshot] [--model NAME] [--seed N] [--label-pattern REGEX] [--json OUT]``,
or ``--builtin digits|sounds`` instead of ``--train``. PATH is a folder or a zip. Prints a table
(variant, accuracy, 95% CI, macro, McNemar p, seconds) and a provenance line.
"""

from __future__ import annotations

import argparse
import sys

from core.cliutil import format_table
from core.errors import InvalidDataset
from core.evaluate.features import DEFAULT_BATCH
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
                             "stem + BatchNorm + head trained with early stopping, compared with probe")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="registered model (see `models`), or several separated by commas: a model x variant "
                             "table, each model's variants tested against its own reference")
    parser.add_argument("--adapt", choices=("bn",), default=None,
                        help="bn: also score each variant after re-estimating every BatchNorm's statistics on the "
                             "training side under that variant (AdaBN), with McNemar vs the unadapted run")
    parser.add_argument("--keep-size", action="store_true",
                        help="several models: keep the variants' resize size (default: each model's own input size)")
    parser.add_argument("--weights", metavar="STATE_DICT.pth", help="local state_dict for the architecture")
    parser.add_argument("--seed", type=int, default=0, help="split and training seed (default 0)")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="held-out fraction (default 0.2)")
    grp = parser.add_mutually_exclusive_group()
    grp.add_argument("--group-split", dest="group_split", action="store_true", default=None,
                     help="keep each group (e.g. speaker) on one side (default: automatic when groups exist)")
    grp.add_argument("--no-group-split", dest="group_split", action="store_false", help="stratified split only")
    parser.add_argument("--label-pattern", metavar="REGEX",
                        help="for flat folders: regex with named groups 'label' (and optionally 'group') "
                             "searched in the file name without extension")
    parser.add_argument("--cache-dir", metavar="DIR", help="feature cache (default $PREPSCOPE_CACHE_DIR or "
                                                           "~/.cache/prepscope/features)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH,
                        help=f"items per forward batch (default {DEFAULT_BATCH})")
    parser.add_argument("--n-per-class", type=int, default=20, help="built-in sounds per class (default 20)")
    parser.add_argument("--max-per-class", type=int, default=0, metavar="N",
                        help="use at most N items per class (a seeded subset; default 0 = all)")
    parser.add_argument("--json", metavar="OUT", help="write the full result as JSON ('-' for stdout)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _variants(args: argparse.Namespace, kind: str) -> list:
    from core.preprocess.presets import load_variant_set

    default = "spectrogram" if kind == "audio" else "channels"
    return load_variant_set(args.variants, args.preset, default)


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None or x != x else format(x, spec)


def sweep_table(result) -> str:
    """The human-readable sweep table: one row per variant, the reference first."""
    header = ["variant", "accuracy", "95% CI", "macro", "McNemar p", "seconds"]
    rows = []
    for i, v in enumerate(result.variants):
        rows.append([v.name + (" (ref)" if i == 0 else ""), _fmt(v.accuracy, ".3f"),
                     f"[{v.ci95[0]:.3f}, {v.ci95[1]:.3f}]", _fmt(v.macro_accuracy, ".3f"),
                     _fmt(v.mcnemar_p, ".3g"), f"{v.seconds:.1f}" + (" (cached)" if v.cached else "")])
    return format_table(rows, header)


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
    from core.cliutil import check_json_target, table_stream, write_json
    from core.evaluate.datasets import DatasetRequest, open_request
    from core.evaluate.sweep import evaluate_sweep
    from core.models import load_model

    check_json_target(args.json)
    if not 0 <= args.seed < 2**32:
        raise InvalidDataset(f"--seed must be between 0 and 2**32 - 1; got {args.seed}.")
    if not 0.0 < args.test_fraction < 1.0:
        raise InvalidDataset(f"--test-fraction must be between 0 and 1; got {args.test_fraction}.")
    if args.batch_size < 1:
        raise InvalidDataset(f"--batch-size must be at least 1; got {args.batch_size}.")
    if args.builtin and args.test:
        raise InvalidDataset("--test goes with --train, not with --builtin.")
    request = DatasetRequest(builtin=args.builtin, path=args.train, test_path=args.test,
                             label_pattern=args.label_pattern, per_class=args.max_per_class, seed=args.seed,
                             n_sounds=args.n_per_class)
    if "," in args.model:  # several models: core.evaluate.multimodel runs this sweep once per model
        from core.evaluate.multimodel import run_multi_sweep

        return run_multi_sweep(args, request)
    with open_request(request) as (train, test):
        variants = _variants(args, train.kind)
        model = load_model(args.model, args.weights)
        result = evaluate_sweep(
            train, variants, model, test=test, method=args.method, seed=args.seed,
            test_fraction=args.test_fraction, group_split=args.group_split, cache_dir=args.cache_dir,
            batch_size=args.batch_size, progress=_progress_printer(args.quiet), adapt=args.adapt,
        )
    out = table_stream(args.json)
    print(sweep_table(result), file=out)
    print(f"accuracy = micro; macro = mean per-class recall; 95% CI = Wilson; McNemar p = exact, vs the reference "
          f"on the same {result.variants[0].n_test} test items.", file=out)
    from core.evaluate.adabn import adapted_table
    from core.evaluate.finetune import probe_table

    for extra in (adapted_table(result), probe_table(result)):
        if extra:
            print(extra, file=out)
    print("provenance: " + result.provenance_line(), file=out)
    if result.split.overlap_warning():
        print(f"warning: {result.split.overlap_warning()}", file=sys.stderr)
    if args.json:
        write_json(args.json, result.to_dict())
    return 0
