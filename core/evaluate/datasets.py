"""Labelled datasets for sweeps: class folders, flat folders with a name pattern, zips, built-ins.

Layouts, checked in this order under the root (a folder, or a zip extracted safely first; a single
top-level folder inside a zip is entered):

- ``train/`` plus ``test/`` (or ``val/``): a given split; each side is itself one of the layouts below.
  ``train/`` alone is used as the whole dataset.
- one subfolder per class holding images or sounds (the subfolder name is the label, no groups).
- a flat folder of files: by default label = file-name prefix before the first ``_`` and group = the
  second field (the FSDD convention ``{digit}_{speaker}_{n}.wav``). ``label_pattern`` (a regular
  expression with a named group ``label`` and optionally ``group``) overrides it; it is searched in
  the file name without its extension.

Files that are neither images nor sounds, dot files and ``__MACOSX/`` are ignored (and counted).
Symbolic links to files and folders are followed; each real folder is entered once (a link back up is
skipped and counted, as is a broken link). A dataset under the data root reads nothing outside it: a link
that leads out of the data root is refused, naming the link. Elsewhere (the command line on any folder)
links are followed wherever they lead.
Items are decoded lazily, one batch at a time, so memory does not grow with the dataset. Every
dataset carries a content digest (file bytes, labels, groups and order) that keys the feature cache.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from core.errors import InvalidDataset, on_surface
from core.io import load_input
from core.io.formats import media_kind
from core.io.synth import SOUND_CLASSES, item_signal
from core.io.synth import builtin_sounds as synth
from core.paths import data_root
from core.shared import public_path
from core.signal import Signal

DEFAULT_LABEL_PATTERN = r"^(?P<label>[^_]+)_(?P<group>[^_]+)"
#: Zip limits, checked on the central directory before anything is extracted.
MAX_ZIP_ENTRIES = 50_000
MAX_ZIP_BYTES = 2 * 1024**3
#: At most this many items in one dataset (folders and zips alike).
MAX_ITEMS = 200_000
BUILTINS = ("digits", "sounds")
#: The dashboard's default uses every item of a dataset up to this size; a larger one is subsampled to
#: about this many items, balanced over classes (``auto_per_class``), and the subset is stated.
DEFAULT_MAX_ITEMS = 2000


@dataclass(frozen=True)
class Item:
    """One labelled example: ``ref`` is a file path or a built-in index; ``label`` indexes ``classes``;
    ``sha256`` is the file's content hash (computed once, when the dataset is scanned; None for built-ins)."""

    ref: str | int
    label: int
    group: str | None = None
    sha256: str | None = None


