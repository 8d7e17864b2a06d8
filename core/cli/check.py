"""``python -m core check PATH [--test PATH] [--model M] [--preset NAME | --variants FILE] [--json OUT]
[--items-csv OUT] [--fail-on KINDS] [--engine inprocess|ray [--ray-address HOST:PORT]]``: audit a labelled dataset
and gate it in CI.

Prints the findings table (kind, count, severity, what was found, what to do) and the recipe's numbers. Exit
status: 0, or 1 when a kind named in ``--fail-on`` was found, or 2 with one ``error:`` line for unusable input.
"""

from __future__ import annotations

import argparse
import sys

from core.check.report import parse_kinds
from core.check.run import check_dataset
from core.cli.sweep import add_engine_arguments
from core.cliutil import check_json_target, format_table, progress_printer, table_stream, write_json, write_text
from core.errors import PrepscopeError
from core.evaluate.datasets import DatasetRequest, open_request
from core.evaluate.rayengine import engine_for
from core.models import DEFAULT_MODEL, load_model
from core.preprocess.presets import load_variant_set
from core.runs.store import RunStore, record_check


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the check sub-command's options on ``p``."""
    p.add_argument("path", nargs="?", help="dataset folder or zip (class subfolders, train/ + test/, or a flat "
                                           "folder named label_group_n.ext)")
    p.add_argument("--builtin", choices=("digits", "sounds"), help="a built-in dataset instead of PATH")
    p.add_argument("--test", metavar="PATH", help="a separate test folder or zip: leaks from train are searched")
    p.add_argument("--model", default=DEFAULT_MODEL, help="registered model (see `models`)")
    var = p.add_mutually_exclusive_group()
    var.add_argument("--preset", "--variant-set", dest="preset", help="named variant set whose recipe is checked "
                                                                      "(default: channels / spectrogram)")
    var.add_argument("--variants", metavar="FILE.json", help="variant set as JSON; the first is the reference")
    p.add_argument("--label-pattern", metavar="REGEX", help="for flat folders: regex with named groups 'label' "
                                                            "(and optionally 'group')")
    p.add_argument("--max-per-class", type=int, default=0, metavar="N", help="check at most N items per class "
                                                                             "(seeded subset; default 0 = all)")
    p.add_argument("--seed", type=int, default=0, help="folds and subsets seed (default 0)")
    p.add_argument("--metadata-only", action="store_true", help="skip the network (no label, outlier, "
                                                                "near-duplicate, leak-by-similarity, BN findings)")
    p.add_argument("--cache-dir", metavar="DIR", help="feature cache (default as for sweeps)")
    p.add_argument("--json", metavar="OUT", help="write the report as JSON ('-' for stdout)")
    p.add_argument("--items-csv", metavar="OUT", help="write one row per flagged item as CSV")
    p.add_argument("--fail-on", metavar="KINDS", help="comma-separated finding kinds (e.g. label,leakage,shortcut): "
                                                      "exit 1 when any is found")
    p.add_argument("--no-record", action="store_true", help="do not record the check in the runs database")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_engine_arguments(p)


def findings_table(report) -> str:  # noqa: ANN001 - CheckReport
    """The summary table people read: one row per finding."""
    if not report.findings:
        return "no findings"
    return format_table([[k, c, s, what] for k, c, s, what, _ in report.summary_rows()],
                        ["finding", "count", "severity", "what was found"])


def print_report(report, out) -> None:  # noqa: ANN001 - CheckReport, text stream
    ds = report.dataset
    test = f" + test {report.test['n_items']} items" if report.test else ""
    print(f"dataset: {ds['name']} ({ds['source']}), {ds['n_items']} {ds['kind']} items{test}, "
          f"classes {', '.join(f'{c} {n}' for c, n in ds['counts'].items())}; model {report.model}", file=out)
    print(findings_table(report), file=out)
    for f in report.findings:
        print(f"- {f.kind}: {f.action}.", file=out)
    for row in report.recipe.get("resize", []):
        print(f"recipe {row['variant']}: {row['fit']} to {row['size']} px (scaled to {row['scale_size']}); "
              f"{100 * row['upscaled_share']:.0f}% enlarged (median x{row['median_scale']:.2f}); "
              f"mean area cropped {100 * row['mean_area_lost']:.0f}%", file=out)
    ch = report.recipe.get("channels")
    if ch:
        print("channels: mean " + ", ".join(f"{x:.3f}" for x in ch["mean"]) + " / std "
              + ", ".join(f"{x:.3f}" for x in ch["std"]) + "; model mean "
              + ", ".join(f"{x:.3f}" for x in ch["model_mean"]) + " / std "
              + ", ".join(f"{x:.3f}" for x in ch["model_std"]), file=out)
    sc = report.recipe.get("shortcuts", {})
    if sc.get("fields"):
        print(f"metadata classifier (balanced accuracy, chance {sc['chance']:.2f}): all fields {sc['all_fields']:.2f}; "
              + ", ".join(f"{k} {v:.2f}" for k, v in sc["fields"].items()), file=out)
    shift = report.recipe.get("bn_shift")
    if shift:
        first = list(shift.items())
        print("dataset BN-shift per layer: " + ", ".join(f"{k} {v:.2f}" for k, v in first), file=out)
    for note in report.notes:
        print(f"note: {note}", file=out)
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report.seconds.items()), file=out)


def run(args: argparse.Namespace) -> int:
    """Run the check the parsed ``args`` describe; 1 when a ``--fail-on`` kind is present, else 0."""
    fail_on = parse_kinds(args.fail_on)
    check_json_target(args.json)
    check_json_target(args.items_csv)
    if (args.path is None) == (args.builtin is None):
        raise PrepscopeError("Give a dataset: a folder or zip PATH, or --builtin digits|sounds (not both).")
    if args.builtin and args.test:
        raise PrepscopeError("--test goes with a dataset PATH, not with --builtin.")
    engine = engine_for(args.engine, args.ray_address)
    request = DatasetRequest(builtin=args.builtin, path=args.path, test_path=args.test,
                             label_pattern=args.label_pattern, per_class=args.max_per_class, seed=args.seed)
    with open_request(request) as (train, test):
        variants = load_variant_set(args.variants, args.preset, "spectrogram" if train.kind == "audio" else "channels")
        model = load_model(args.model)
        report = check_dataset(train, test, list(variants), model, cache_dir=args.cache_dir,
                               progress=progress_printer(args.quiet), features=not args.metadata_only,
                               seed=args.seed, engine=engine)
    out = table_stream(args.json)
    if not args.no_record:
        store = RunStore()
        try:
            record_check(store, report, origin="cli")
        except PrepscopeError as e:
            print(f"warning: the check was not recorded: {e}", file=sys.stderr)
    print_report(report, out)
    if report.check_id is not None:
        print(f"recorded as check #{report.check_id} in {store.path}", file=out)
    if args.json:
        write_json(args.json, report.to_dict())
    if args.items_csv:
        write_text(args.items_csv, report.items_csv())
    failed = report.failed(fail_on)
    if failed:
        print(f"fail-on: found {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
