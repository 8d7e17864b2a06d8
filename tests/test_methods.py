"""One shape for every evaluation method (issue 19): the registry, the shared fold loop, scoring, the layers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.evaluate import methods
from core.evaluate.datasets import DatasetRequest, open_request
from core.evaluate.folds import Evaluation, Fold
from core.evaluate.methods.base import pool_over_folds
from core.evaluate.metrics import fold_paired_test, mcnemar_exact
from core.evaluate.scoring import Comparison, Predictions, score_run
from core.evaluate.sweep import evaluate_sweep
from core.preprocess.channels import CHANNELS, strategy
from core.preprocess.variant import Resize, Variant

ROOT = Path(__file__).resolve().parents[1]
SMALL = Resize(size=64)

TOY = '''"""A toy method: predicts the most common class of each fold's training side (an example kept in a test)."""

import numpy as np

from core.evaluate.methods.base import pool_over_folds
from core.evaluate.scoring import Predictions


class _Run:
    def __init__(self, ctx):
        self.ctx = ctx

    def fold(self, k, fold, report):
        y = self.ctx.ev.train.labels[fold.train_idx]
        top = int(np.bincount(y).argmax())
        n = len(fold.test_idx)
        return np.full(n, top, np.int64), np.full(n, float(np.mean(y == top)), np.float32), {"class": top}

    def finish(self, predicted, confidence, infos, seconds):
        return Predictions(predicted, confidence, seconds, False, "majority", {"folds": infos})


class Majority:
    name = "toy"
    compared_with = None
    fixed_batch = 8
    extracts_features = False

    def check(self, classes, model):
        return None

    def describe(self, classes, model):
        return {"classifier": "the training side's most common class"}

    def predict(self, ctx, variants):
        return pool_over_folds(ctx.ev, variants, ["same input"] * len(variants), lambda i, v, report: _Run(ctx),
                               lambda i, v, first: first.repeated("same_input_as_earlier_variant"), ctx.report)


METHOD = Majority()
'''


@pytest.fixture
def digits(tmp_path, monkeypatch):
    monkeypatch.setenv("PREPSCOPE_HOME", str(tmp_path / "home"))
    with open_request(DatasetRequest(builtin="digits", per_class=4, seed=0)) as (train, _):
        yield train


def test_a_toy_method_is_one_file_and_one_registry_line(digits, model, tmp_path, monkeypatch):
    (tmp_path / "toy_method.py").write_text(TOY, encoding="utf-8")  # the one file
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(methods.REGISTRY, "toy", ("toy_method", "the most common class"))  # the one line
    variants = [Variant(name="rgb", resize=SMALL), Variant(name="gray", channels="replicate", resize=SMALL)]
    r = evaluate_sweep(digits, variants, model, method="toy", cv=2, batch_size="auto", cache_dir=tmp_path / "c")
    assert r.method == "toy" and r.cross_validated
    y = r.labels
    for v in r.variants:  # scored, pooled over both folds and compared like any method's
        assert v.n_test == len(digits) and 0 < v.accuracy < 0.5
        assert np.array_equal(v.predicted, r.variants[0].predicted)
    assert r.variants[1].mcnemar_p == 1.0 and r.variants[1].details["same_input_as_earlier_variant"]
    assert r.provenance["method"] == {"name": "toy", "classifier": "the training side's most common class"}
    assert r.provenance["extraction"]["batch_choice"] == "fixed for the toy"
    assert {it["predicted"] for it in r.to_dict()["variants"][0]["items"]} <= set(r.classes)
    assert set(np.unique(y)) == set(range(len(r.classes)))
    from core.cli import build_parser

    args = build_parser(["sweep"]).parse_args(["sweep", "--builtin", "digits", "--method", "toy"])
    assert args.method == "toy"  # the CLI's --method offers it too


def test_pool_over_folds_runs_identical_inputs_once_and_scatters_back_in_tested_order():
    class _Ds:
        labels = np.zeros(6, np.int64)

    ds = _Ds()
    ev = Evaluation("stratified-kfold", 0, ds, ds, [Fold("a", np.array([1, 3, 5]), np.array([0, 2, 4])),
                                                    Fold("b", np.array([0, 2, 4]), np.array([1, 3, 5]))])
    started = []

    class _Run:
        def fold(self, k, fold, report):
            return fold.test_idx * 10, np.full(len(fold.test_idx), k, np.float32), {"k": k}

        def finish(self, predicted, confidence, infos, seconds):
            return Predictions(predicted, confidence, seconds, False, "x", {"infos": infos})

    def start(i, v, report):
        started.append(v.name)
        return _Run()

    vs = [Variant(name="a"), Variant(name="b"), Variant(name="c")]
    out = pool_over_folds(ev, vs, ["k1", "k2", "k1"], start, lambda i, v, first: first.repeated("again"),
                          lambda f, m: None)
    assert started == ["a", "b"]  # c has a's input
    assert out[0].predicted.tolist() == [0, 10, 20, 30, 40, 50]  # pooled in ev.test_idx order
    assert out[0].confidence.tolist() == [0, 1, 0, 1, 0, 1]
    assert out[2].details == {"infos": [{"k": 0}, {"k": 1}], "again": True} and out[2].predicted is out[0].predicted


def test_comparison_is_mcnemar_and_the_fold_test_of_two_runs_on_the_same_items():
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    fold_of = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    a = score_run(y, np.array([0, 1, 0, 1, 0, 1, 0, 0]), fold_of, ["f1", "f2"], ["x", "y"])
    b = score_run(y, np.array([1, 1, 0, 0, 0, 0, 1, 1]), fold_of, ["f1", "f2"], ["x", "y"])
    c = Comparison.of(a, b)
    p, a_only, b_only = mcnemar_exact(a.correct, b.correct)
    assert (c.p, c.a_only, c.b_only) == (p, a_only, b_only) == (c.p, 4, 1)
    assert c.fold_p == fold_paired_test([4, 3], [2, 2], [4, 4])
    assert [f["n_correct"] for f in a.folds] == [4, 3] and a.scores.n_correct == 7


def test_every_channel_strategy_is_one_registry_object():
    from typing import get_args

    assert tuple(CHANNELS) == get_args(Variant.model_fields["channels"].annotation)
    assert [n for n, s in CHANNELS.items() if s.one_channel] == ["replicate", "conv-sum", "zero-pad", "native"]
    assert [n for n, s in CHANNELS.items() if s.on_device] == ["rgb", "replicate", "conv-sum", "zero-pad",
                                                                "native", "colormap"]
    assert strategy(Variant(channels="colormap", colormap="gray")).replication_reason(
        Variant(channels="colormap", colormap="gray"), "g", "gray replication", True) is not None
    # nothing outside the registry tests the strategy's name (the Variant field's own declaration aside)
    offenders = []
    for f in sorted((ROOT / "core").rglob("*.py")):
        if f.name == "channels.py":
            continue
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\.channels\s*(==|!=|in\b|not in\b)\s*[\"'(]", line):
                offenders.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, offenders


def test_the_command_line_loads_only_the_chosen_command():
    code = ("import sys; from core.cli import main; main(['fields']); "
            "print(sorted(m for m in ('torch', 'timm', 'torchvision', 'core.evaluate.sweep') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_the_readme_field_table_is_python_m_core_fields():
    from core.cli.fields import fields_markdown

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("<!-- generated by `python -m core fields --markdown`")
    body = text[text.index("\n", start) + 1 : text.index("<!-- end of the generated field table -->")]
    assert body.strip() == fields_markdown().strip(), "run `python -m core fields --markdown` and paste it in README"
