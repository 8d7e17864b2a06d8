"""What a sweep's tables show, built once: the CLI prints them as text, pages wrap them as DataFrames.

One p-value formatter (``fmt_p``) and the tables of a sweep: the variant table, the per-fold table, BatchNorm
re-estimation vs unadapted, finetune vs probe, and the model x variant table of several models (the statistics
conventions are ``core.evaluate.scoring.CONVENTIONS``). Variants with identical inputs are one row
(``core.evaluate.sameinput.display_rows``).
"""

from __future__ import annotations

from core.cliutil import format_table
from core.evaluate.multimodel import MultiSweepResult, input_size
from core.evaluate.sameinput import display_rows
from core.evaluate.sweep import SweepResult


def fmt_p(p: float | None) -> str:
    """A p-value for a table cell: three significant digits, and "—" where there is none (the reference)."""
    return "—" if p is None or p != p else f"{p:.3g}"


def fmt_num(x: float | None, spec: str = ".3f") -> str:
    """A number for a table cell in ``spec`` (accuracies: three decimals), "—" where there is none."""
    return "—" if x is None or x != x else format(x, spec)


def table_rows(result: SweepResult) -> list[tuple[str, int, list[int]]]:
    """The rows every table of ``result`` shows, in order: (label, index of the row's first variant, indices of
    its members); variants with identical inputs are one row ``a = b`` (``core.evaluate.sameinput.display_rows``)."""
    return display_rows([v.name for v in result.variants], [g["variants"] for g in result.identical])


def sweep_table(result) -> str:
    """The human-readable sweep table: one row per variant, variants with identical inputs as one row
    (``a = b``), the reference first; under cross-validation the folds' range and the paired test across folds."""

    cv = result.cross_validated
    header = ["variant", "accuracy", "95% CI", "macro", "McNemar p"] + (["folds min-max", "fold test p"] if cv
                                                                         else []) + ["seconds"]
    rows = []
    for label, i, members in table_rows(result):
        v = result.variants[i]
        ref = 0 in members
        row = [label + (" (ref)" if ref else ""), fmt_num(v.accuracy, ".3f"), f"[{v.ci95[0]:.3f}, {v.ci95[1]:.3f}]",
               fmt_num(v.macro_accuracy, ".3f"), "—" if ref else fmt_p(v.mcnemar_p)]
        if cv:
            spread = v.fold_spread
            row += [f"{spread['min']:.3f}-{spread['max']:.3f}", "—" if ref else fmt_p(v.fold_test_p)]
        row.append(f"{v.seconds:.1f}" + (" (cached)" if v.cached else ""))
        rows.append(row)
    return format_table(rows, header)


def folds_table(result) -> str:
    """Accuracy of every fold (columns) per variant row (identical inputs as one row)."""

    header = ["variant"] + [f"{f['name']} (n={f['n_test']})" for f in result.folds]
    rows = [[label] + [f"{f['accuracy']:.3f}" for f in result.variants[i].folds]
            for label, i, _ in table_rows(result)]
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
        print("\nBatchNorm re-estimation (AdaBN), same items:", file=out)
        print(adapted_table(result), file=out)
    if result.method == "finetune":
        print("\nfinetune vs the linear probe, same items:", file=out)
        print(probe_table(result), file=out)
    for g in result.identical:
        print(f"same input: {g['reason']}", file=out)
    for note in result.notes:
        print(f"note: {note}", file=out)
    print("provenance: " + result.provenance_line(), file=out)


def adapted_rows(result) -> list[dict]:  # noqa: ANN001 - SweepResult
    """The rows of the BatchNorm re-estimation table, built once for the CLI and the page: per variant (identical
    inputs as one row) its label, whether it holds the reference, accuracy without and with re-estimation, the
    adapted interval, McNemar p between them, the fold test p (None without cross-validation) and the dataset
    BN-shift of the first and last named layer as (name, before, after); empty when nothing was adapted."""
    rows = []
    for label, i, members in table_rows(result):
        v = result.variants[i]
        a = v.adapted
        if not a:
            continue
        layers = list(a["bn_shift_before"] or {})
        rows.append({"label": label, "reference": 0 in members, "unadapted": v.accuracy, "adapted": a["accuracy"],
                     "ci95": a["ci95"], "mcnemar_p": a["mcnemar_p_vs_unadapted"],
                     "fold_p": a.get("fold_test_p_vs_unadapted"),
                     "shifts": [(n, a["bn_shift_before"][n], a["bn_shift_after"][n])
                                for n in ((layers[0], layers[-1]) if layers else ())]})
    return rows


