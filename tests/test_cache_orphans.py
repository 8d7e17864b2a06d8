"""A sweep killed with -9 leaves its half-written feature temporaries behind; the next sweep removes them (and never
touches the temporaries of a process that still runs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.evaluate.cachefiles import orphans, remove_orphans
from tests.conftest import ROOT

KILLED_SWEEP = """
import sys
from core.evaluate.datasets import load_builtin
from core.evaluate.sweep import evaluate_sweep
from core.models import load_model
from core.preprocess.variant import Resize, Variant
v = [Variant(name="a", resize=Resize(size=224), channels="replicate")]
evaluate_sweep(load_builtin("digits"), v, load_model("efficientnet_lite0"), cache_dir=sys.argv[1], batch_size=8)
"""


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_temporaries_of_dead_processes_are_orphans(tmp_path: Path) -> None:
    dead, live = _dead_pid(), os.getpid()
    (tmp_path / f"k1.pooled.npy.tmp{dead}-77.npy").write_bytes(b"x")
    (tmp_path / f"k1.logits.npy.tmp{dead}-77.npy").write_bytes(b"x")
    (tmp_path / f"k2.pooled.npy.tmp{live}-78.npy").write_bytes(b"x")  # a writer of this process, in flight
    (tmp_path / "k3.pooled.npy").write_bytes(b"x")  # a finished entry
    assert [p.name for p in orphans(tmp_path)] == [f"k1.logits.npy.tmp{dead}-77.npy", f"k1.pooled.npy.tmp{dead}-77.npy"]
    assert remove_orphans(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k2.pooled.npy.tmp" + f"{live}-78.npy", "k3.pooled.npy"]
    assert remove_orphans(tmp_path / "missing") == 0


@pytest.mark.slow
def test_a_sweep_killed_with_sigkill_leaves_temporaries_the_next_sweep_removes(tmp_path: Path) -> None:
    cache = tmp_path / "features"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SWEEP, str(cache)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not list(cache.glob("*.tmp*.npy")):
            assert proc.poll() is None, "the sweep ended before writing its first batch"
            assert time.monotonic() < deadline, "no temporary appeared in 240 s"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    left = list(cache.glob("*.tmp*.npy"))
    assert len(left) == 2  # pooled + logits, half written, never renamed
    assert orphans(cache) == sorted(left)

    from core.evaluate.datasets import load_builtin
    from core.evaluate.sweep import evaluate_sweep
    from core.models import load_model
    from core.preprocess.variant import Resize, Variant

    digits = load_builtin("digits").sample_per_class(3, 0)
    evaluate_sweep(digits, [Variant(name="a", resize=Resize(size=32), channels="replicate")],
                   load_model("efficientnet_lite0"), cache_dir=cache, cv="none")
    assert not list(cache.glob("*.tmp*.npy"))
