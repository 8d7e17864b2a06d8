"""Several networks, one variant set: a model x variant table.

``evaluate_models`` runs ``core.evaluate.sweep.evaluate_sweep`` once per model on the same dataset, split and
seed, so each model's variants are tested (McNemar) against that model's own reference on the same test
items. By default every variant is resized to each model's own input size (``DataConfig.input_size``:
224 for EfficientNet-Lite0, 240 for Lite1, 260 for Lite2), since the size belongs to the network's recipe
and the variants describe the preprocessing; ``keep_size=True`` uses the variants' sizes as given. The
variant specs each model actually received are in its entries.
"""

from __future__ import annotations

import argparse
import csv
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import InvalidDataset
from core.preprocess.variant import Variant
from core.provenance import Progress, StopCheck, versions


def parse_models(text: str) -> list[str]:
    """``"a,b,c"`` -> registered names in order; InvalidDataset for an unknown or repeated name."""
    from core.models import MODELS

    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise InvalidDataset("--model needs at least one model name.")
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise InvalidDataset(f"Unknown model(s) {', '.join(unknown)}; available: {', '.join(MODELS)}.")
    if len(set(names)) != len(names):
        raise InvalidDataset(f"A model is listed twice in {text!r}.")
    return names


def sized_for(variants: Sequence[Variant], model, keep_size: bool = False) -> list[Variant]:
    """The variants as ``model`` receives them: resized to its input size unless ``keep_size``."""
    if keep_size:
        return list(variants)
    size = model.input_size
    return [v if v.resize.size == size else v.replace(resize=v.resize.replace(size=size)) for v in variants]


@dataclass
class MultiSweepResult:
    """One ``SweepResult`` per model, in the order asked, on the same dataset, split and seed."""

    results: list
    keep_size: bool
    seconds: float

    @property
    def models(self) -> list[str]:
        return [r.provenance["model"] for r in self.results]

    @property
    def method(self) -> str:
        return self.results[0].method

    def entries(self) -> list[dict]:
        """Every variant's JSON entry with ``"model"``, each model's reference first, models in order."""
        out = []
        for r in self.results:
            for v in r.variants:
                out.append({"model": r.provenance["model"], **v.to_dict()})
        return out

    def to_dict(self) -> dict:
        """``{"models", "method", "classes", "conventions", "size_rule", "seconds", "versions", "variants": [...],
        "runs": [{"model", "provenance", "seconds"}]}``; each variant entry carries ``"model"``."""
        from core.evaluate.sweep import CONVENTIONS

        first = self.results[0]
        return {"models": self.models, "method": self.method, "classes": list(first.classes),
                "conventions": CONVENTIONS + "; McNemar is within each model, vs that model's reference",
                "size_rule": "variants as given" if self.keep_size else "each model's own input size",
                "seconds": self.seconds, "versions": versions(), "variants": self.entries(),
                "runs": [{"model": r.provenance["model"], "provenance": r.provenance, "seconds": r.seconds}
                         for r in self.results]}

    def table(self) -> list[dict]:
        """One row per (model, variant): the numbers of the model x variant table."""
        rows = []
        for r in self.results:
            model = r.provenance["model"]
            for row, v in zip(r.table(), r.variants, strict=True):
                extra = {}
                if v.adapted:
                    extra = {"adapted_accuracy": v.adapted["accuracy"],
                             "adapted_mcnemar_p": v.adapted["mcnemar_p_vs_unadapted"]}
                rows.append({"model": model, "input_size": v.spec["resize"]["size"], **row, **extra})
        return rows

    def to_csv(self) -> str:
        rows = self.table()
        fields = list(dict.fromkeys(k for r in rows for k in r))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()

    def provenance_line(self) -> str:
        p = self.results[0].provenance
        ds, sp = p["dataset"]["train"], p["split"]
        return (f"models {', '.join(self.models)} · dataset {ds['source']} ({ds['n_items']} items, digest "
                f"{ds['digest'][:12]}) · split {sp['kind']} seed {sp['seed']} train {sp['n_train']} / test "
                f"{sp['n_test']} · method {self.method} · sizes: "
                + ("as given" if self.keep_size else "each model's own"))


