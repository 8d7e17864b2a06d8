"""The training loop every autoencoder here shares: seeded, polled for a stop between steps, reporting
progress, recording the loss of every step."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from core.provenance import Progress, StopCheck, Stopped


def seeded(seed: int) -> torch.Generator:
    """Seed torch's global generator (weight initialization) and return a generator for data sampling."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def run_steps(steps: int, step: Callable[[int], float], *, label: str, progress: Progress | None = None,
              should_stop: StopCheck | None = None, span: tuple[float, float] = (0.0, 1.0)) -> list[float]:
    """Call ``step(i)`` for i in 0..steps-1 and return the losses it returns.

    ``should_stop()`` is polled before every step and a True answer raises Stopped (the caller saves
    nothing); ``progress(fraction, message)`` is called about 50 times, with fractions inside ``span``."""
    lo, hi = span
    every = max(1, steps // 50)
    losses: list[float] = []
    for i in range(steps):
        if should_stop is not None and should_stop():
            raise Stopped(f"Stopped {label} after {i} of {steps} steps; nothing was saved.")
        losses.append(float(step(i)))
        if progress is not None and ((i + 1) % every == 0 or i + 1 == steps):
            progress(lo + (hi - lo) * (i + 1) / steps, f"{label}: step {i + 1}/{steps}, loss {losses[-1]:.5f}")
    return losses


def adam(params, lr: float) -> torch.optim.Optimizer:  # noqa: ANN001 - an iterable of parameters
    return torch.optim.Adam(params, lr=lr)


def default_threads() -> int:
    """Threads for training: ``$PREPSCOPE_TRAIN_THREADS``, else 1. These networks are small, and on a busy
    2-core machine one thread measured 3-5x faster per step than two (OpenMP threads wait on each other)."""
    try:
        return max(1, int(os.environ.get("PREPSCOPE_TRAIN_THREADS", "1")))
    except ValueError:
        return 1


@contextmanager
def threads(n: int | None = None) -> Iterator[None]:
    """Run a block with ``n`` torch threads (default ``default_threads()``), restoring the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n or default_threads())
    try:
        yield
    finally:
        torch.set_num_threads(before)
