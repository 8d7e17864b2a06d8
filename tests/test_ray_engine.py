"""The Ray Data extraction engine: the in-process engine's bytes on photos and sounds, nothing kept by a stopped
pass, a damaged file's in-process sentence, workers with other weights refused, and a sweep through a separately
started head on 127.0.0.1 with the in-process sweep's JSON. One local Ray instance serves the whole session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import InvalidDataset
from core.evaluate.datasets import scan_folder
from core.evaluate.features import FeatureCache, extract
from core.preprocess.presets import get_preset
from core.preprocess.variant import Variant
from core.provenance import Stopped

ROOT = Path(__file__).resolve().parents[1]
# Ray Data warns about its own deprecated context fields when it is imported: not ours to fix
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")]


@pytest.fixture(scope="session")
def ray_local(tmp_path_factory: pytest.TempPathFactory):
    """One local Ray instance for the session (its token under a temporary prepscope home, never ``~/.ray``).
    Nothing imports ray before ``connect`` (it reads the loopback and token settings when ray is imported)."""
    from core.evaluate import rayengine

    home = tmp_path_factory.mktemp("ray-home")
    saved = os.environ.get("PREPSCOPE_HOME")
    os.environ["PREPSCOPE_HOME"] = str(home)
    try:
        conn = rayengine.connect()
    finally:
        if saved is None:
            os.environ.pop("PREPSCOPE_HOME", None)
        else:
            os.environ["PREPSCOPE_HOME"] = saved
    yield conn
    rayengine.disconnect()


def _cached_bytes(cache: FeatureCache, ds, variants, model) -> dict[str, tuple[bytes, bytes]]:
    """The cache entries' arrays as bytes, read from the files (not from what extract returned)."""
    out = {}
    for v in variants:
        p, lg, _ = cache.paths(cache.key(ds, v, model))
        out[v.spec_key()] = (np.load(p).tobytes(), np.load(lg).tobytes())
    return out


def _both_engines(ds, variants, model, tmp_path: Path, batch: int) -> None:
    from core.evaluate.rayengine import RayEngine

    inproc, ray_cache = FeatureCache(tmp_path / "inprocess"), FeatureCache(tmp_path / "ray")
    extract(ds, variants, model, inproc, batch_size=batch)
    engine = RayEngine()
    ticks: list[float] = []
    got = extract(ds, variants, model, ray_cache, batch_size=batch, engine=engine,
                  progress=lambda f, _m: ticks.append(f))
    assert not any(f.cached for f in got.values()) and ticks[-1] == pytest.approx(1.0)
    assert engine.last["actors"] >= 1
    a, b = _cached_bytes(inproc, ds, variants, model), _cached_bytes(ray_cache, ds, variants, model)
    assert a.keys() == b.keys() and len(a) == len({v.spec_key() for v in variants})
    for k in a:
        assert a[k][0] == b[k][0], f"pooled features differ for {k}"
        assert a[k][1] == b[k][1], f"logits differ for {k}"
    meta = json.loads(ray_cache.paths(ray_cache.key(ds, variants[0], model))[2].read_text(encoding="utf-8"))
    assert meta["engine"] == "ray"


def test_ray_photo_features_are_the_in_process_bytes(ray_local, shared_data, model, tmp_path: Path) -> None:
    ds = scan_folder(shared_data("hymenoptera", "train"))
    ds = ds.subset(np.linspace(0, len(ds) - 1, 10).round().astype(int).tolist())
    by_name = {v.name: v for v in get_preset("channels")}
    # gray-conv-sum's input is gray-replicate's (equal per-channel statistics): computed once, the same bytes
    variants = [by_name["rgb"], by_name["gray-replicate"], by_name["gray-conv-sum"], by_name["gray→viridis"]]
    _both_engines(ds, variants, model, tmp_path, batch=4)


def test_ray_sound_features_are_the_in_process_bytes(ray_local, shared_data, model, tmp_path: Path) -> None:
    ds = scan_folder(shared_data("fsdd"))
    ds = ds.subset(np.linspace(0, len(ds) - 1, 8).round().astype(int).tolist())
    variants = [v for v in get_preset("spectrogram") if v.name in ("gray-replicate", "gray-conv-sum", "magma")]
    _both_engines(ds, variants, model, tmp_path, batch=3)


