"""The findings of a dataset check and the report that holds them (JSON, items CSV, summary table).

A finding has a ``kind`` (one of ``KINDS``: the names are a contract shared by the JSON, ``--fail-on`` and the
page), a ``severity`` (``high``, ``medium``, ``low``, ``info``), the number of items it concerns (``count``),
a sentence saying what was found, a sentence saying what to do, and its items (each: split, path inside the
dataset, name, class, and the values that made it a finding).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from core.errors import PrepscopeError

#: kind -> (short title, what to do). The kind names are a contract: JSON ``findings[].kind``, ``--fail-on``.
KINDS: dict[str, tuple[str, str]] = {
    "unreadable": ("unreadable or truncated files", "re-export or remove them; they are left out of every other "
                                                    "check and of sweeps"),
    "duplicate": ("duplicates within a split", "keep one copy: a random split puts copies on both sides"),
    "leakage": ("test items that repeat training items", "remove them from the test set: they make its "
                                                         "accuracy optimistic"),
    "label": ("likely label errors", "look at them and fix the label, or drop the item"),
    "outlier": ("outliers in the network's features", "look at them: wrong data, or a kind the set "
                                                      "under-represents"),
    "imbalance": ("class imbalance", "report macro accuracy, or rebalance"),
    "shortcut": ("file metadata predicts the label", "make the classes alike in that field (re-encode), or a "
                                                     "network can learn it instead of the content"),
    "format_mix": ("mixed file formats", "re-encode to one format"),
    "mode_mix": ("mixed colour modes", "convert to one mode; gray and colour items differ to the network"),
    "gray_rgb": ("gray images stored as RGB", "harmless to the network, three times the storage; a channel "
                                              "strategy for gray input applies to them"),
    "bit_depth": ("more than 8 bits per sample", "the decoder scales 16-bit by 65535; check the value range"),
    "alpha": ("transparency", "composited over white; check that the background is what you want"),
    "exif_rotation": ("rotated by EXIF orientation", "the decoder turns them upright; other tools may not"),
    "animation": ("animated or multi-frame files", "only the first frame is used"),
    "odd_size": ("unusual size or aspect ratio", "look at them; crop or pad deliberately"),
    "upscale": ("enlarged by the recipe", "the network sees interpolated pixels; use larger sources"),
    "crop": ("large area lost to the center crop", "letterbox or stretch, or crop around the subject"),
    "distortion": ("aspect distorted by stretch", "use the shorter-side crop or letterbox"),
    "padding": ("letterbox padding", "a large share of the input is padding"),
    "normalization": ("channel statistics far from the model's", "normalization does not centre this set; "
                                                                 "compare variants with other normalization"),
    "bn_shift": ("BatchNorm statistics shift", "re-estimate BatchNorm (sweep --adapt bn) and compare"),
    "dark": ("very dark images", "check exposure"),
    "light": ("very light images", "check exposure"),
    "blurry": ("blurry images", "check focus or upscaled sources"),
    "low_information": ("low-information images", "nearly constant images: check they are what you meant"),
    "sample_rate": ("mixed sample rates", "resample to one rate before training"),
    "channels": ("mixed channel counts", "mixed down to mono by the decoder; check stereo sources"),
    "duration": ("unusual durations", "trim or pad deliberately; long sounds are cut at the decode limit"),
    "clipping": ("clipped sounds", "re-record or lower the gain"),
    "silence": ("silent sounds", "remove them or check the recording"),
    "dc_offset": ("DC offset", "remove the offset (high-pass)"),
    "analysis_rate": ("resampled by the analysis rate", "content above half the analysis rate is lost; "
                                                        "items below it are upsampled"),
}
SEVERITIES = ("high", "medium", "low", "info")


def parse_kinds(text: str | None) -> list[str]:
    """``--fail-on``: comma-separated kind names, checked against ``KINDS``; PrepscopeError names the unknown one."""
    if not text:
        return []
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise PrepscopeError(f"--fail-on: unknown finding kind {unknown[0]!r}; known kinds: {', '.join(KINDS)}.")
    return kinds


@dataclass
class Finding:
    """One finding: ``kind`` (in ``KINDS``), ``severity``, ``count`` items, what was found (``summary``), its
    ``items`` (dicts: split, path, name, label and the values) and ``details`` (numbers behind it)."""

    kind: str
    severity: str
    count: int
    summary: str
    items: list[dict] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    @property
    def title(self) -> str:
        return KINDS[self.kind][0]

    @property
    def action(self) -> str:
        return KINDS[self.kind][1]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "severity": self.severity, "count": int(self.count), "title": self.title,
                "summary": self.summary, "action": self.action, "details": self.details, "items": self.items}


@dataclass
class CheckReport:
    """Everything a check found: the dataset(s) it looked at, the model and variants, the findings (most severe
    first), the recipe's numbers, notes on what was not checked, timings and the run id once recorded."""

    dataset: dict
    test: dict | None
    kind: str
    model: str
    variants: list[dict]
    findings: list[Finding]
    recipe: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    check_id: int | None = None

    def sort(self) -> None:
        order = {s: i for i, s in enumerate(SEVERITIES)}
        self.findings.sort(key=lambda f: (order[f.severity], -f.count, f.kind))

    def kinds(self) -> list[str]:
        return [f.kind for f in self.findings]

    def finding(self, kind: str) -> Finding | None:
        return next((f for f in self.findings if f.kind == kind), None)

    def failed(self, kinds: list[str]) -> list[str]:
        """Which of ``kinds`` (``--fail-on``) are present."""
        present = set(self.kinds())
        return [k for k in kinds if k in present]

    def summary_rows(self) -> list[list[str]]:
        """(kind, count, severity, what was found, what to do) per finding."""
        return [[f.kind, str(f.count), f.severity, f.summary, f.action] for f in self.findings]

    def to_dict(self) -> dict:
        return {"check_id": self.check_id, "dataset": self.dataset, "test": self.test, "kind": self.kind,
                "model": self.model, "variants": self.variants, "recipe": self.recipe, "notes": list(self.notes),
                "seconds": self.seconds, "provenance": self.provenance,
                "findings": [f.to_dict() for f in self.findings]}

    @classmethod
    def from_dict(cls, d: dict) -> CheckReport:
        findings = [Finding(f["kind"], f["severity"], f["count"], f["summary"], f.get("items", []),
                            f.get("details", {})) for f in d["findings"]]
        return cls(d["dataset"], d.get("test"), d["kind"], d["model"], d.get("variants", []), findings,
                   d.get("recipe", {}), d.get("notes", []), d.get("seconds", {}), d.get("provenance", {}),
                   d.get("check_id"))

    def items_csv(self) -> str:
        """One row per (finding, item): kind, severity, split, path, name, label, and the item's values as
        ``key=value`` pairs."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["kind", "severity", "split", "path", "name", "label", "values"])
        for f in self.findings:
            for it in f.items:
                values = "; ".join(f"{k}={v}" for k, v in it.items()
                                   if k not in ("split", "path", "name", "label"))
                w.writerow([f.kind, f.severity, it.get("split", ""), it.get("path", ""), it.get("name", ""),
                            it.get("label", ""), values])
        return buf.getvalue()
