"""A Ray head on 127.0.0.1 as its own process: ``python -m core.evaluate.rayhead start|stop|status``
(``scripts/ray_head.sh`` runs it).

``start`` runs ``ray start --head --block --node-ip-address 127.0.0.1 --port PORT --num-cpus N
--include-dashboard false`` in a new session (its daemons share that process group), with
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` so that every server binds 127.0.0.1 (measured here with ``ss -ltnp``:
without it Ray 2.60 binds all interfaces and advertises the interface address), prepscope's token
(``core.evaluate.rayengine.local_environment``) and its files in a temporary folder; it waits until the head
answers and records ``{pid, address, ...}`` in ``$PREPSCOPE_HOME/ray/head.json``. ``stop`` ends that process by
the recorded pid (SIGTERM; SIGKILL to its process group if anything is left after a grace period); it never runs
``ray stop``, which would end every Ray on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from core.errors import PrepscopeError
from core.evaluate.rayengine import local_environment, ray_home
from core.evaluate.tuning import usable_cores

#: The head's object store (it holds a few batches of results at a time).
HEAD_OBJECT_STORE = 256 * 2**20


@dataclass
class Head:
    """A head started by ``start_head``: the process (group) id, the address drivers give (``--ray-address``),
    its temporary folder and its log file."""

    pid: int
    address: str
    temp_dir: str
    log: str
    startup_s: float


def head_record() -> Path:
    return ray_home() / "head.json"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of the process group ``pgid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="utf-8", errors="replace").rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(stat.parent.name))
    return out


def start_head(port: int | None = None, num_cpus: int | None = None, timeout: float = 90.0) -> Head:
    """Start a head on 127.0.0.1 (its own process group) and wait until it answers; records it (``head_record``)."""
    if head_record().exists():
        raise PrepscopeError(f"A head started by prepscope is recorded in {head_record()}; stop it first "
                             "(scripts/ray_head.sh stop).")
    port = port or free_port()
    temp_dir = os.path.join(tempfile.gettempdir(), f"prepscope-ray-head-{port}")
    ray_home().mkdir(parents=True, exist_ok=True)
    log = ray_home() / f"head-{port}.log"
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
           "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", str(num_cpus or usable_cores()),
           "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", temp_dir,
           "--object-store-memory", str(HEAD_OBJECT_STORE)]
    env = {**os.environ, **local_environment("127.0.0.1")}
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    head = Head(proc.pid, f"127.0.0.1:{port}", temp_dir, str(log), 0.0)
    deadline = time.monotonic() + timeout
    while not _answers(port) or not _raylet_up(temp_dir):
        if proc.poll() is not None or time.monotonic() > deadline:
            _end_group(proc.pid)
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
            raise PrepscopeError(f"The Ray head did not start on 127.0.0.1:{port} ({' / '.join(tail)}); see {log}.")
        time.sleep(0.25)
    head.startup_s = time.perf_counter() - t0
    head_record().write_text(json.dumps(asdict(head), indent=1), encoding="utf-8")
    return head


def _raylet_up(temp_dir: str) -> bool:
    """The head's raylet has written its address file (``ray start`` does so once its node is up)."""
    return (Path(temp_dir) / "ray_current_cluster").exists()


def _end_group(pid: int, grace: float = 15.0) -> None:
    """SIGTERM to ``ray start --block`` (it ends its daemons, about 2 s here), then SIGKILL to whatever of its
    process group is left after ``grace`` seconds. (A group-wide SIGTERM is worse: measured here, the daemons then
    wait on each other and are still running 7 s later.)"""
    for kill, sig in ((os.kill, signal.SIGTERM), (os.killpg, signal.SIGKILL)):
        try:
            kill(pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        while group_members(pid) and time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)  # reap it when it is our child
            except ChildProcessError:
                pass
            time.sleep(0.2)
        if not group_members(pid):
            return


def stop_head() -> Head | None:
    """Stop the head recorded by ``start_head`` (its process group, by pid); None when none is recorded."""
    try:
        head = Head(**json.loads(head_record().read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    _end_group(head.pid)
    shutil.rmtree(head.temp_dir, ignore_errors=True)  # sockets and session files a killed head leaves behind
    head_record().unlink(missing_ok=True)
    return head


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/ray_head.sh", description="A Ray head on 127.0.0.1 for --ray-address.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("start", help="start a head and print its address")
    s.add_argument("--port", type=int, default=None, help="GCS port (default: a free one)")
    s.add_argument("--num-cpus", type=int, default=None, help="CPUs the head offers (default: usable cores)")
    sub.add_parser("stop", help="stop the head started here (by its pid)")
    sub.add_parser("status", help="print the recorded head, if any")
    args = p.parse_args(argv)
    try:
        if args.command == "start":
            head = start_head(args.port, args.num_cpus)
            print(f"Ray head on {head.address} (pid {head.pid}, {head.startup_s:.1f} s); run sweeps with "
                  f"--engine ray --ray-address {head.address}; stop with scripts/ray_head.sh stop")
        elif args.command == "stop":
            head = stop_head()
            print("no head recorded" if head is None else f"stopped the head on {head.address} (pid {head.pid})")
        else:
            rec = head_record()
            print(rec.read_text(encoding="utf-8") if rec.exists() else "no head recorded")
    except PrepscopeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