@dataclass(eq=False)
class Dataset:
    """An ordered list of labelled items with a lazy decoder and a content digest.

    ``kind`` is ``image`` or ``audio``; ``source`` says where it came from (path, zip name or
    ``builtin:digits``); ``skipped`` counts ignored files. ``load(item)`` returns the item's Signal.
    ``root`` is the folder item paths are relative to (the given folder, or the zip's extraction
    folder, so a path is the zip member's name); ``params`` are a built-in set's arguments;
    ``subsample`` says how a seeded subset was drawn (``{"per_class", "seed", "of"}``), None for all items;
    ``archive`` names the zip the items came from (its extraction folder is temporary).
    """

    name: str
    classes: list[str]
    items: list[Item]
    kind: str
    source: str
    digest: str
    loader: Callable[[Item], Signal] = field(repr=False)
    skipped: int = 0
    root: str | None = None
    params: dict = field(default_factory=dict)
    subsample: dict | None = None
    archive: str | None = None

    def __len__(self) -> int:
        return len(self.items)

    @property
    def labels(self) -> np.ndarray:
        return np.array([it.label for it in self.items], dtype=np.int64)

    @property
    def groups(self) -> list[str | None]:
        return [it.group for it in self.items]

    @property
    def has_groups(self) -> bool:
        return all(it.group is not None for it in self.items) and len({it.group for it in self.items}) > 1

    def load(self, item: Item) -> Signal:
        return self.loader(item)

    def item_path(self, item: Item) -> str:
        """Where the item lives inside the dataset: a POSIX path relative to ``root`` (``ants/x.jpg``, or the
        zip member name), or ``#<index>`` for a built-in item."""
        if isinstance(item.ref, int) or self.root is None:
            return f"#{item.ref}"
        try:
            return Path(str(item.ref)).relative_to(self.root).as_posix()
        except ValueError:
            return Path(str(item.ref)).name

    def item_name(self, item: Item) -> str:
        """A short name for people: the file name, or ``digits #12`` for a built-in item."""
        if isinstance(item.ref, int):
            return f"{self.source.removeprefix('builtin:')} #{item.ref}"
        return Path(str(item.ref)).name

    def counts(self) -> dict[str, int]:
        """Items per class name."""
        c = np.bincount(self.labels, minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, c, strict=True)}

    def subset(self, indices: Sequence[int], name: str | None = None) -> Dataset:
        """The items at ``indices`` (same classes, same decoder); its digest covers the selection."""
        idx = [int(i) for i in indices]
        h = hashlib.sha256(f"{self.digest}|subset|{','.join(map(str, idx))}".encode()).hexdigest()[:24]
        return Dataset(name or self.name, self.classes, [self.items[i] for i in idx], self.kind, self.source, h,
                       self.loader, self.skipped, self.root, dict(self.params), self.subsample,
                       self.archive)

    def sample_per_class(self, n: int, seed: int = 0) -> Dataset:
        """At most ``n`` items of each class, drawn with ``seed`` (dataset order kept); ``n <= 0`` keeps all."""
        if n <= 0:
            return self
        rng = np.random.default_rng(seed)
        labels = self.labels
        keep: list[int] = []
        for c in range(len(self.classes)):
            idx = np.flatnonzero(labels == c)
            if len(idx) > n:
                idx = rng.choice(idx, size=n, replace=False)
            keep.extend(int(i) for i in idx)
        if len(keep) == len(self):
            return self
        sub = self.subset(sorted(keep), name=f"{self.name} ({n} per class, seed {seed})")
        sub.subsample = {"per_class": int(n), "seed": int(seed), "of": len(self) if self.subsample is None
                         else int(self.subsample["of"])}
        return sub

    def describe(self) -> dict:
        """JSON-able summary for provenance."""
        out = {"name": self.name, "source": self.source, "digest": self.digest, "kind": self.kind,
               "n_items": len(self), "classes": list(self.classes), "counts": self.counts(),
               "groups": len({g for g in self.groups if g is not None}), "skipped_files": self.skipped,
               "subset": None if self.subsample is None else dict(self.subsample),
               "root": None if self.archive or self.root is None else str(self.root), "archive": self.archive}
        if self.params:
            out["params"] = dict(self.params)
        return out