def test_a_stopped_ray_pass_keeps_nothing(ray_local, shared_data, model, tmp_path: Path) -> None:
    from core.evaluate.rayengine import RayEngine

    ds = scan_folder(shared_data("fsdd")).subset(range(24))
    checks = [0]

    def stop() -> bool:
        checks[0] += 1
        return checks[0] > 2

    with pytest.raises(Stopped, match=r"Stopped after \d+ of 24 items"):
        extract(ds, [Variant()], model, FeatureCache(tmp_path), batch_size=2, engine=RayEngine(), should_stop=stop)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_damaged_file_gives_the_in_process_sentence(ray_local, shared_data, model, tmp_path: Path) -> None:
    from core.evaluate.rayengine import RayEngine

    root = tmp_path / "data"
    for c in ("ants", "bees"):
        (root / c).mkdir(parents=True)
        for p in sorted(shared_data("hymenoptera", "train", c).iterdir())[:3]:
            shutil.copy(p, root / c / p.name)
    (root / "bees" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    ds = scan_folder(root)
    messages = []
    for engine in (None, RayEngine()):
        with pytest.raises(InvalidDataset) as e:
            extract(ds, [Variant()], model, FeatureCache(tmp_path / "cache"), batch_size=2, engine=engine)
        assert type(e.value) is InvalidDataset
        messages.append(str(e.value))
    assert messages[0] == messages[1] and messages[0].startswith("broken.jpg in data cannot be used:")
    assert "\n" not in messages[1] and "ray" not in messages[1].lower()
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_workers_with_other_weights_are_refused(shared_data, model) -> None:
    """The actor's check runs in this process here: a fingerprint that is not the driver's stops every batch."""
    from core.evaluate.rayengine import EngineError, _Extractor

    ds = scan_folder(shared_data("fsdd")).subset(range(2))
    worker = _Extractor(ds, [Variant()], model.name, None, "0" * 16, "cpu", 2)
    with pytest.raises(EngineError, match=r"other weights .*install the same weights packages on every node"):
        worker({"item_id": np.array([0, 1]), "path": np.array(["a", "b"])})
    from core.evaluate.features import model_fingerprint

    ok = _Extractor(ds, [Variant()], model.name, None, model_fingerprint(model), "cpu", 2)
    out = ok({"item_id": np.array([1, 0]), "path": np.array(["a", "b"])})
    assert out["item_id"].tolist() == [1, 0] and out["pooled0"].shape == (2, model.feature_dim)


def test_engine_flags_are_checked(ray_local, capsys: pytest.CaptureFixture[str]) -> None:
    """Checked while this process is connected to a local instance: an address asked for is never answered by the
    cluster already connected (it was: the sweep ran on the local instance and exited 0)."""
    from core.__main__ import main
    from core.evaluate.rayengine import is_loopback

    assert main(["sweep", "--builtin", "digits", "--ray-address", "127.0.0.1:6379", "--quiet", "--no-record"]) == 2
    assert "--ray-address goes with --engine ray" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sweep", "--builtin", "digits", "--engine", "spark"])
    assert "invalid choice: 'spark'" in capsys.readouterr().err
    assert main(["check", "--builtin", "digits", "--ray-address", "127.0.0.1:6379", "--quiet", "--no-record"]) == 2
    assert "--ray-address goes with --engine ray" in capsys.readouterr().err
    from core.evaluate.rayhead import free_port

    port = free_port()  # nothing listens there: refused at once, not after ray.init's minutes of retries
    assert main(["sweep", "--builtin", "digits", "--max-per-class", "3", "--cv", "none", "--engine", "ray",
                 "--ray-address", f"127.0.0.1:{port}", "--quiet", "--no-record"]) == 2
    err = capsys.readouterr().err
    assert f"No Ray cluster answers at 127.0.0.1:{port}" in err and "Traceback" not in err
    from core.evaluate import rayengine

    assert rayengine.connect() is ray_local  # the refusal left the local instance as it was
    assert is_loopback(None) and is_loopback("127.0.0.1:6379") and is_loopback("localhost:1")
    assert not is_loopback("10.0.0.5:6379") and not is_loopback("ray://head.example:10001")


def test_actor_pool_sizes_leave_cpus_for_ray_and_share_gpus() -> None:
    """Pool sizing from a cluster's resources (no Ray needed): CPU actors leave half a CPU free; GPU actors share
    GPUs, as many as the CPUs allow; a GPU model on a cluster without GPUs is refused."""
    import torch

    from core.evaluate.rayengine import Connection, EngineError, RayEngine

    engine = RayEngine()
    engine.connection = Connection("test", 0.0, 2.0, 0.0)
    assert engine._pool(torch.device("cpu")) == (2, 0.75, 0.0)
    with pytest.raises(EngineError, match="has no GPU"):
        engine._pool(torch.device("cuda"))
    engine.connection = Connection("test", 0.0, 16.0, 2.0)
    assert engine._pool(torch.device("cuda")) == (8, 1.0, 0.25)
    engine.connection = Connection("test", 0.0, 3.0, 1.0)
    assert engine._pool(torch.device("cuda")) == (2, 1.0, 0.5)
    engine.actors = 1
    assert engine._pool(torch.device("cpu")) == (1, 2.5, 0.0)


def _comparable(result: dict) -> dict:
    """A sweep's JSON without what differs by run (seconds, the engine's own entry, the cache folder)."""
    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items() if k not in ("seconds", "engine", "layout", "cache_dir")}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    return clean(result)


