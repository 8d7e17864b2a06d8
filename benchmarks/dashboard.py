"""Server-side cost of the Compare page relative to the engine call it wraps.

Measures, on the dashboard's default input (sample ``chelsea``) and variant set (preset ``channels``):

* engine: ``core.inspect.engine.inspect`` on the same Signal and variants with an empty RunCache, in a
  fresh thread, as the page calls it;
* cold render: the first run of the Compare page (the whole app: shell, sidebar and page, opened from
  the Start page) in a fresh AppTest session with the engine's result cache emptied (model already
  loaded), i.e. engine + rendering;
* warm rerun: a rerun of the same session (result cache hit), i.e. rendering only.

Printed as ratios to the engine call; the last number printed is the warm-rerun / engine ratio.
Run: ``.venv/bin/python benchmarks/dashboard.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

APP = ROOT / "app.py"


def _in_thread(fn) -> float:
    """Seconds ``fn`` takes in a fresh thread. Streamlit runs every page script in its own thread, and
    on this machine torch's CPU kernels run measurably faster there than in the main thread, so the
    engine is timed the same way the page runs it."""
    out: list[float] = []

    def job() -> None:
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)

    worker = threading.Thread(target=job)
    worker.start()
    worker.join()
    return out[0]


def main() -> None:
    """Run the three measurements and print them with their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds of measurements (median reported)")
    args = parser.parse_args()

    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from streamlit.testing.v1 import AppTest

    from components import session as defaults
    from components import state
    from core.inspect.engine import RunCache, inspect
    from core.models import DEFAULT_MODEL, load_model
    from core.preprocess.presets import get_preset

    signal = defaults.decode_sample(defaults.DEFAULT_SAMPLE)
    variants = get_preset(defaults.DEFAULT_PRESET)
    model = load_model(DEFAULT_MODEL)
    inspect(signal, variants, model)  # warm-up: kernels, allocator, lazy imports

    def fresh_session() -> AppTest:
        state.run_cache.clear()  # the engine's RunCache (st.cache_resource): a fresh one next time
        at = AppTest.from_file(str(APP), default_timeout=600).run()  # the Start page
        return at.switch_page("pages/compare.py")

    first = fresh_session().run()  # imports everything once
    if first.exception:
        raise SystemExit(f"Compare page failed: {first.exception[0].value}")

    # Interleave the three measurements round by round so that load from other processes on a shared
    # machine affects all of them alike; report medians.
    engine, cold, warm = [], [], []
    for _ in range(args.repeats):
        engine.append(_in_thread(lambda: inspect(signal, variants, model, cache=RunCache(max_entries=64))))
        session = fresh_session()
        t0 = time.perf_counter()
        session.run()
        cold.append(time.perf_counter() - t0)
        for _ in range(2):
            t0 = time.perf_counter()
            session.run()
            warm.append(time.perf_counter() - t0)
    engine_s, cold_s, warm_s = (statistics.median(x) for x in (engine, cold, warm))

    print(f"input: {defaults.DEFAULT_SAMPLE}, preset {defaults.DEFAULT_PRESET} ({len(variants)} variants), "
          f"model {model.name}, torch threads {__import__('torch').get_num_threads()}")
    print(f"engine call (inspect, empty cache): {engine_s:.3f} s")
    print(f"cold first render of Compare:      {cold_s:.3f} s")
    print(f"warm rerun of Compare (cached):    {warm_s:.3f} s")
    print(f"cold render / engine call: {cold_s / engine_s:.3f}")
    print(f"warm rerun / engine call: {warm_s / engine_s:.3f}")
    print(f"{warm_s / engine_s:.3f}")


if __name__ == "__main__":
    main()