def auto_per_class(n_items: int, n_classes: int, max_items: int = DEFAULT_MAX_ITEMS) -> int:
    """The dashboard's default subset: 0 (every item) for a dataset of at most ``max_items`` items, else the
    number of items per class that keeps about ``max_items`` in all (classes smaller than that stay whole)."""
    if n_items <= max_items or n_classes <= 0:
        return 0
    return max(1, max_items // n_classes)


@dataclass(eq=False)
class DatasetSource:
    """What a path or zip held: the training (or whole) dataset and, when given, a test dataset."""

    train: Dataset
    test: Dataset | None
    source: str


# ---------------------------------------------------------------------------------------------
# Safe zip extraction


def check_zip(zf: zipfile.ZipFile, max_entries: int = MAX_ZIP_ENTRIES, max_bytes: int = MAX_ZIP_BYTES
              ) -> list[zipfile.ZipInfo]:
    """Validate every entry of an archive before anything is extracted; return the regular files to keep.

    Refused (InvalidDataset): more than ``max_entries`` entries, more than ``max_bytes`` declared
    uncompressed bytes, absolute paths or drive letters, ``..`` components, symbolic links or other
    special files, encrypted entries. ``__MACOSX/`` and dot files are skipped, directories are implied.
    """
    infos = zf.infolist()
    if len(infos) > max_entries:
        raise InvalidDataset(f"The archive has {len(infos)} entries; the limit is {max_entries}.")
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise InvalidDataset(
            f"The archive would unpack to {total / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB."
        )
    keep = []
    for info in infos:
        name = info.filename
        if "\\" in name:
            name = name.replace("\\", "/")
        p = PurePosixPath(name)
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            raise InvalidDataset(f"The archive entry {info.filename!r} has an absolute path; refusing to extract.")
        if ".." in p.parts:
            raise InvalidDataset(f"The archive entry {info.filename!r} points outside the archive ('..').")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise InvalidDataset(f"The archive entry {info.filename!r} is a symbolic link; links are refused.")
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise InvalidDataset(f"The archive entry {info.filename!r} is not a regular file.")
        if info.flag_bits & 0x1:
            raise InvalidDataset(f"The archive entry {info.filename!r} is encrypted; upload an unencrypted zip.")
        if info.is_dir() or not p.parts:
            continue
        if p.parts[0] == "__MACOSX" or any(part.startswith(".") for part in p.parts):
            continue
        keep.append(info)
    return keep


def extract_zip(archive: str | Path | zipfile.ZipFile, dest: str | Path, max_entries: int = MAX_ZIP_ENTRIES,
                max_bytes: int = MAX_ZIP_BYTES) -> Path:
    """Check (see ``check_zip``) then extract the archive's regular files under ``dest``.

    ``archive`` is a path or an open ZipFile (closed on return). The real number of bytes written is
    counted while extracting, so an entry that lies about its size cannot exceed the limit; a damaged
    entry (bad CRC, truncated data) is refused. Returns ``dest`` as a Path.
    """
    dest = Path(dest)
    if isinstance(archive, zipfile.ZipFile):
        zf = archive
    else:
        try:
            zf = zipfile.ZipFile(archive)
        except (zipfile.BadZipFile, OSError) as e:
            raise InvalidDataset(f"Cannot open the dataset archive: {e}. Upload a .zip file.") from None
    with zf:
        keep = check_zip(zf, max_entries, max_bytes)
        root = dest.resolve()
        written = 0
        for info in keep:
            target = (root / info.filename.replace("\\", "/")).resolve()
            if root not in target.parents:
                raise InvalidDataset(f"The archive entry {info.filename!r} points outside the archive.")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > max_bytes:
                            raise InvalidDataset(
                                f"The archive unpacks to more than its declared size; the limit is "
                                f"{max_bytes / 1e6:.1f} MB."
                            )
                        out.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as e:
                raise InvalidDataset(f"The archive entry {info.filename!r} cannot be read: {e}.") from None
    return dest


# ---------------------------------------------------------------------------------------------
# Folder scanning


def _visible(p: Path) -> bool:
    return not p.name.startswith(".") and p.name != "__MACOSX"


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _decode_file(item: Item) -> Signal:
    return load_input(Path(str(item.ref)), sha256=item.sha256)


def _finish(name: str, source: str, rows: list[tuple[Path, str, str | None]], skipped: int) -> Dataset:
    """rows: (path, label, group) -> Dataset with sorted classes, a digest and one media kind."""
    if len(rows) > MAX_ITEMS:
        raise InvalidDataset(f"{name}: {len(rows)} files; the limit is {MAX_ITEMS}.")
    classes = sorted({r[1] for r in rows})
    if len(classes) < 2:
        found = f"only the class {classes[0]!r}" if classes else "no images or sounds"
        raise InvalidDataset(
            f"{name}: found {found}; a dataset needs at least two classes (one subfolder per class, "
            f"or file names like label_group_n.wav)."
        )
    kinds = {media_kind(r[0]) for r in rows}
    if len(kinds) > 1:
        raise InvalidDataset(f"{name} mixes images and sounds; use one kind of input per dataset.")
    index = {c: i for i, c in enumerate(classes)}
    rows = sorted(rows, key=lambda r: (index[r[1]], str(r[0])))
    h = hashlib.sha256()
    items = []
    for path, label, group in rows:
        digest = _file_digest(path)
        h.update(f"{label}|{group}|{path.name}|{digest}\n".encode())
        items.append(Item(str(path), index[label], group, digest))
    return Dataset(name, classes, items, kinds.pop() or "image", source, h.hexdigest()[:24], _decode_file, skipped)


def link_boundary(root: Path) -> Path | None:
    """The folder links may not leave: the data root, when the dataset lies under it; else None (the command
    line on any folder follows links wherever they go)."""
    base = data_root()
    if base is None:
        return None
    try:
        base, real = base.resolve(), root.resolve()
    except (OSError, RuntimeError):
        return None
    return base if real == base or base in real.parents else None


def _follow(p: Path, root: Path, name: str, boundary: Path | None) -> Path | None:
    """Where the link ``p`` leads (resolved), None when it leads nowhere (broken, or a loop); InvalidDataset when
    it leaves ``boundary``."""
    try:
        target = p.resolve(strict=True)
    except (OSError, RuntimeError):  # broken, or a loop of links
        return None
    if boundary is not None and target != boundary and boundary not in target.parents:
        kind = "folder" if target.is_dir() else "file"
        raise InvalidDataset(f"{name}: {p.relative_to(root).as_posix()} links to a {kind} outside the data root; "
                             "copy it into the data root or remove the link (a dataset under the data root reads "
                             "nothing outside it).")
    return target


def _media_files(top: Path, root: Path, name: str, boundary: Path | None) -> tuple[list[Path], int]:
    """The image and sound files under ``top`` (links to files and folders followed, each real folder entered
    once, so a link back up never loops), in sorted order, and how many entries were skipped (other files,
    dot files, broken links, links to a folder already entered)."""
    out: list[Path] = []
    skipped = 0
    entered = {root.resolve()}
    stack = [top]
    while stack:
        folder = stack.pop()
        real = folder.resolve()
        if real in entered and folder != root:
            skipped += 1
            continue
        entered.add(real)
        files, dirs = [], []
        for p in sorted(folder.iterdir()):
            if p.name == "__MACOSX" or (p.name.startswith(".") and p.is_dir()):
                continue
            if p.name.startswith("."):
                skipped += 1
                continue
            target = _follow(p, root, name, boundary) if p.is_symlink() else p
            if target is None:
                skipped += 1
            elif target.is_dir():
                dirs.append(p)
            elif media_kind(p) is None:
                skipped += 1
            else:
                files.append(p)
        out.extend(files)
        stack.extend(reversed(dirs))
    return out, skipped


def _scan_class_folders(root: Path, name: str, source: str) -> Dataset:
    rows: list[tuple[Path, str, str | None]] = []
    skipped = 0
    boundary = link_boundary(root)
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and _visible(p)):
        if sub.is_symlink() and _follow(sub, root, name, boundary) is None:
            continue
        files, n = _media_files(sub, root, name, boundary)
        rows += [(p, sub.name, None) for p in files]
        skipped += n
    return _finish(name, source, rows, skipped)