def evaluate_models(train, variants: Sequence[Variant], models: Sequence, *, keep_size: bool = False,
                    progress: Progress | None = None, should_stop: StopCheck | None = None,
                    **sweep_kwargs) -> MultiSweepResult:
    """``evaluate_sweep`` once per model (loaded ``LoadedModel``s, in order) with the same dataset, split and
    seed; ``sweep_kwargs`` go to every call (test, method, seed, test_fraction, adapt, cache_dir, ...)."""
    from core.evaluate.sweep import evaluate_sweep

    t0 = time.perf_counter()
    results = []
    n = len(models)
    for k, model in enumerate(models):
        def report(f: float, msg: str, k: int = k, name: str = model.name) -> None:
            if progress is not None:
                progress((k + f) / n, f"{name}: {msg}")

        results.append(evaluate_sweep(train, sized_for(variants, model, keep_size), model, progress=report,
                                      should_stop=should_stop, **sweep_kwargs))
    return MultiSweepResult(results, keep_size, time.perf_counter() - t0)


def multi_table(result: MultiSweepResult) -> str:
    """The CLI's model x variant table (rows grouped by model, each model's reference first)."""
    from core.cliutil import format_table

    def f(x, spec):
        return "-" if x is None or x != x else format(x, spec)

    rows = []
    for r in result.results:
        for i, v in enumerate(r.variants):
            row = [r.provenance["model"] if i == 0 else "", str(v.spec["resize"]["size"]),
                   v.name + (" (ref)" if i == 0 else ""), f(v.accuracy, ".3f"),
                   f"[{v.ci95[0]:.3f}, {v.ci95[1]:.3f}]", f(v.macro_accuracy, ".3f"), f(v.mcnemar_p, ".3g")]
            if v.adapted:
                row += [f(v.adapted["accuracy"], ".3f"), f(v.adapted["mcnemar_p_vs_unadapted"], ".3g")]
            rows.append(row)
    header = ["model", "size", "variant", "accuracy", "95% CI", "macro", "McNemar p"]
    if any(len(r) > len(header) for r in rows):
        header += ["BN re-est.", "p vs unadapted"]
        rows = [r + ["", ""] if len(r) < len(header) else r for r in rows]
    return format_table(rows, header)


def run_multi_sweep(args: argparse.Namespace, request) -> int:
    """``python -m core sweep --model a,b,c``: the sweep once per model; print the model x variant table."""
    import sys

    from core.cliutil import table_stream, write_json
    from core.evaluate.cli import _progress_printer, _variants
    from core.evaluate.datasets import open_request
    from core.models import load_model

    names = parse_models(args.model)
    if args.weights:
        raise InvalidDataset("--weights applies to one model; give a single --model with it.")
    with open_request(request) as (train, test):
        variants = _variants(args, train.kind)
        models = [load_model(n) for n in names]
        result = evaluate_models(
            train, variants, models, keep_size=args.keep_size, test=test, method=args.method, seed=args.seed,
            test_fraction=args.test_fraction, group_split=args.group_split, cache_dir=args.cache_dir,
            batch_size=args.batch_size, progress=_progress_printer(args.quiet), adapt=args.adapt)
    out = table_stream(args.json)
    print(multi_table(result), file=out)
    n_test = result.results[0].variants[0].n_test
    print(f"accuracy = micro; macro = mean per-class recall; 95% CI = Wilson; McNemar p = exact, vs the same model's "
          f"reference on the same {n_test} test items.", file=out)
    print("provenance: " + result.provenance_line(), file=out)
    warning = result.results[0].split.overlap_warning()
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        write_json(args.json, result.to_dict())
    return 0
