"""Dataset layouts, safe zip extraction (crafted archives), label patterns, digests and splits."""

from __future__ import annotations

import io
import stat
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import InvalidDataset
from core.evaluate.datasets import Dataset, Item, check_zip, extract_zip, open_dataset, scan_folder
from core.evaluate.splits import grouped_split, make_split, stratified_split


def _png(value: int = 128, size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), value, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _class_folders(root: Path, counts: dict[str, int]) -> Path:
    for label, n in counts.items():
        (root / label).mkdir(parents=True)
        for i in range(n):
            (root / label / f"{i}.png").write_bytes(_png(10 * i + len(label)))
    return root


def _zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point tempfile at an empty folder so tests can see whether anything was left behind."""
    t = tmp_path / "tmp"
    t.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(t))
    return t


# ----------------------------------------------------------------------------- layouts


def test_class_folders_give_sorted_classes_and_skip_other_files(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "ds", {"bees": 3, "ants": 2})
    (root / "ants" / "notes.txt").write_text("not an image")
    (root / "ants" / ".hidden.png").write_bytes(_png())
    ds = scan_folder(root)
    assert ds.classes == ["ants", "bees"]
    assert ds.counts() == {"ants": 2, "bees": 3}
    assert ds.skipped == 2 and ds.kind == "image" and not ds.has_groups
    assert ds.load(ds.items[0]).array.shape == (8, 8, 3)


def test_flat_folder_default_pattern_reads_label_and_group(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    root.mkdir()
    for label in ("0", "1"):
        for spk in ("george", "lucas"):
            for n in range(2):
                (root / f"{label}_{spk}_{n}.png").write_bytes(_png(n))
    ds = scan_folder(root)
    assert ds.classes == ["0", "1"]
    assert sorted({g for g in ds.groups}) == ["george", "lucas"] and ds.has_groups
    assert all(ds.classes[it.label] == Path(it.ref).name.split("_")[0] for it in ds.items)


def test_label_pattern_overrides_and_bad_patterns_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    root.mkdir()
    for label in ("cat", "dog"):
        for subj in range(3):
            (root / f"img-{label}-{subj}.png").write_bytes(_png(subj))
    ds = scan_folder(root, r"^img-(?P<label>[a-z]+)-(?P<group>\d)")
    assert ds.classes == ["cat", "dog"] and sorted(set(ds.groups)) == ["0", "1", "2"]
    with pytest.raises(InvalidDataset, match="does not match"):
        scan_folder(root)  # no underscore: the default pattern cannot read these names
    with pytest.raises(InvalidDataset, match="not a valid regular expression"):
        scan_folder(root, "(?P<label>[a-z")
    with pytest.raises(InvalidDataset, match="named group 'label'"):
        scan_folder(root, r"img-([a-z]+)")


def test_fewer_than_two_classes_is_refused(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "one", {"ants": 4})
    with pytest.raises(InvalidDataset, match="at least two classes"):
        scan_folder(root)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidDataset, match="no images or sounds"):
        scan_folder(empty)


def test_train_test_layout_is_a_given_split(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _class_folders(root / "train", {"a": 4, "b": 4})
    _class_folders(root / "val", {"a": 2, "b": 2})
    with open_dataset(root) as src:
        assert src.test is not None and len(src.train) == 8 and len(src.test) == 4
        split = make_split(src.train, src.test)
        assert split.kind == "given" and split.describe()["n_test"] == 4
    _class_folders(tmp_path / "other" / "train", {"a": 2, "b": 2})
    _class_folders(tmp_path / "other" / "test", {"a": 2, "c": 2})
    with pytest.raises(InvalidDataset, match="different classes"), open_dataset(tmp_path / "other"):
        pass


def test_mixed_images_and_sounds_are_refused(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "ds", {"a": 2, "b": 2})
    (root / "a" / "x.wav").write_bytes(b"RIFF0000WAVE")
    with pytest.raises(InvalidDataset, match="mixes images and sounds"):
        scan_folder(root)


# ----------------------------------------------------------------------------- zips


def test_zip_top_folder_macosx_and_dot_files_and_folder_digest(tmp_path: Path, private_tmp: Path) -> None:
    folder = _class_folders(tmp_path / "ds", {"ants": 2, "bees": 2})
    entries: list = [(f"ds/{p.relative_to(folder).as_posix()}", p.read_bytes()) for p in sorted(folder.rglob("*.png"))]
    entries += [("__MACOSX/ds/ants/._0.png", b"junk"), ("ds/.DS_Store", b"junk"), ("ds/ants/.cache/x.png", _png())]
    archive = _zip(tmp_path / "ds.zip", entries)
    with open_dataset(archive) as src:
        assert src.train.classes == ["ants", "bees"] and len(src.train) == 4
        assert src.train.digest == scan_folder(folder).digest  # content digest, not location
        assert src.train.load(src.train.items[0]).array.shape == (8, 8, 3)
        extracted = list(private_tmp.iterdir())
        assert len(extracted) == 1
    assert not list(private_tmp.iterdir())  # the extraction folder is removed afterwards


@pytest.mark.parametrize(
    ("name", "message"),
    [("../evil.png", "outside the archive"), ("ok/../../evil.png", "outside the archive"),
     ("/tmp/evil.png", "absolute path"), ("C:/evil.png", "absolute path")],
)
def test_zip_traversal_and_absolute_paths_are_refused_before_extracting(
    tmp_path: Path, private_tmp: Path, name: str, message: str
) -> None:
    archive = _zip(tmp_path / "evil.zip", [("ants/0.png", _png()), ("bees/0.png", _png(3)), (name, _png(9))])
    with pytest.raises(InvalidDataset, match=message), open_dataset(archive):
        pass
    assert not (tmp_path / "evil.png").exists() and not Path("/tmp/evil.png").exists()
    assert not list(private_tmp.iterdir())


def test_zip_symlink_is_refused(tmp_path: Path, private_tmp: Path) -> None:
    link = zipfile.ZipInfo("ants/link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = _zip(tmp_path / "link.zip", [("ants/0.png", _png()), ("bees/0.png", _png(3)), (link, b"/etc/passwd")])
    with pytest.raises(InvalidDataset, match="symbolic link"), open_dataset(archive):
        pass
    assert not list(private_tmp.iterdir())


def test_zip_entry_count_and_size_limits_are_checked_before_extracting(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "many.zip", [(f"c{i % 2}/{i}.png", _png(i)) for i in range(6)])
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(InvalidDataset, match="6 entries; the limit is 5"):
        extract_zip(archive, dest, max_entries=5)
    assert not list(dest.iterdir())
    big = _zip(tmp_path / "big.zip", [("a/0.png", b"\0" * 200_000), ("b/0.png", b"\0" * 200_000)])
    with zipfile.ZipFile(big) as zf:
        assert sum(i.compress_size for i in zf.infolist()) < 200_000 < sum(i.file_size for i in zf.infolist())
    with pytest.raises(InvalidDataset, match="limit is 0.3 MB"):
        extract_zip(big, dest, max_bytes=300_000)
    assert not list(dest.iterdir())
    with pytest.raises(InvalidDataset, match="limit is 0.3 MB"), open_dataset(big, max_bytes=300_000):
        pass


def test_zip_declaring_a_false_size_cannot_exceed_the_limit(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "liar.zip", [("a/0.bin", b"\1" * 50_000), ("b/0.bin", b"\1" * 50_000)])
    dest = tmp_path / "out"
    dest.mkdir()
    zf = zipfile.ZipFile(archive)
    for info in zf.infolist():
        info.file_size = 10  # what a crafted central directory would claim
    assert check_zip(zf, max_bytes=1000)  # the declared sizes pass the pre-check ...
    with pytest.raises(InvalidDataset):
        extract_zip(zf, dest, max_bytes=1000)  # ... but the real content does not get through
    assert sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) <= 1000


def test_not_a_zip_and_missing_paths_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    with pytest.raises(InvalidDataset, match="neither a folder nor a zip"), open_dataset(tmp_path / "x.zip"):
        pass
    with pytest.raises(InvalidDataset, match="does not exist"), open_dataset(tmp_path / "nope"):
        pass


# ----------------------------------------------------------------------------- splits


def _synthetic(n_classes: int = 3, groups: int = 6, per: int = 5) -> Dataset:
    items = [Item(f"{c}_{g}_{i}", c, f"g{g}") for c in range(n_classes) for g in range(groups) for i in range(per)]
    return Dataset("synthetic", [f"c{c}" for c in range(n_classes)], items, "image", "test", "d" * 24,
                   loader=lambda it: None)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_grouped_split_never_shares_a_group(seed: int) -> None:
    ds = _synthetic()
    split = grouped_split(ds, test_fraction=0.2, seed=seed)
    train_groups = {ds.items[i].group for i in split.train_idx}
    test_groups = {ds.items[i].group for i in split.test_idx}
    assert train_groups and test_groups and not train_groups & test_groups
    assert len(split.train_idx) + len(split.test_idx) == len(ds)
    d = split.describe()
    assert d["kind"] == "grouped" and d["seed"] == seed and set(d["test_groups"]) == test_groups


def test_make_split_is_grouped_automatically_when_groups_exist_and_seeded() -> None:
    ds = _synthetic()
    a, b = make_split(ds, seed=3), make_split(ds, seed=3)
    assert a.kind == "grouped" and np.array_equal(a.test_idx, b.test_idx)
    assert make_split(ds, group_split=False).kind == "stratified"


def test_stratified_split_keeps_class_proportions() -> None:
    items = [Item(i, 0) for i in range(40)] + [Item(100 + i, 1) for i in range(10)]
    ds = Dataset("s", ["big", "small"], items, "image", "t", "e" * 24, loader=lambda it: None)  # type: ignore[arg-type,return-value]
    split = stratified_split(ds, 0.2, seed=0)
    test_labels = ds.labels[split.test_idx]
    assert len(split.test_idx) == 10 and (test_labels == 0).sum() == 8 and (test_labels == 1).sum() == 2
    assert not set(split.train_idx) & set(split.test_idx)
    with pytest.raises(InvalidDataset, match="grouped split was requested"):
        make_split(ds, group_split=True)


def test_sample_per_class_is_seeded_and_bounded() -> None:
    ds = _synthetic(per=5)  # 30 items per class
    sub = ds.sample_per_class(4, seed=1)
    assert sub.counts() == {"c0": 4, "c1": 4, "c2": 4}
    assert [it.ref for it in sub.items] == [it.ref for it in ds.sample_per_class(4, seed=1).items]
    assert sub.digest != ds.digest and ds.sample_per_class(0) is ds


def test_zip_of_one_class_folder_says_so(tmp_path):
    import io
    import zipfile

    import numpy as np
    import pytest
    from PIL import Image

    from core.errors import InvalidDataset
    from core.evaluate.datasets import open_dataset

    path = tmp_path / "oneclass.zip"
    with zipfile.ZipFile(path, "w") as z:
        for i in range(3):
            b = io.BytesIO()
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(b, "PNG")
            z.writestr(f"cats/{i}.png", b.getvalue())
    with pytest.raises(InvalidDataset, match="at least two classes"):
        with open_dataset(path):
            pass


def test_zip_of_one_class_folder_names_the_pages_field_on_the_page(tmp_path: Path) -> None:
    from core.errors import page_message

    path = _zip(tmp_path / "oneclass.zip", [(f"cats/photo{i}.png", _png(40 * i)) for i in range(3)])
    with pytest.raises(InvalidDataset, match="holds one folder, 'cats'") as refused:
        with open_dataset(path):
            pass
    page = page_message(refused.value)
    assert "--label-pattern" not in page and "Label pattern field" in page, page
    assert "--label-pattern" in str(refused.value)  # the command line keeps its own wording


# ----------------------------------------------------------------------------- symbolic links


def test_linked_files_and_folders_are_followed(tmp_path: Path) -> None:
    store = _class_folders(tmp_path / "store", {"ants": 20, "bees": 20})
    ds_dir = tmp_path / "data" / "links"
    (ds_dir / "ants").mkdir(parents=True)
    for i, f in enumerate(sorted((store / "ants").iterdir())):  # 10 real files and 10 links in one class folder
        target = ds_dir / "ants" / f.name
        if i % 2:
            target.symlink_to(f)
        else:
            target.write_bytes(f.read_bytes())
    (ds_dir / "bees").symlink_to(store / "bees", target_is_directory=True)  # a linked class folder
    ds = scan_folder(ds_dir)
    assert ds.classes == ["ants", "bees"] and len(ds) == 40 and ds.skipped == 0
    from core.evaluate.evidence import open_item

    desc = {"source": str(ds_dir), "root": str(ds_dir)}  # a linked item is found again for its thumbnail
    assert open_item(desc, "ants/1.png").array.shape[:2] == (8, 8)
    assert open_item(desc, "bees/3.png").array.shape[:2] == (8, 8)
    flat = tmp_path / "data" / "flat"
    flat.mkdir()
    for f in sorted((store / "ants").iterdir())[:3]:
        (flat / f"ant_s1_{f.stem}.png").symlink_to(f)
    for f in sorted((store / "bees").iterdir())[:3]:
        (flat / f"bee_s2_{f.stem}.png").symlink_to(f)
    assert len(scan_folder(flat)) == 6


def test_link_loops_and_broken_links_are_skipped_and_counted(tmp_path: Path) -> None:
    ds_dir = _class_folders(tmp_path / "ds", {"a": 2, "b": 2})
    (ds_dir / "a" / "loop").symlink_to(ds_dir / "a", target_is_directory=True)  # a folder linking to itself
    (ds_dir / "b" / "up").symlink_to(ds_dir, target_is_directory=True)  # back to the dataset's root
    (ds_dir / "b" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    ds = scan_folder(ds_dir)
    assert len(ds) == 4 and ds.skipped == 3


def test_links_leaving_the_data_root_are_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "data"
    ds_dir = _class_folders(root / "ds", {"a": 2, "b": 2})
    outside = _class_folders(tmp_path / "private", {"a": 1})
    (ds_dir / "a" / "secret.png").symlink_to(outside / "a" / "0.png")
    monkeypatch.setenv("PREPSCOPE_DATA_ROOT", str(root))
    with pytest.raises(InvalidDataset, match=r"a/secret\.png links to a file outside the data root"):
        scan_folder(ds_dir)
    monkeypatch.delenv("PREPSCOPE_DATA_ROOT")
    monkeypatch.setattr("core.evaluate.datasets.data_root", lambda: None)
    assert len(scan_folder(ds_dir)) == 5  # no data root (the command line on any path): followed


def test_a_given_test_set_sharing_files_with_training_is_flagged(tmp_path, capsys):
    import shutil

    import numpy as np
    from PIL import Image

    from core.__main__ import main
    from core.evaluate.datasets import scan_folder
    from core.evaluate.splits import given_split

    for split in ("train", "test"):
        for cls in ("a", "b"):
            (tmp_path / split / cls).mkdir(parents=True)
    for cls, level in (("a", 30), ("b", 200)):
        for i in range(3):
            Image.fromarray(np.full((8, 8), level + i, np.uint8)).save(tmp_path / "train" / cls / f"{i}.png")
    shutil.copy(tmp_path / "train" / "a" / "0.png", tmp_path / "test" / "a" / "copy.png")
    Image.fromarray(np.full((8, 8), 99, np.uint8)).save(tmp_path / "test" / "b" / "new.png")
    split = given_split(scan_folder(tmp_path / "train"), scan_folder(tmp_path / "test"))
    assert split.overlap == 1 and split.overlap_warning() == (
        "1 of 2 test items are byte-identical to training items; the accuracy is optimistic.")
    assert split.describe()["overlap"] == 1
    same = given_split(scan_folder(tmp_path / "train"), scan_folder(tmp_path / "train"))
    assert same.overlap == 6 and "6 of 6" in same.overlap_warning()
    code = main(["sweep", "--train", str(tmp_path / "train"), "--test", str(tmp_path / "test"), "--quiet",
                 "--cache-dir", str(tmp_path / "cache")])
    assert code == 0 and "warning: 1 of 2 test items are byte-identical" in capsys.readouterr().err