def _compile_pattern(pattern: str | None) -> re.Pattern:
    try:
        rx = re.compile(pattern or DEFAULT_LABEL_PATTERN)
    except re.error as e:
        raise InvalidDataset(f"The label pattern {pattern!r} is not a valid regular expression: {e}.") from None
    if "label" not in rx.groupindex:
        raise InvalidDataset(
            "The label pattern needs a named group 'label', e.g. '^(?P<label>[^_]+)_(?P<group>[^_]+)'."
        )
    return rx


def _scan_flat(root: Path, name: str, source: str, pattern: str | None) -> Dataset:
    rx = _compile_pattern(pattern)
    rows: list[tuple[Path, str, str | None]] = []
    skipped = 0
    boundary = link_boundary(root)
    for p in sorted(root.iterdir()):
        if p.is_symlink() and _follow(p, root, name, boundary) is None:
            skipped += 1
            continue
        if not p.is_file() or not _visible(p) or media_kind(p) is None:
            skipped += 1
            continue
        m = rx.search(p.stem)
        if m is None or not m.group("label"):
            how = (on_surface("--label-pattern", "the Label pattern field") if pattern else
                   "the default pattern label_group_n (or " + on_surface("pass --label-pattern", "give a pattern in "
                                                                         "the Label pattern field") + ")")
            raise InvalidDataset(f"{name}: the file name {p.name!r} does not match {how}.")
        group = m.group("group") if "group" in rx.groupindex else None
        rows.append((p, m.group("label"), group or None))
    return _finish(name, source, rows, skipped)


def scan_folder(root: str | Path, label_pattern: str | None = None, name: str | None = None) -> Dataset:
    """One dataset from a folder: one subfolder per class, else a flat folder named by ``label_pattern``."""
    root = Path(root)
    name = name or root.name or str(root)
    if not root.is_dir():
        raise InvalidDataset(f"{root} is not a folder.")
    subdirs = [p for p in root.iterdir() if p.is_dir() and _visible(p)]
    if subdirs and label_pattern is None:
        return _scan_class_folders(root, name, str(root))
    return _scan_flat(root, name, str(root), label_pattern)


def _split_dirs(root: Path) -> tuple[Path | None, Path | None]:
    names = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    return names.get("train"), names.get("test") or names.get("val")


def _enter_single_folder(root: Path) -> Path:
    entries = [p for p in root.iterdir() if _visible(p)]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return root


