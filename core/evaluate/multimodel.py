"""Several networks, one variant set: a model x variant table.

``evaluate_models`` runs ``core.evaluate.sweep.evaluate_sweep`` once per model on the same dataset, evaluation
(held-out split or the same cross-validation folds: they depend only on the items, the settings and the
seed) and seed, so each model's variants are tested (McNemar, and the fold test) against that model's own
reference on the same test items. By default every variant is resized to each model's own input size
(``DataConfig.input_size``: 224 for EfficientNet-Lite0, 240 for Lite1, 260 for Lite2), since the size belongs
to the network's recipe and the variants describe the preprocessing; ``keep_size=True`` uses the variants'
sizes as given (a variant with ``"resize": "model"`` follows each model's recipe either way). The variant
specs each model actually received are in its entries.

Each model's sweep is a complete ``SweepResult`` (items, folds, notes, identical inputs) and is recorded in the
runs database as its own run (``record``): a run is one model's numbers, so the Runs page lists, reopens and
compares them like any other; the multi-model JSON lists every run id, and each run's provenance names the
models it was compared with.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import InvalidDataset, on_surface
from core.evaluate.folds import describe_line
from core.evaluate.scoring import CONVENTIONS
from core.evaluate.sweep import csv_text, evaluate_sweep
from core.models import model_names
from core.preprocess.variant import Variant
from core.provenance import Progress, StopCheck, versions


def parse_models(text: str) -> list[str]:
    """``"a,b,c"`` -> registered names in order; InvalidDataset for an unknown or repeated name."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise InvalidDataset(on_surface("--model", "The models picker") + " needs at least one model name.")
    known = model_names()  # built-ins and network cards
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidDataset(f"Unknown model(s) {', '.join(unknown)}; available: {', '.join(known)}.")
    if len(set(names)) != len(names):
        raise InvalidDataset(f"A model is listed twice in {text!r}.")
    return names


def sized_for(variants: Sequence[Variant], model, keep_size: bool = False) -> list[Variant]:
    """The variants as ``model`` receives them: resized to its input size unless ``keep_size``."""
    if keep_size:
        return list(variants)
    size = model.input_size
    return [v if v.resize == "model" or v.resize.size == size else v.replace(resize=v.resize.replace(size=size))
            for v in variants]


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

    @property
    def run_ids(self) -> list[int | None]:
        return [r.run_id for r in self.results]

    def entries(self) -> list[dict]:
        """Every variant's JSON entry (``SweepResult.to_dict``'s, which carries ``"model"``), each model's reference
        first, models in order."""
        return [v for r in self.results for v in r.to_dict()["variants"]]

    def to_dict(self) -> dict:
        """``{"models", "run_ids", "method", "classes", "conventions", "size_rule", "seconds", "versions", "notes",
        "variants": [...], "runs": [{"model", "run_id", "provenance", "seconds", "folds", "items", "notes",
        "identical_inputs"}]}``; each variant entry carries ``"model"``."""
        first = self.results[0]
        runs = []
        for r in self.results:
            d = r.to_dict()
            runs.append({"model": r.provenance["model"], "run_id": r.run_id, "provenance": r.provenance,
                         "seconds": r.seconds, "folds": d["folds"], "items": d["items"], "notes": d["notes"],
                         "identical_inputs": d["identical_inputs"]})
        return {"models": self.models, "run_ids": self.run_ids, "method": self.method, "classes": list(first.classes),
                "conventions": CONVENTIONS + "; McNemar and the fold test are within each model, vs that model's "
                                             "reference",
                "size_rule": "variants as given" if self.keep_size else "each model's own input size",
                "seconds": self.seconds, "versions": versions(),
                "notes": list(dict.fromkeys(n for r in self.results for n in r.notes)),
                "variants": self.entries(), "runs": runs}

    def table(self) -> list[dict]:
        """One row per (model, variant): the numbers of the model x variant table (with the run id)."""
        rows = []
        for r in self.results:
            model = r.provenance["model"]
            for row, v in zip(r.table(), r.variants, strict=True):
                extra = {}
                if v.adapted:
                    extra = {"adapted_accuracy": v.adapted["accuracy"],
                             "adapted_mcnemar_p": v.adapted["mcnemar_p_vs_unadapted"]}
                rows.append({"model": model, "run_id": r.run_id, "input_size": input_size(v.spec), **row, **extra})
        return rows

    def to_csv(self) -> str:
        """The model x variant table as CSV."""
        return csv_text(self.table())

    def items_csv(self) -> str:
        """Per-item evidence of every model (``SweepResult.item_rows`` with a ``model`` column) as CSV."""
        rows = [{"model": r.provenance["model"], **row} for r in self.results for row in r.item_rows()]
        return csv_text(rows) if rows else ""

    def provenance_line(self) -> str:
        """One line: models and their runs, dataset, evaluation, method, sizes."""
        p = self.results[0].provenance
        ds = p["dataset"]["train"]
        runs = ", ".join(f"#{i}" for i in self.run_ids if i is not None)
        return (f"models {', '.join(self.models)} · dataset {ds['source']} ({ds['n_items']} items, digest "
                f"{ds['digest'][:12]}) · {describe_line(p['split'])} · method {self.method} · seed {p['seed']} · "
                "sizes: " + ("as given" if self.keep_size else "each model's own")
                + (f" · runs {runs}" if runs else ""))


def input_size(spec: dict) -> int | str:
    """A variant spec's input size (its resize's ``size``, or ``"model"`` for the model's own recipe)."""
    r = spec.get("resize")
    return r.get("size") if isinstance(r, dict) else str(r)


def evaluate_models(train, variants: Sequence[Variant], models: Sequence, *, keep_size: bool = False,
                    progress: Progress | None = None, should_stop: StopCheck | None = None,
                    **sweep_kwargs) -> MultiSweepResult:
    """``evaluate_sweep`` once per model (loaded ``LoadedModel``s, in order) with the same dataset, split and
    seed; ``sweep_kwargs`` go to every call (test, method, seed, test_fraction, adapt, cache_dir, ...)."""
    t0 = time.perf_counter()
    results = []
    n = len(models)
    names = [m.name for m in models]
    for k, model in enumerate(models):
        def report(f: float, msg: str, k: int = k, name: str = model.name) -> None:
            if progress is not None:
                progress((k + f) / n, f"{name}: {msg}")

        r = evaluate_sweep(train, sized_for(variants, model, keep_size), model, progress=report,
                           should_stop=should_stop, **sweep_kwargs)
        r.provenance["compared_models"] = {"models": names, "size_rule": "variants as given" if keep_size
                                           else "each model's own input size"}
        results.append(r)
    return MultiSweepResult(results, keep_size, time.perf_counter() - t0)