def test_a_sweep_through_a_separate_head_gives_the_in_process_json(shared_data, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from core.__main__ import main
    from core.evaluate.rayhead import group_members, head_record, start_head, stop_head

    data = tmp_path / "photos"
    for c in ("ants", "bees"):
        (data / c).mkdir(parents=True)
        for p in sorted(shared_data("hymenoptera", "train", c).iterdir())[:5]:
            shutil.copy(p, data / c / p.name)
    from core.preprocess.variant import VariantSet

    chosen = [v for v in get_preset("channels") if v.name in ("rgb", "gray-replicate", "gray-conv-sum", "gray→jet")]
    (tmp_path / "variants.json").write_text(json.dumps(VariantSet.of(chosen).to_dict()), encoding="utf-8")
    args = ["sweep", "--train", str(data), "--variants", str(tmp_path / "variants.json"), "--batch", "4", "--cv",
            "none", "--quiet", "--no-record"]
    assert main([*args, "--cache-dir", str(tmp_path / "c1"), "--json", str(tmp_path / "inprocess.json")]) == 0

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    head = start_head(num_cpus=2)
    try:
        assert head.address.startswith("127.0.0.1:") and json.loads(head_record().read_text())["pid"] == head.pid
        proc = subprocess.run(
            [sys.executable, "-m", "core", *args, "--engine", "ray", "--ray-address", head.address,
             "--cache-dir", str(tmp_path / "c2"), "--json", str(tmp_path / "ray.json")],
            cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ})
        assert proc.returncode == 0, proc.stderr[-2000:]
    finally:
        stopped = stop_head()
    assert stopped is not None and stopped.pid == head.pid
    assert not group_members(head.pid) and not head_record().exists()
    ray_json = json.loads((tmp_path / "ray.json").read_text(encoding="utf-8"))
    in_json = json.loads((tmp_path / "inprocess.json").read_text(encoding="utf-8"))
    engine = ray_json["provenance"]["extraction"]["engine"]
    assert engine["name"] == "ray" and engine["address"] == head.address
    assert in_json["provenance"]["extraction"]["engine"] == {"name": "inprocess"}
    assert [v["name"] for v in in_json["variants"]] == ["rgb", "gray-replicate", "gray-conv-sum", "gray→jet"]
    assert _comparable(ray_json) == _comparable(in_json)


@pytest.mark.slow
def test_the_dashboards_sweep_jobs_extract_on_ray_when_the_server_is_configured_so(
        ray_local, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``PREPSCOPE_ENGINE=ray``: a sweep started on the Accuracy page runs as a job whose features come from Ray
    (the run's provenance and the job's settings say so); the same numbers as in-process."""
    from core.jobs import JobTable
    from core.preprocess.variant import Resize, Variant
    from tests.apptest import open_app, run_job, session

    tiny = [Variant(name="gray", resize=Resize(size=32), channels="replicate"),
            Variant(name="viridis", resize=Resize(size=32), channels="colormap", colormap="viridis")]
    monkeypatch.setenv("PREPSCOPE_ENGINE", "ray")
    monkeypatch.setenv("PREPSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    at = open_app("pages/accuracy.py", tiny)
    at.selectbox(key="acc_builtin").set_value("digits")
    at.number_input(key="acc_per_class").set_value(4)
    run_job(at, "acc_run")
    assert not at.exception and not at.error, [e.value for e in at.error]
    result = session(at).accuracy_run.result
    assert result.provenance["extraction"]["engine"]["name"] == "ray"
    job = JobTable().list()[0]
    assert job.status == "done" and job.settings["engine"] == "ray"
    monkeypatch.delenv("PREPSCOPE_ENGINE")  # the same sweep in-process, from an empty cache: the same predictions
    monkeypatch.setenv("PREPSCOPE_CACHE_DIR", str(tmp_path / "cache-inprocess"))
    run_job(at, "acc_run")
    local = session(at).accuracy_run.result
    assert local.provenance["extraction"]["engine"]["name"] == "inprocess"
    assert [v.predicted.tolist() for v in local.variants] == [v.predicted.tolist() for v in result.variants]
    assert [v.confidence.tolist() for v in local.variants] == [v.confidence.tolist() for v in result.variants]