def _from_root(root: Path, label_pattern: str | None, source: str, base: Path | None = None,
               archive: str | None = None) -> DatasetSource:
    """Scan ``root``; item paths are relative to ``base`` (default ``root``); ``archive`` names a zip."""
    train_dir, test_dir = _split_dirs(root)
    if train_dir is not None and test_dir is not None:
        train = scan_folder(train_dir, label_pattern, name=f"{root.name}/{train_dir.name}")
        test = scan_folder(test_dir, label_pattern, name=f"{root.name}/{test_dir.name}")
        check_same_classes(train, test)
    elif train_dir is not None:
        train, test = scan_folder(train_dir, label_pattern, name=f"{root.name}/{train_dir.name}"), None
    else:
        # files at the top of an archive: the dataset is named after the zip, not its temporary folder
        top = archive is not None and base is not None and root == base
        train, test = scan_folder(root, label_pattern, name=Path(archive).stem if top else None), None
    for ds in (train, test):
        if ds is not None:
            ds.root = str(base or root)
            if archive is not None:
                ds.archive = archive
                ds.source = f"{archive} (zip)" + ("" if ds.name == root.name else f" {ds.name}")
    return DatasetSource(train, test, source)


def check_same_classes(train: Dataset, test: Dataset) -> None:
    """A given test set must have exactly the training classes."""
    if train.classes != test.classes:
        only_train = sorted(set(train.classes) - set(test.classes))
        only_test = sorted(set(test.classes) - set(train.classes))
        raise InvalidDataset(
            f"The train and test sets have different classes (only in train: {only_train or 'none'}; "
            f"only in test: {only_test or 'none'})."
        )
    if train.kind != test.kind:
        raise InvalidDataset("The train set and the test set hold different kinds of input (images vs sounds).")


@contextmanager
def open_dataset(path: str | Path, label_pattern: str | None = None, *, max_entries: int = MAX_ZIP_ENTRIES,
                 max_bytes: int = MAX_ZIP_BYTES) -> Iterator[DatasetSource]:
    """Open a folder or a zip as a DatasetSource; a zip is extracted to a temporary folder removed on exit.

    Raises InvalidDataset for a missing path, an unsafe or oversized archive, an unusable layout or
    fewer than two classes. Nothing is written outside the temporary folder.
    """
    path = Path(path)
    if not path.exists():
        raise InvalidDataset(f"The dataset path {path} does not exist.")
    if path.is_dir():
        yield _from_root(path, label_pattern, str(path))
        return
    if not zipfile.is_zipfile(path):
        raise InvalidDataset(f"{path.name} is neither a folder nor a zip archive.")
    tmp = tempfile.mkdtemp(prefix="prepscope-dataset-")
    try:
        extract_zip(path, tmp, max_entries, max_bytes)
        root = _enter_single_folder(Path(tmp))
        try:
            src = _from_root(root, label_pattern, f"{path.name} (zip)", base=Path(tmp), archive=path.name)
        except InvalidDataset as e:
            if root == Path(tmp) or any(p.is_dir() for p in root.iterdir() if _visible(p)):
                raise
            raise InvalidDataset(  # the message as raised: its phrases keep both wordings (page and command line)
                f"{Exception.__str__(e)} The archive holds one folder, '{root.name}', of files: if that is one "
                "class, add a folder per other class beside it (a dataset needs at least two classes)."
            ) from None
        yield src
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def open_zip_bytes(data: bytes, filename: str = "upload.zip", label_pattern: str | None = None, **limits: int
                   ) -> Iterator[DatasetSource]:
    """Like ``open_dataset`` for an uploaded zip held in memory (written to a temporary file first)."""
    tmp = tempfile.mkdtemp(prefix="prepscope-upload-")
    try:
        p = Path(tmp) / (Path(filename).name or "upload.zip")
        p.write_bytes(data)
        with open_dataset(p, label_pattern, **limits) as src:
            yield src
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Built-ins


