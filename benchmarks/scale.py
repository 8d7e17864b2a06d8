"""Sweep extraction on the in-process engine, on a local Ray instance and through ``--ray-address`` to a separately
started head: throughput ratios in one run, Ray start-up, peak memory of the driver and the workers.

Run: ``python benchmarks/scale.py [--items N] [--datasets photos,sounds] [--engines ray,head] [--rounds R]
[--batch N] [--simulate N] [--quick] [--json OUT]`` (data: ../shared/data/hymenoptera/train and
../shared/data/fsdd beside the project).

Per dataset and engine, a cold-cache ``core.evaluate.features.extract`` of the same items under the same two
variants (photos: rgb and gray -> viridis; sounds: the spectrogram preset's gray-replicate and viridis), in items
per second: over the whole pass (for Ray this includes starting the actor pool, each actor loading the model),
and *steady*: from the first progress report at or past a quarter of the items to the last (the rate a long
sweep runs at; Ray's results can arrive in bursts at first). Every Ray pass is paired with an in-process pass
run just before it at the same cores (a busy machine slows both alike); ratios are medians over ``--rounds`` of
the paired ratios. Ray start-up is timed on its own: ``connect`` to a new local instance, and
``start_head`` + ``connect`` for the head. Peak RSS is sampled every 0.2 s: the driver (this process), and the
workers (the Ray processes under this process for a local instance, or under the head's ``ray start``; ``ray::``
workers and Ray's own daemons counted separately).

``--simulate N``: the photo items repeated under new ids up to N items (e.g. 20,000), one variant, in-process and
local Ray: throughput per tenth of the pass (flat when nothing accumulates) and peak RSS (bounded: rows stream
into memory-mapped files, the dataset is never materialized). ``--quick``: a smoke run (12 items, 48 simulated,
one round).
The last lines are the summary: ray/inprocess and head/inprocess (whole pass and steady; target >= 0.8 steady).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.evaluate.datasets import scan_folder  # noqa: E402
from core.evaluate.features import FeatureCache, extract  # noqa: E402
from core.evaluate.tuning import usable_cores  # noqa: E402
from core.models import load_model  # noqa: E402
from core.preprocess.presets import get_preset  # noqa: E402
from core.preprocess.variant import Variant  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


# ------------------------------------------------------------------------------------------------ memory


def _procs() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, name) of every process (from /proc)."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        f = text.rsplit(")", 1)[1].split()
        if f[0] != "Z":
            out[int(stat.parent.name)] = (int(f[1]), int(f[2]), name)
    return out


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _ray_processes(root: int) -> list[int]:
    """The processes under ``root`` (this process for a local instance, the head's ``ray start`` for a head)."""
    procs = _procs()
    found, todo = [], [root]
    while todo:
        parent = todo.pop()
        kids = [p for p, (pp, _, _) in procs.items() if pp == parent]
        found += kids
        todo += kids
    return found


class PeakRSS:
    """Samples the driver's RSS and the Ray workers' total RSS (``ray::`` processes under ``root``: this process,
    or a head's pid) every ``every`` seconds."""

    def __init__(self, root: int | None = None, every: float = 0.2) -> None:
        self.root, self.every = root or os.getpid(), every
        self.driver = self.workers = self.daemons = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.driver = max(self.driver, _rss_mib(os.getpid()))
        workers = daemons = 0.0
        for p in _ray_processes(self.root):
            rss = _rss_mib(p)
            if _cmdline(p).startswith("ray::"):
                workers += rss
            else:
                daemons += rss
        self.workers, self.daemons = max(self.workers, workers), max(self.daemons, daemons)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> PeakRSS:
        self._sample()
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self._sample()


# ------------------------------------------------------------------------------------------------ passes


def datasets(names: list[str], n: int) -> dict[str, tuple]:
    out = {}
    for name in names:
        if name == "photos":
            ds = scan_folder(DATA / "hymenoptera" / "train")
            variants = [Variant(name="rgb"), Variant(name="viridis", channels="colormap", colormap="viridis")]
        elif name == "sounds":
            ds = scan_folder(DATA / "fsdd")
            variants = [v for v in get_preset("spectrogram") if v.name in ("gray-replicate", "viridis")]
        else:
            raise SystemExit(f"unknown dataset {name!r}; choose photos, sounds")
        idx = np.linspace(0, len(ds) - 1, min(n, len(ds))).round().astype(int)
        out[name] = (ds.subset(sorted(set(idx.tolist()))), variants)
    return out


def one_pass(ds, variants, model, batch: int, engine, head_pid: int | None = None,
             windows: int = 0) -> dict:
    """A cold-cache pass: seconds, items/s over the pass and steady, peak RSS; per-tenth rates when ``windows``."""
    marks: list[tuple[float, int]] = []
    n = len(ds)

    def progress(f: float, _msg: str) -> None:
        marks.append((time.perf_counter(), round(f * n)))

    with tempfile.TemporaryDirectory(prefix="prepscope-scale-") as tmp, PeakRSS(head_pid) as mem:
        t0 = time.perf_counter()
        extract(ds, variants, model, FeatureCache(tmp), batch_size=batch, engine=engine, progress=progress)
        seconds = time.perf_counter() - t0
    first_t, first_n = next(((t, k) for t, k in marks if k >= n // 4), marks[0])
    steady = (n - first_n) / (marks[-1][0] - first_t) if marks[-1][0] > first_t else n / seconds
    out = {"items": n, "seconds": round(seconds, 2), "items_per_s": round(n / seconds, 2),
           "steady_items_per_s": round(steady, 2), "peak_rss_mib": {"driver": round(mem.driver),
                                                                      "ray_workers": round(mem.workers),
                                                                      "ray_daemons": round(mem.daemons)}}
    if windows:
        rates, edges = [], np.linspace(first_n, n, windows + 1)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            pts = [(t, k) for t, k in marks if lo <= k <= hi]
            if len(pts) > 1:
                rates.append(round((pts[-1][1] - pts[0][1]) / max(1e-9, pts[-1][0] - pts[0][0]), 2))
        out["items_per_s_by_tenth"] = rates
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=200, help="items per dataset (default 200)")
    ap.add_argument("--datasets", default="photos,sounds")
    ap.add_argument("--engines", default="ray,head", help="ray and/or head (each paired with in-process passes)")
    ap.add_argument("--rounds", type=int, default=2, help="paired rounds per engine (default 2)")
    ap.add_argument("--batch", type=int, default=8, help="batch size (default 8)")
    ap.add_argument("--simulate", type=int, default=0, metavar="N", help="also the simulated large set of N items")
    ap.add_argument("--quick", action="store_true", help="smoke run: 12 items, 48 simulated")
    ap.add_argument("--json", metavar="OUT", help="write every number as JSON")
    args = ap.parse_args()
    if args.quick:
        args.items, args.simulate, args.rounds = 12, 48, 1
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    # Ray reads its loopback and token settings when imported: connect (rayengine) before anything imports ray
    from core.evaluate import rayengine, rayhead

    model = load_model("efficientnet_lite0")
    sets = datasets([d.strip() for d in args.datasets.split(",")], args.items)
    print(f"{usable_cores()} usable cores; load average at start {os.getloadavg()[0]:.2f}; batch {args.batch}; "
          f"{args.items} items per dataset", flush=True)
    report: dict = {"cores": usable_cores(), "batch": args.batch, "passes": {}, "startup_s": {}}
    for ds, variants in sets.values():  # warm: decoders, kernels, the model's pages
        extract(ds.subset(range(min(4, len(ds)))), variants, model, FeatureCache(tempfile.mkdtemp()),
                batch_size=args.batch)

    def show(label: str, r: dict, n_variants: int) -> None:
        print(f"{label:<22} {r['items']} items x {n_variants} variant(s): {r['seconds']:7.2f} s, "
              f"{r['items_per_s']:6.2f} items/s (steady {r['steady_items_per_s']:6.2f}); peak RSS driver "
              f"{r['peak_rss_mib']['driver']} MiB, ray workers {r['peak_rss_mib']['ray_workers']} MiB, "
              f"ray daemons {r['peak_rss_mib']['ray_daemons']} MiB"
              + (f"; items/s by tenth {r['items_per_s_by_tenth']}" if "items_per_s_by_tenth" in r else ""),
              flush=True)

    def paired(engine_name: str, engine, head_pid: int | None = None) -> None:
        """``rounds`` rounds of, per dataset, an in-process pass then an ``engine`` pass right after it (a busy
        machine slows both alike); the ratio is the median over rounds of the paired ratios."""
        for r in range(args.rounds):
            for name, (ds, variants) in sets.items():
                pair = {}
                for label, eng, pid in (("inprocess", None, None), (engine_name, engine, head_pid)):
                    pair[label] = one_pass(ds, variants, model, args.batch, eng, pid)
                    show(f"{name} {label} (round {r + 1})", pair[label], len(variants))
                rec = report["passes"].setdefault(name, {}).setdefault(engine_name, [])
                rec.append({**pair, "ratio_whole": round(pair[engine_name]["items_per_s"]
                                                         / pair["inprocess"]["items_per_s"], 3),
                            "ratio_steady": round(pair[engine_name]["steady_items_per_s"]
                                                  / pair["inprocess"]["steady_items_per_s"], 3)})

    def simulated(engine_name: str, engine) -> None:
        ds, _ = datasets(["photos"], 10**6)["photos"]
        big = ds.subset([i % len(ds) for i in range(args.simulate)], name=f"photos x{args.simulate}")
        r = one_pass(big, [Variant(name="rgb")], model, args.batch, engine, windows=10)
        report.setdefault("simulated", {})[engine_name] = r
        show(f"simulated {engine_name}", r, 1)

    if "ray" in engines:
        t0 = time.perf_counter()
        rayengine.connect()
        report["startup_s"]["ray_local_connect"] = round(time.perf_counter() - t0, 2)
        print(f"Ray local instance started in {report['startup_s']['ray_local_connect']:.2f} s", flush=True)
        paired("ray", rayengine.RayEngine())
        if args.simulate:
            simulated("inprocess", None)
            simulated("ray", rayengine.RayEngine())
    elif args.simulate:
        simulated("inprocess", None)
    if "head" in engines:
        if "ray" in engines:
            rayengine.disconnect()  # one Ray per driver: leave the local instance, then reach the head
        t0 = time.perf_counter()
        head = rayhead.start_head(num_cpus=usable_cores())
        try:
            rayengine.connect(head.address)
            report["startup_s"]["head_start"] = round(head.startup_s, 2)
            report["startup_s"]["head_start_and_connect"] = round(time.perf_counter() - t0, 2)
            print(f"Ray head on {head.address} started in {head.startup_s:.2f} s (with connecting "
                  f"{report['startup_s']['head_start_and_connect']:.2f} s)", flush=True)
            paired("head", rayengine.RayEngine(address=head.address), head_pid=head.pid)
        finally:
            rayengine.disconnect()
            rayhead.stop_head()
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    print("summary (engine / in-process at the same cores, median over rounds of paired passes; whole pass / "
          "steady):")
    for name, by in report["passes"].items():
        for e, runs in by.items():
            whole = float(np.median([x["ratio_whole"] for x in runs]))
            steady = float(np.median([x["ratio_steady"] for x in runs]))
            report.setdefault("ratios", {}).setdefault(name, {})[e] = {"whole": round(whole, 3),
                                                                       "steady": round(steady, 3)}
            print(f"  {name:<7} {e}/inprocess: {whole:.2f} / {steady:.2f}")
    if "simulated" in report and {"inprocess", "ray"} <= report["simulated"].keys():
        sim = report["simulated"]
        print(f"  simulated {sim['ray']['items']} items ray/inprocess: "
              f"{sim['ray']['items_per_s'] / sim['inprocess']['items_per_s']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
