"""Dataset check: a preprocessing-aware audit of a labelled image or sound set (``python -m core check``).

``core.check.files`` reads every item's header and decodes it once with the safe decoder (file and format
findings), ``core.check.recipe`` says what the model's recipe and the variant set do to this set,
``core.check.shortcuts`` trains a classifier on file metadata alone, ``core.check.content`` runs cleanlab's
Datalab and a train/test leak search on the network's cached features, ``core.check.report`` holds the
findings (their kind names are a contract, ``KINDS``) and ``core.check.run`` puts them together.
"""

from core.check.report import KINDS, SEVERITIES, CheckReport, Finding, parse_kinds

__all__ = ["KINDS", "SEVERITIES", "CheckReport", "Finding", "parse_kinds"]