def builtin_digits() -> Dataset:
    """scikit-learn's bundled handwritten digits: 1,797 gray 8x8 images, classes 0-9, no groups.

    Values 0..16 are scaled to [0, 1]; the variant's resize does the upscaling.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images / 16.0).astype(np.float32)
    labels = d.target.astype(int)
    items = [Item(i, int(labels[i])) for i in range(len(labels))]
    h = hashlib.sha256(b"builtin-digits|" + images.tobytes() + labels.astype(np.int64).tobytes())

    def load(item: Item) -> Signal:
        return Signal(images[int(item.ref)], {"source": f"digits #{item.ref}", "decoder": "sklearn.load_digits"})

    return Dataset("digits", [str(c) for c in range(10)], items, "image", "builtin:digits", h.hexdigest()[:24], load)


def builtin_sounds(n_per_class: int = 20, seed: int = 0) -> Dataset:
    """The project's synthesized sound set (core.io.synth): deterministic, with groups for grouped splits."""
    sounds = list(synth(n_per_class=n_per_class, seed=seed))
    classes = list(SOUND_CLASSES)
    index = {c: i for i, c in enumerate(classes)}
    h = hashlib.sha256(f"builtin-sounds|{n_per_class}|{seed}".encode())
    items = []
    for i, s in enumerate(sounds):
        w = np.ascontiguousarray(s.waveform, dtype=np.float32)
        h.update(f"{s.name}|{s.label}|{s.group}|{s.sr}".encode() + w.tobytes())
        items.append(Item(i, index[s.label], None if s.group is None else str(s.group)))

    def load(item: Item) -> Signal:
        return item_signal(sounds[int(item.ref)])

    return Dataset("sounds", classes, items, "audio", "builtin:sounds", h.hexdigest()[:24], load,
                   params={"n_per_class": int(n_per_class), "seed": int(seed)})


def list_data_folders(root: str | Path | None) -> list[str]:
    """Names of the visible subfolders of ``root`` (sorted); empty when ``root`` is None or missing."""
    if root is None or not Path(root).is_dir():
        return []
    return sorted(p.name for p in Path(root).iterdir() if p.is_dir() and _visible(p))


def resolve_data_folder(root: str | Path, name: str) -> Path:
    """``root/name`` after checking that it stays inside ``root`` and is a folder."""
    base = Path(root).resolve()
    path = (base / name).resolve()
    if base != path and base not in path.parents:
        raise InvalidDataset(f"{name!r} is outside the data root {public_path(base)} (a link out of it is not "
                             "followed).")
    if not path.is_dir():
        raise InvalidDataset(f"{name!r} is not a folder under the data root {public_path(base)}.")
    return path


def load_builtin(name: str, **kw: int) -> Dataset:
    """A built-in dataset by name (``digits`` or ``sounds``)."""
    if name == "digits":
        return builtin_digits()
    if name == "sounds":
        return builtin_sounds(**kw)
    raise InvalidDataset(f"Unknown built-in dataset {name!r}; available: {', '.join(BUILTINS)}.")


@dataclass(frozen=True)
class DatasetRequest:
    """What a user asked for, from the command line or the Accuracy page: a built-in set, a folder or zip
    path, or an uploaded zip's bytes; optionally a separate test folder or zip; at most ``per_class``
    items per class (a seeded subset; 0 keeps all; None = ``auto_per_class``: all items up to
    ``DEFAULT_MAX_ITEMS``, else a balanced subset of about that many)."""

    builtin: str | None = None
    path: str | None = None
    zip_bytes: bytes | None = field(default=None, repr=False)
    zip_name: str = "upload.zip"
    test_path: str | None = None
    label_pattern: str | None = None
    per_class: int | None = 0
    seed: int = 0
    n_sounds: int = 20


@contextmanager
def open_request(req: DatasetRequest) -> Iterator[tuple[Dataset, Dataset | None]]:
    """(train, test or None) for a request; temporary folders of zips are removed on exit.

    Raises InvalidDataset with a sentence for the user for every unusable request."""
    with ExitStack() as stack:
        if req.builtin is not None:
            if req.test_path:
                raise InvalidDataset("A separate test set goes with a dataset folder or zip, not with a built-in set.")
            train = load_builtin(req.builtin, n_per_class=req.n_sounds) if req.builtin == "sounds" \
                else load_builtin(req.builtin)
            test = None
        else:
            if req.zip_bytes is not None:
                src = stack.enter_context(open_zip_bytes(req.zip_bytes, req.zip_name, req.label_pattern))
            elif req.path:
                src = stack.enter_context(open_dataset(req.path, req.label_pattern))
            else:
                raise InvalidDataset("Choose a dataset: a built-in set, a folder or a zip.")
            train, test = src.train, src.test
            if req.test_path:
                if test is not None:
                    raise InvalidDataset(f"{req.path or req.zip_name} already holds a test/ folder; drop the separate "
                                         "test set or point at its train/ folder.")
                test = stack.enter_context(open_dataset(req.test_path, req.label_pattern)).train
        def per_class(ds: Dataset) -> int:
            return auto_per_class(len(ds), len(ds.classes)) if req.per_class is None else req.per_class

        train = train.sample_per_class(per_class(train), req.seed)
        test = None if test is None else test.sample_per_class(per_class(test), req.seed)
        yield train, test
