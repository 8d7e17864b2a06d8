"""Moved to ``core.evaluate.methods.finetune``; this name stays until ``components/remedies.py`` imports from there
(a thin re-export kept for the parallel UI branches; remove after the merge)."""

from core.evaluate.methods.finetune import MAX_EPOCHS, MAX_TRAIN_ITEMS

__all__ = ["MAX_EPOCHS", "MAX_TRAIN_ITEMS"]
