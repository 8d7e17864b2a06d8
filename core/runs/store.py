"""The history of sweeps (and dataset checks and jobs) in one SQLite file: ``$PREPSCOPE_HOME/runs.sqlite``
(default ``~/.cache/prepscope``).

Every sweep (command line or dashboard) is recorded with its full provenance (dataset source, digest
and size, variant set, method, folds, seed, model and weights fingerprint, versions, timings), every
variant's numbers and every tested item's prediction and confidence. ``RunStore.load`` gives back a
``SweepResult`` whose ``to_dict()`` equals the recorded one, so opening a past run computes nothing.

Schema: versioned with SQLite's ``user_version``; ``MIGRATIONS[i]`` takes version i to i + 1 and runs in
one transaction, so a database is never half-migrated. A file written by a newer prepscope (a higher
version), a SQLite file of another application or a file that is not SQLite is refused with a sentence
saying what to do, never modified. Several processes may write at once: the database runs in WAL mode
with a busy timeout, and every write is one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import PrepscopeError
from core.evaluate.scoring import CONVENTIONS, fold_spread
from core.paths import prepscope_home
from core.shared import audit

if TYPE_CHECKING:
    from core.evaluate.sweep import SweepResult

APPLICATION = "prepscope-runs"
FILE_NAME = "runs.sqlite"
BUSY_TIMEOUT_S = 30.0

#: MIGRATIONS[i] takes the schema from version i to i + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE prepscope_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"INSERT INTO prepscope_meta (key, value) VALUES ('application', '{APPLICATION}')",
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_utc TEXT NOT NULL,
            origin TEXT NOT NULL,
            dataset_name TEXT NOT NULL,
            dataset_source TEXT NOT NULL,
            dataset_digest TEXT NOT NULL,
            dataset_kind TEXT NOT NULL,
            n_items INTEGER NOT NULL,
            model TEXT NOT NULL,
            model_fingerprint TEXT,
            method TEXT NOT NULL,
            evaluation TEXT NOT NULL,
            n_folds INTEGER NOT NULL,
            seed INTEGER NOT NULL,
            n_test INTEGER NOT NULL,
            n_variants INTEGER NOT NULL,
            seconds REAL NOT NULL,
            classes_json TEXT NOT NULL,
            provenance_json TEXT NOT NULL,
            folds_json TEXT NOT NULL,
            notes_json TEXT NOT NULL,
            identical_json TEXT NOT NULL
        )""",
        "CREATE INDEX runs_by_dataset ON runs (dataset_digest)",
        """CREATE TABLE variant_results (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            spec_json TEXT NOT NULL,
            accuracy REAL NOT NULL,
            ci_low REAL NOT NULL,
            ci_high REAL NOT NULL,
            macro_accuracy REAL NOT NULL,
            n_test INTEGER NOT NULL,
            n_correct INTEGER NOT NULL,
            mcnemar_p REAL,
            reference_only INTEGER,
            variant_only INTEGER,
            fold_test_p REAL,
            same_input_as TEXT,
            seconds REAL NOT NULL,
            cached INTEGER NOT NULL,
            per_class_json TEXT NOT NULL,
            confusion_json TEXT NOT NULL,
            folds_json TEXT NOT NULL,
            details_json TEXT NOT NULL,
            PRIMARY KEY (run_id, position)
        ) WITHOUT ROWID""",
        """CREATE TABLE items (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            label INTEGER NOT NULL,
            grp TEXT,
            fold INTEGER NOT NULL,
            PRIMARY KEY (run_id, position)
        ) WITHOUT ROWID""",
        """CREATE TABLE predictions (
            run_id INTEGER NOT NULL,
            variant INTEGER NOT NULL,
            item INTEGER NOT NULL,
            predicted INTEGER NOT NULL,
            confidence REAL NOT NULL,
            PRIMARY KEY (run_id, variant, item),
            FOREIGN KEY (run_id, variant) REFERENCES variant_results (run_id, position) ON DELETE CASCADE
        ) WITHOUT ROWID""",
    ),
    (  # 1 -> 2: BatchNorm re-estimation (core.evaluate.adabn): a variant's adapted scores, NULL when not adapted
        "ALTER TABLE variant_results ADD COLUMN adapted_json TEXT",
    ),
    (  # 2 -> 3: dataset checks (core.check): one row per check, its report as JSON
        """CREATE TABLE checks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_utc TEXT NOT NULL,
            origin TEXT NOT NULL,
            dataset_name TEXT NOT NULL,
            dataset_source TEXT NOT NULL,
            dataset_digest TEXT NOT NULL,
            dataset_kind TEXT NOT NULL,
            n_items INTEGER NOT NULL,
            model TEXT NOT NULL,
            seconds REAL NOT NULL,
            kinds_json TEXT NOT NULL,
            report_json TEXT NOT NULL
        )""",
        "CREATE INDEX checks_by_dataset ON checks (dataset_digest)",
    ),
    (  # 3 -> 4: jobs (core.jobs): long work run by a server's job runner, its progress and what it produced
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            settings_json TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'stopped', 'interrupted')),
            progress REAL NOT NULL DEFAULT 0,
            message TEXT NOT NULL DEFAULT '',
            created_utc TEXT NOT NULL,
            started_utc TEXT,
            ended_utc TEXT,
            error TEXT,
            result_json TEXT,
            owner TEXT NOT NULL,
            actor TEXT NOT NULL DEFAULT '',
            stop_requested INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX jobs_by_status ON jobs (status)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