def adapted_table(result) -> str | None:
    """The CLI's second table: per variant (identical inputs as one row), accuracy without and with
    re-estimation, McNemar p between them (and the fold test p under cross-validation), and the stem / head
    dataset BN-shift before -> after; None when the sweep adapted nothing."""

    cv = result.cross_validated
    rows = [[r["label"] + (" (ref)" if r["reference"] else ""), f"{r['unadapted']:.3f}", f"{r['adapted']:.3f}",
             f"[{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]", fmt_p(r["mcnemar_p"])]
            + ([fmt_p(r["fold_p"])] if cv else [])
            + ["  ".join(f"{n} {b:.3g}->{a:.3g}" for n, b, a in r["shifts"]) or "-"]
            for r in adapted_rows(result)]
    if not rows:
        return None
    return format_table(rows, ["variant", "unadapted", "BN re-est.", "95% CI", "McNemar p (vs unadapted)"]
                        + (["fold test p"] if cv else []) + ["dataset BN-shift before->after"])


def _epochs(details: dict) -> str:
    best, run = details.get("best_epoch"), details.get("epochs_run")
    if isinstance(best, list):
        return ",".join(map(str, best)) + " (per fold)"
    return f"{best}/{run}"


def probe_table(result) -> str | None:
    """The CLI's comparison table for finetune sweeps: per variant (identical inputs as one row), probe vs
    finetune with intervals and McNemar p between them (and the fold test p under cross-validation), the epoch
    kept and the stem; None for other methods."""

    if result.method != "finetune":
        return None
    cv = result.cross_validated
    rows = []
    for label, i, members in table_rows(result):
        v = result.variants[i]
        pr = v.details.get("probe") or {}
        if not pr:
            continue
        fold_p = pr.get("fold_test_p_finetune_vs_probe")
        rows.append([label + (" (ref)" if 0 in members else ""), f"{pr['accuracy']:.3f}",
                     f"[{pr['ci95'][0]:.3f}, {pr['ci95'][1]:.3f}]", f"{v.accuracy:.3f}",
                     f"[{v.ci95[0]:.3f}, {v.ci95[1]:.3f}]", fmt_p(pr["mcnemar_p_finetune_vs_probe"])]
                    + ([fmt_p(fold_p)] if cv else [])
                    + [_epochs(v.details), v.details.get("stem", "")])
    if not rows:
        return None
    return format_table(rows, ["variant", "probe", "95% CI", "finetune", "95% CI", "McNemar p (vs probe)"]
                        + (["fold test p"] if cv else []) + ["best epoch" + ("s" if cv else "/run"), "stem"])


def multi_table(result: MultiSweepResult) -> str:
    """The CLI's model x variant table (rows grouped by model, each model's reference first)."""


    cv = result.results[0].cross_validated
    adapted = any(v.adapted for r in result.results for v in r.variants)
    rows = []
    for r in result.results:
        for j, (label, i, members) in enumerate(table_rows(r)):
            v = r.variants[i]
            ref = 0 in members
            run = f" (run #{r.run_id})" if r.run_id is not None else ""
            row = [r.provenance["model"] + run if j == 0 else "", str(input_size(v.spec)),
                   label + (" (ref)" if ref else ""), fmt_num(v.accuracy),
                   f"[{v.ci95[0]:.3f}, {v.ci95[1]:.3f}]", fmt_num(v.macro_accuracy),
                   "—" if ref else fmt_p(v.mcnemar_p)]
            if cv:
                row.append("—" if ref else fmt_p(v.fold_test_p))
            if adapted:
                a = v.adapted or {}
                row += [fmt_num(a.get("accuracy")), fmt_p(a.get("mcnemar_p_vs_unadapted"))]
            rows.append(row)
    header = (["model", "size", "variant", "accuracy", "95% CI", "macro", "McNemar p"] + (["fold test p"] if cv else [])
              + (["BN re-est.", "p vs unadapted"] if adapted else []))
    return format_table(rows, header)
