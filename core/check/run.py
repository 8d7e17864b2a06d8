"""One dataset check: the file pass, the recipe, shortcuts, then the network's features (cleanlab, leakage).

``check_dataset`` never stops at a bad file: unreadable items are a finding and are left out of the later
passes (their feature extraction runs on the readable subset). Progress is reported as
``progress(fraction, message)``; ``should_stop()`` is polled between items and batches and a True answer
raises ``Stopped`` with nothing recorded.
"""

from __future__ import annotations

import time

import numpy as np

from core import __version__
from core.check import content, files, recipe, shortcuts
from core.check.report import CheckReport, Finding
from core.evaluate.datasets import Dataset
from core.evaluate.features import FeatureCache, extract
from core.preprocess.recipe import for_network
from core.preprocess.variant import Variant
from core.provenance import Progress, StopCheck


def _merge(findings: list[Finding]) -> list[Finding]:
    """One finding per kind: items of the same kind (exact and near duplicates, exact and near leaks) joined."""
    out: dict[str, Finding] = {}
    for f in findings:
        if f.kind not in out:
            out[f.kind] = f
            continue
        g = out[f.kind]
        have = {(it["split"], it["path"]) for it in g.items}
        new = [it for it in f.items if (it["split"], it["path"]) not in have]
        if not new:
            continue
        g.items += new
        g.count += len(new)
        g.summary = f"{g.summary} {f.summary}"
        g.details = {**g.details, **{k: v for k, v in f.details.items() if k != "how"}, "how": "exact and near"}
    return list(out.values())


def check_dataset(train: Dataset, test: Dataset | None, variants: list[Variant], model, *, cache_dir=None,  # noqa: ANN001
                  progress: Progress | None = None, should_stop: StopCheck | None = None, features: bool = True,
                  seed: int = 0, engine=None) -> CheckReport:
    """Check ``train`` (and ``test``) for ``model`` under ``variants`` (the first is the reference).

    ``features=False`` skips the network (no label, outlier, near-duplicate or BN findings): a metadata-only check.
    ``engine`` extracts the pooled features (``core.evaluate.features.extract``; None: in-process).
    """
    variants = for_network(list(variants), model)
    say = progress or (lambda f, m: None)
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    notes: list[str] = []
    span = 0.45 if features else 0.9
    facts, cached = files.cached_scan(train, test, cache_dir,
                                      lambda i, n: say(span * i / n, f"reading files: {i}/{n}"), should_stop)
    seconds["files"] = time.perf_counter() - t0
    if cached:
        notes.append("file facts read from the cache (same file bytes, labels and order as a previous check)")
    found = files.file_findings(facts, train.kind)
    ok = [f for f in facts if f["readable"]]
    t = time.perf_counter()
    rec_findings, recipe_numbers = recipe.recipe_findings(ok, variants, model, train.kind)
    found += rec_findings
    short, short_table = shortcuts.shortcut_finding(facts, train.kind, seed)
    recipe_numbers["shortcuts"] = short_table
    if short is not None:
        found.append(short)
    seconds["recipe_shortcuts"] = time.perf_counter() - t
    train_facts = [f for f in facts if f["split"] == "train"]
    test_facts = [f for f in facts if f["split"] == "test"]
    readable = [f["index"] for f in train_facts if f["readable"]]
    if features and len(readable) >= content.MIN_ITEMS:
        t = time.perf_counter()
        cache = FeatureCache(cache_dir)
        tr = train if len(readable) == len(train) else train.subset(readable)
        ref_v = variants[0]
        lo = span
        hi = 0.85 if test is None else 0.75
        x = np.asarray(extract(tr, [ref_v], model, cache, progress=say, should_stop=should_stop,
                               progress_span=(lo, hi), engine=engine)[ref_v.spec_key()].pooled)
        seconds["features"] = time.perf_counter() - t
        t = time.perf_counter()
        ok_train = [f for f in train_facts if f["readable"]]
        try:
            probs, folds = content.out_of_fold_probs(tr, x, seed)
            recipe_numbers["folds"] = folds
            say(0.88, "cleanlab: label issues, outliers, near duplicates")
            found += content.datalab_findings(tr, ok_train, x, probs, notes)
            notes.append("non-iid order is not checked: items are ordered by class and file name, so an order test "
                         "would only rediscover that order.")
        except Exception as e:  # noqa: BLE001 - a set too small or too uniform for folds: said, not fatal
            notes.append(f"label and content findings skipped: {e}")
        seconds["content"] = time.perf_counter() - t
        if test is not None:
            ok_test_idx = [f["index"] for f in test_facts if f["readable"]]
            if ok_test_idx:
                te = test if len(ok_test_idx) == len(test) else test.subset(ok_test_idx)
                xt = np.asarray(extract(te, [ref_v], model, cache, progress=say, should_stop=should_stop,
                                        progress_span=(0.75, 0.85), engine=engine)[ref_v.spec_key()].pooled)
                leak, leak_stats = content.leak_finding(ok_train, [f for f in test_facts if f["readable"]], x, xt)
                recipe_numbers["leakage"] = leak_stats
                if leak is not None:
                    found.append(leak)
        t = time.perf_counter()
        say(0.92, "dataset BN-shift per layer")
        shift = recipe.bn_shift(train, readable, ref_v, model, seed, should_stop, cache_dir)
        recipe_numbers["bn_shift"] = shift
        bn = recipe.bn_finding(shift, len(readable))
        if bn is not None:
            found.append(bn)
        seconds["bn_shift"] = time.perf_counter() - t
    elif features:
        notes.append(f"label and content findings need at least {content.MIN_ITEMS} readable training items; "
                     f"this set has {len(readable)}.")
    else:
        notes.append("metadata only: the network's features were not used (no label, outlier, near-duplicate, "
                     "leakage-by-similarity or BN-shift findings).")
    if test is None:
        notes.append("no test set given: leakage is only checked between a given train and test set; duplicates "
                     "within the set would leak across a random split.")
    seconds["total"] = time.perf_counter() - t0
    report = CheckReport(
        dataset=train.describe(), test=None if test is None else test.describe(), kind=train.kind,
        model=model.name, variants=[v.to_dict() for v in variants], findings=_merge(found), recipe=recipe_numbers,
        notes=notes, seconds=seconds,
        provenance={"prepscope": __version__, "model_description": model.description, "seed": seed,
                    "items": [files.public(f) for f in facts]})
    report.sort()
    say(1.0, "done")
    return report