#: variant_results' columns in the order ``record`` writes and ``load_dict`` reads them.
VARIANT_COLUMNS = ("run_id", "position", "name", "spec_json", "accuracy", "ci_low", "ci_high", "macro_accuracy",
                   "n_test", "n_correct", "mcnemar_p", "reference_only", "variant_only", "fold_test_p",
                   "same_input_as", "seconds", "cached", "per_class_json", "confusion_json", "folds_json",
                   "details_json", "adapted_json")


class RunsError(PrepscopeError):
    """The runs database cannot be used (newer or foreign schema, not SQLite, unwritable) or a run is unknown."""


def default_path() -> Path:
    """``$PREPSCOPE_HOME/runs.sqlite`` (default ``~/.cache/prepscope/runs.sqlite``)."""
    return prepscope_home() / FILE_NAME


@dataclass(frozen=True)
class RunSummary:
    """One line of the runs list: what ran on which data, and the reference's and best variant's accuracy."""

    id: int
    created_utc: str
    origin: str
    dataset_name: str
    dataset_source: str
    dataset_digest: str
    model: str
    method: str
    evaluation: str
    n_folds: int
    seed: int
    n_test: int
    n_variants: int
    seconds: float
    reference: str
    reference_accuracy: float
    best: str
    best_accuracy: float

    @property
    def dataset_label(self) -> str:
        """The dataset's name, with its parent folder when the name alone says little (``hymenoptera/train``)."""
        if self.dataset_name in ("train", "test", "val") and not self.dataset_source.startswith("builtin:"):
            parent = self.dataset_source.replace("\\", "/").rstrip("/").split("/")[-2:-1]
            if parent:
                return f"{parent[0]}/{self.dataset_name}"
        return self.dataset_name


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=True)


