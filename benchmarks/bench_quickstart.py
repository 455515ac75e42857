"""Time ``likewise quickstart`` with an empty numba cache (cold) and a filled one (warm).

Run by hand (never as a unit test)::

    .venv/bin/python benchmarks/bench_quickstart.py --repeats 1 --write

Each run is a fresh subprocess of the installed ``likewise`` command with
``NUMBA_CACHE_DIR`` set to a temporary folder: empty for the cold runs (every kernel is
compiled, as on a fresh install), the folder the previous run filled for the warm runs.
The wall time covers the whole command: interpreter start, imports, compiling or loading
the kernels, both comparisons, the final fit and the reports. The target of issue 19:
<= 45 s cold and <= 20 s warm on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "quickstart.md"
LIKEWISE = Path(sys.executable).with_name("likewise")


def run_quickstart(cache_dir: str, out_dir: str) -> tuple[float, str]:
    """Wall seconds of one ``likewise quickstart`` with numba's cache in ``cache_dir``."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    started = time.perf_counter()
    proc = subprocess.run([str(LIKEWISE), "quickstart", "--out", out_dir, "--no-progress"],
                          env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"likewise quickstart failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed, proc.stdout + proc.stderr


def measure(repeats: int) -> dict[str, list[float]]:
    """Cold and warm wall times, ``repeats`` of each (a new empty cache per cold run)."""
    times: dict[str, list[float]] = {"cold": [], "warm": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="likewise-numba-") as cache, \
                tempfile.TemporaryDirectory(prefix="likewise-report-") as out:
            cold, _ = run_quickstart(cache, out)
            warm, _ = run_quickstart(cache, out)
        times["cold"].append(cold)
        times["warm"].append(warm)
        print(f"cold {cold:.1f} s, warm {warm:.1f} s (load average "
              f"{os.getloadavg()[0]:.2f})", flush=True)
    return times


def report(times: dict[str, list[float]], load_before: float, load_after: float) -> str:
    rows = "\n".join(f"| {kind} | {statistics.median(v):.1f} | "
                     f"{', '.join(f'{x:.1f}' for x in v)} |" for kind, v in times.items())
    return (f"| numba cache | median s | runs (s) |\n| --- | ---: | --- |\n{rows}\n\n"
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
            f"{load_before:.2f} before, {load_after:.2f} after.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--write", action="store_true",
                        help=f"append the table to {RESULTS}")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    times = measure(args.repeats)
    table = report(times, load_before, os.getloadavg()[0])
    print(table)
    if args.write:
        with RESULTS.open("a") as fh:
            fh.write(f"\n### Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
                     f"{table}")


if __name__ == "__main__":
    main()