class RunStore:
    """The runs database at ``path`` (default ``default_path()``); each call opens its own connection."""

    def __init__(self, path: str | Path | None = None, *, timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path).expanduser() if path is not None else default_path()
        self.timeout_s = timeout_s

    # ------------------------------------------------------------------ connection and schema

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """An open, migrated connection in autocommit mode (writers use ``BEGIN IMMEDIATE`` themselves)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunsError(f"Cannot create the folder for the runs database {self.path}: {e.strerror}. "
                            "Set PREPSCOPE_HOME to a writable folder.") from None
        try:
            if not self.path.exists():
                self._create()
            elif self.path.is_file() and self.path.stat().st_size == 0:
                raise self._foreign("it is an empty file")
            con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        except (sqlite3.Error, OSError) as e:
            raise RunsError(f"Cannot open the runs database {self.path}: {e}. "
                            "Set PREPSCOPE_HOME to a writable folder.") from None
        try:
            try:
                con.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
                self._migrate(con)
                con.execute("PRAGMA foreign_keys = ON")
            except sqlite3.OperationalError as e:
                raise RunsError(f"The runs database {self.path} cannot be used now ({e}); try again, or set "
                                "PREPSCOPE_HOME to another folder.") from None
            except sqlite3.DatabaseError as e:
                raise RunsError(f"{self.path} is not a prepscope runs database ({e}). Move it away, or set "
                                "PREPSCOPE_HOME to another folder.") from None
            try:
                yield con
            except sqlite3.Error as e:
                raise RunsError(f"The runs database {self.path} could not complete the request ({e}); try again, "
                                "or set PREPSCOPE_HOME to another folder.") from None
        finally:
            con.close()

    def _create(self) -> None:
        """Create the database whole: migrate a private file, then link it into place (never replacing one that
        another process created meanwhile). So an empty file at ``path`` is never prepscope's and is refused."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            con = sqlite3.connect(tmp, timeout=self.timeout_s, isolation_level=None)
            try:
                self._migrate(con)
            finally:
                con.close()
            os.link(tmp, self.path)
        except FileExistsError:
            pass
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
                leftover.unlink(missing_ok=True)

    def _foreign(self, what: str) -> RunsError:
        return RunsError(f"{self.path} is not a prepscope runs database ({what}); prepscope leaves it untouched. "
                         "Move it away, or set PREPSCOPE_HOME to another folder.")

    def _check_version(self, con: sqlite3.Connection) -> int:
        version = int(con.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RunsError(f"The runs database {self.path} has schema version {version}, written by a newer "
                            f"prepscope; this one reads up to version {SCHEMA_VERSION}. Upgrade prepscope, or set "
                            "PREPSCOPE_HOME to another folder.")
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 and tables - {"sqlite_sequence"}:
            raise self._foreign(f"it holds the tables {', '.join(sorted(tables)[:5])}")
        if version > 0:
            app = None
            if "prepscope_meta" in tables:
                row = con.execute("SELECT value FROM prepscope_meta WHERE key = 'application'").fetchone()
                app = row[0] if row else None
            if app != APPLICATION:
                raise self._foreign(f"schema version {version} without the prepscope marker")
        return version

    def _migrate(self, con: sqlite3.Connection) -> None:
        if self._check_version(con) == SCHEMA_VERSION:
            return
        con.execute("PRAGMA journal_mode = WAL")  # persistent: set once, when the file is created
        con.execute("BEGIN IMMEDIATE")
        try:
            version = self._check_version(con)  # another process may have migrated meanwhile
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    con.execute(statement)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------ runs

    def record(self, result: SweepResult, origin: str) -> int:
        """Store a finished sweep (``origin``: ``cli`` or ``page``) in one transaction; set and return its run id."""
        p = result.provenance
        ds = p["dataset"]["train"]
        split = p["split"]
        ref = result.variants[0]
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._write() as con:
            cur = con.execute(
                "INSERT INTO runs (created_utc, origin, dataset_name, dataset_source, dataset_digest, dataset_kind, "
                "n_items, model, model_fingerprint, method, evaluation, n_folds, seed, n_test, n_variants, seconds, "
                "classes_json, provenance_json, folds_json, notes_json, identical_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (created, origin, ds["name"], ds["source"], ds["digest"], ds["kind"], ds["n_items"], p["model"],
                 p.get("model_fingerprint"), result.method, split["kind"], len(result.folds), int(p["seed"]),
                 ref.n_test, len(result.variants), float(result.seconds), _dumps(result.classes), _dumps(p),
                 _dumps(result.folds), _dumps(result.notes), _dumps(result.identical)))
            run_id = int(cur.lastrowid)
            con.executemany(
                f"INSERT INTO variant_results ({', '.join(VARIANT_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(VARIANT_COLUMNS))})",
                [(run_id, i, v.name, _dumps(v.spec), v.accuracy, v.ci95[0], v.ci95[1], v.macro_accuracy, v.n_test,
                  v.n_correct, v.mcnemar_p, None if v.discordant is None else v.discordant[0],
                  None if v.discordant is None else v.discordant[1], v.fold_test_p, v.same_input_as, float(v.seconds),
                  int(bool(v.cached)), _dumps(v.per_class), _dumps(v.confusion), _dumps(v.folds), _dumps(v.details),
                  None if v.adapted is None else _dumps(v.adapted))
                 for i, v in enumerate(result.variants)])
            con.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [(run_id, j, it.name, it.path, int(it.label), it.group, int(it.fold))
                             for j, it in enumerate(result.items)])
            con.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?)",
                            [(run_id, i, j, int(pr), float(c))
                             for i, v in enumerate(result.variants)
                             for j, (pr, c) in enumerate(zip(v.predicted, v.confidence, strict=True))])
        result.run_id = run_id
        audit("run recorded", run=run_id, origin=origin, dataset=ds["name"], model=p["model"], method=result.method,
              n_test=ref.n_test)
        return run_id

    def load_dict(self, run_id: int) -> dict:
        """The recorded run as ``SweepResult.to_dict()`` gave it (with its ``run_id``); RunsError when unknown."""
        with self.connect() as con:
            con.execute("BEGIN")  # one consistent snapshot
            try:
                run = con.execute("SELECT method, classes_json, provenance_json, seconds, notes_json, identical_json, "
                                  "folds_json FROM runs WHERE id = ?", (int(run_id),)).fetchone()
                if run is None:
                    raise RunsError(f"There is no run #{run_id} in {self.path}; `python -m core runs list` shows "
                                    "the recorded runs.")
                variants = con.execute(f"SELECT {', '.join(VARIANT_COLUMNS)} FROM variant_results WHERE run_id = ? "
                                       "ORDER BY position", (int(run_id),)).fetchall()
                items = con.execute("SELECT name, path, label, grp, fold FROM items WHERE run_id = ? "
                                    "ORDER BY position", (int(run_id),)).fetchall()
                preds = con.execute("SELECT variant, predicted, confidence FROM predictions WHERE run_id = ? "
                                    "ORDER BY variant, item", (int(run_id),)).fetchall()
            finally:
                con.execute("COMMIT")
        method, classes_json, prov_json, seconds, notes_json, identical_json, folds_json = run
        classes = json.loads(classes_json)
        folds = json.loads(folds_json)
        provenance = json.loads(prov_json)
        item_rows = [{"name": n, "path": p, "label": classes[lab], "group": g,
                      "fold": folds[f]["name"] if folds else None} for n, p, lab, g, f in items]
        per_variant: dict[int, list[tuple[int, float]]] = {}
        for vi, pr, c in preds:
            per_variant.setdefault(vi, []).append((pr, c))
        out_variants = []
        for row in variants:
            (_, pos, name, spec_json, acc, lo, hi, macro, n_test, n_correct, p, b, c, fold_p, same, secs, cached,
             per_class_json, confusion_json, vfolds_json, details_json, adapted_json) = row
            folds_v = json.loads(vfolds_json)
            out_variants.append({
                "model": provenance.get("model"), "name": name, "accuracy": acc, "ci95": [lo, hi],
                "macro_accuracy": macro, "n_test": n_test, "n_correct": n_correct, "mcnemar_p": p,
                "discordant": None if b is None else {"reference_only": b, "variant_only": c},
                "folds": folds_v, "fold_test_p": fold_p, "fold_spread": fold_spread(folds_v), "same_input_as": same,
                "seconds": secs, "cached": bool(cached), "per_class": json.loads(per_class_json),
                "confusion": json.loads(confusion_json), "spec": json.loads(spec_json),
                "details": json.loads(details_json),
                "items": [{"name": it["name"], "label": it["label"], "predicted": classes[pr], "confidence": conf}
                          for it, (pr, conf) in zip(item_rows, per_variant.get(pos, []), strict=True)],
                **({} if adapted_json is None else {"adapted": json.loads(adapted_json)}),
            })
        return {"run_id": int(run_id), "method": method, "classes": classes,
                "conventions": provenance.get("conventions", CONVENTIONS), "provenance": provenance,
                "seconds": seconds, "notes": json.loads(notes_json), "identical_inputs": json.loads(identical_json),
                "folds": folds, "items": item_rows, "variants": out_variants}

    def load(self, run_id: int) -> SweepResult:
        """The recorded run as a SweepResult (nothing is recomputed)."""
        from core.evaluate.sweep import SweepResult  # noqa: PLC0415 - torch; listing and reading runs needs none

        return SweepResult.from_dict(self.load_dict(run_id))

    def created(self, run_id: int) -> str:
        """When run ``run_id`` was recorded (UTC, ISO 8601)."""
        with self.connect() as con:
            row = con.execute("SELECT created_utc FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise RunsError(f"There is no run #{run_id} in {self.path}.")
        return str(row[0])

    def list(self, *, dataset: str | None = None, model: str | None = None, method: str | None = None,
             limit: int = 500) -> list[RunSummary]:
        """Recorded runs, newest first. ``dataset`` matches a substring of the dataset's name or source, or a
        digest prefix; ``model`` and ``method`` match exactly."""
        where, args = [], []
        if dataset:
            where.append("(r.dataset_name LIKE ? OR r.dataset_source LIKE ? OR r.dataset_digest LIKE ?)")
            args += [f"%{dataset}%", f"%{dataset}%", f"{dataset}%"]
        if model:
            where.append("r.model = ?")
            args.append(model)
        if method:
            where.append("r.method = ?")
            args.append(method)
        sql = ("SELECT r.id, r.created_utc, r.origin, r.dataset_name, r.dataset_source, r.dataset_digest, r.model, "
               "r.method, r.evaluation, r.n_folds, r.seed, r.n_test, r.n_variants, r.seconds, "
               "ref.name, ref.accuracy, "
               "(SELECT name FROM variant_results b WHERE b.run_id = r.id ORDER BY accuracy DESC, position LIMIT 1), "
               "(SELECT MAX(accuracy) FROM variant_results b WHERE b.run_id = r.id) "
               "FROM runs r JOIN variant_results ref ON ref.run_id = r.id AND ref.position = 0"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY r.id DESC LIMIT ?")
        with self.connect() as con:
            rows = con.execute(sql, (*args, int(limit))).fetchall()
        return [RunSummary(*r) for r in rows]

    def delete(self, run_id: int) -> None:
        """Remove a run and everything recorded with it; RunsError when there is no such run."""
        with self._write() as con:
            if con.execute("SELECT 1 FROM runs WHERE id = ?", (int(run_id),)).fetchone() is None:
                raise RunsError(f"There is no run #{run_id} in {self.path}.")
            for table, col in (("predictions", "run_id"), ("items", "run_id"), ("variant_results", "run_id"),
                               ("runs", "id")):
                con.execute(f"DELETE FROM {table} WHERE {col} = ?", (int(run_id),))
        audit("run deleted", run=int(run_id), database=str(self.path))


# ---------------------------------------------------------------------------------------------- dataset checks


@dataclass(frozen=True)
class CheckSummary:
    """One line of the checks list: which data, which model, and the findings' kinds with their counts."""

    id: int
    created_utc: str
    origin: str
    dataset_name: str
    dataset_source: str
    n_items: int
    model: str
    seconds: float
    kinds: dict


def record_check(store: RunStore, report, origin: str) -> int:  # noqa: ANN001 - core.check.CheckReport
    """Store a finished dataset check (``origin``: ``cli`` or ``page``); set and return its check id."""
    ds = report.dataset
    created = datetime.now(UTC).isoformat(timespec="seconds")
    kinds = {f.kind: f.count for f in report.findings}
    with store._write() as con:
        cur = con.execute(
            "INSERT INTO checks (created_utc, origin, dataset_name, dataset_source, dataset_digest, dataset_kind, "
            "n_items, model, seconds, kinds_json, report_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (created, origin, ds["name"], ds["source"], ds["digest"], ds["kind"], int(ds["n_items"]), report.model,
             float(report.seconds.get("total", 0.0)), _dumps(kinds), _dumps(report.to_dict())))
        report.check_id = int(cur.lastrowid)
    audit("check recorded", check=report.check_id, dataset=ds["name"], origin=origin)
    return report.check_id


def list_checks(store: RunStore, limit: int = 500) -> list[CheckSummary]:
    """Recorded checks, newest first."""
    with store.connect() as con:
        rows = con.execute("SELECT id, created_utc, origin, dataset_name, dataset_source, n_items, model, seconds, "
                           "kinds_json FROM checks ORDER BY id DESC LIMIT ?", (int(limit),)).fetchall()
    return [CheckSummary(*r[:8], json.loads(r[8])) for r in rows]


def load_check(store: RunStore, check_id: int) -> dict:
    """A recorded check's report (``CheckReport.to_dict()``, with its ``check_id``); RunsError when unknown."""
    with store.connect() as con:
        row = con.execute("SELECT report_json FROM checks WHERE id = ?", (int(check_id),)).fetchone()
    if row is None:
        raise RunsError(f"There is no check #{check_id} in {store.path}.")
    out = json.loads(row[0])
    out["check_id"] = int(check_id)
    return out


def record_each(results: Sequence[SweepResult], origin: str, store: RunStore | None = None) -> list[str]:
    """Record every sweep of several models as its own run (sets each ``run_id``); the warnings of runs that could not
    be recorded (a sweep is never lost over the database)."""
    store = store or RunStore()
    warnings = []
    for r in results:
        try:
            store.record(r, origin=origin)
        except PrepscopeError as e:
            warnings.append(f"the {r.provenance['model']} run was not recorded: {e}")
    return warnings
