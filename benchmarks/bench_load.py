"""Load a MovieLens-20M-shaped ratings CSV: likewise.read_csv vs pandas + factorize + CSR.

Run by hand (never as a unit test)::

    .venv/bin/python benchmarks/bench_load.py --repeats 3 --write

The CSV (synthetic, ``userId,movieId,rating,timestamp``, ~514 MB) is written once to
``--data`` (default: $LIKEWISE_BENCH_DIR or /tmp/likewise-bench). Each measurement runs
in a fresh subprocess, alternating the two methods, and reports the load time (after
imports), the import time, and the peak resident memory of that subprocess (ru_maxrss,
which includes the interpreter and libraries). The target of issue 2: likewise takes at
most 1/3 of pandas' time, with a peak under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "data.md"


def synthetic_worker() -> None:
    """Time likewise.synthetic(preset='movielens-20m') in this fresh process."""
    t0 = time.perf_counter()
    import likewise
    from likewise.data import synthetic as _  # noqa: F401  (import cost counted)

    t1 = time.perf_counter()
    c1 = time.process_time()
    data = likewise.synthetic(preset="movielens-20m")
    t2 = time.perf_counter()
    c2 = time.process_time()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"method": "synthetic", "import_s": t1 - t0, "load_s": t2 - t1,
                      "cpu_s": c2 - c1, "peak_mb": rss_kb / 1024,
                      "shape": [data.n_users, data.n_items], "nnz": data.nnz}))


def embedded_worker() -> None:
    """movielens('100k') right after ``import likewise``, then again (libraries loaded)."""
    import likewise

    t0, c0 = time.perf_counter(), time.process_time()
    likewise.datasets.movielens("100k")
    t1, c1 = time.perf_counter(), time.process_time()
    likewise.datasets.movielens("100k")
    t2, c2 = time.perf_counter(), time.process_time()
    print(json.dumps({"cold_s": t1 - t0, "cold_cpu_s": c1 - c0, "warm_s": t2 - t1,
                      "warm_cpu_s": c2 - c1}))


def worker(method: str, path: str) -> None:
    if method == "synthetic":
        synthetic_worker()
        return
    if method == "embedded":
        embedded_worker()
        return
    t0 = time.perf_counter()
    # Both sides import every module their load uses before the clock starts: likewise
    # imports pyarrow, scipy.sparse and its numba kernels (hence numba) lazily, inside
    # the first read_csv, as pandas' side imports scipy.sparse here. What stays inside
    # likewise's load time is numba's one-off target set-up when the first cached kernel
    # loads (~0.25 s, the analogue of pandas' own lazily imported parser modules).
    if method == "likewise":
        import likewise
        import pyarrow.csv  # noqa: F401
        import scipy.sparse  # noqa: F401
        from likewise.data import _kernels, _reader_kernels, readers  # noqa: F401
    else:
        import numpy as np
        import pandas as pd
        import scipy.sparse as sp
    def load_once():
        if method == "likewise":
            data = likewise.read_csv(path)
            return (data.n_users, data.n_items), data.nnz
        df = pd.read_csv(path)
        users, user_ids = pd.factorize(df["userId"], sort=True)
        items, item_ids = pd.factorize(df["movieId"], sort=True)
        # COO -> CSR sums duplicates and sorts indices: the same canonical matrix
        matrix = sp.csr_matrix((df["rating"].to_numpy(np.float32), (users, items)),
                               shape=(len(user_ids), len(item_ids)))
        timestamps = df["timestamp"].to_numpy()  # kept, as likewise keeps them
        del timestamps
        return matrix.shape, matrix.nnz

    t1 = time.perf_counter()
    c1 = time.process_time()
    shape, nnz = load_once()
    t2 = time.perf_counter()
    c2 = time.process_time()  # CPU seconds of all threads
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    # then the same load again in this process: one-off start-up costs (numba's target
    # initialisation for likewise, lazily imported parser modules for pandas) are gone
    again = []
    for _ in range(int(os.environ.get("BENCH_LOAD_AGAIN", "0"))):
        t = time.perf_counter()
        load_once()
        again.append(time.perf_counter() - t)
    print(json.dumps({"method": method, "import_s": t1 - t0, "load_s": t2 - t1,
                      "total_s": t2 - t0,
                      "cpu_s": c2 - c1, "peak_mb": rss_kb / 1024, "shape": list(shape),
                      "nnz": nnz, "again_s": again}))


def ensure_csv(directory: Path) -> Path:
    path = directory / "ratings-ml20m-shape.csv"
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    import likewise
    from likewise.data.synthetic import write_csv

    t = time.perf_counter()
    data = likewise.synthetic(preset="movielens-20m", rating_scale=(0.5, 5), rating_step=0.5)
    t_gen = time.perf_counter() - t
    part = path.with_suffix(".csv.part")
    t = time.perf_counter()
    write_csv(data, part)
    os.replace(part, path)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB, {data.nnz} rows): generated in "
          f"{t_gen:.1f} s, written in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return path


def run_one(method: str, path: Path, again: int = 0) -> dict:
    env = dict(os.environ, BENCH_LOAD_AGAIN=str(again))
    out = subprocess.run([sys.executable, __file__, "--worker", method, str(path)],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("LIKEWISE_BENCH_DIR", "/tmp/likewise-bench"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--again", type=int, default=3,
                    help="loads repeated inside each worker after its first (steady state)")
    ap.add_argument("--write", action="store_true", help=f"write the table to {RESULTS}")
    ap.add_argument("--embedded", action="store_true",
                    help="time loading the embedded MovieLens 100K instead")
    ap.add_argument("--synthetic", action="store_true",
                    help="time the synthetic MovieLens-20M generator instead")
    ap.add_argument("--worker", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    if args.synthetic:
        bench_synthetic(args)
        return
    if args.embedded:
        bench_embedded(args)
        return
    path = ensure_csv(Path(args.data))
    # one discarded run, so numba kernels are compiled and cached (after an edit of their
    # source file numba recompiles once) and the file is in the page cache for both
    run_one("likewise", path)
    runs: dict[str, list[dict]] = {"likewise": [], "pandas": []}
    for r in range(args.repeats):
        order = ("likewise", "pandas") if r % 2 == 0 else ("pandas", "likewise")
        for method in order:
            res = run_one(method, path, args.again)
            runs[method].append(res)
            print(f"run {r + 1} {method:8s} load {res['load_s']:6.2f} s  cpu "
                  f"{res.get('cpu_s', float('nan')):6.2f} s  import "
                  f"{res['import_s']:4.2f} s  peak {res['peak_mb']:6.0f} MB  again "
                  + " ".join(f"{x:.2f}" for x in res["again_s"]), file=sys.stderr)
    lw, pdm = runs["likewise"], runs["pandas"]
    assert lw[0]["shape"] == pdm[0]["shape"] and lw[0]["nnz"] == pdm[0]["nnz"], (lw[0], pdm[0])

    def med(rs, key):
        return statistics.median(x[key] for x in rs)

    ratio = med(lw, "load_s") / med(pdm, "load_s")
    lw_again = [x for r in lw for x in r["again_s"]]
    pd_again = [x for r in pdm for x in r["again_s"]]
    steady = (statistics.median(lw_again) / statistics.median(pd_again)
              if lw_again and pd_again else float("nan"))
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    lines = [
        f"### Loading a MovieLens-20M-shaped CSV ({lw[0]['nnz']:,} rows, "
        f"{lw[0]['shape'][0]:,} users x {lw[0]['shape'][1]:,} items, "
        f"{path.stat().st_size / 1e6:.0f} MB)",
        "",
        f"Command: `{Path(sys.executable).name} benchmarks/bench_load.py --repeats "
        f"{args.repeats} --again {args.again}{' --write' if args.write else ''}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared; load average "
        f"{load[0]:.1f} at the end), Python {platform.python_version()}; median of "
        f"{args.repeats} runs, each in a fresh subprocess, methods alternating, after one "
        "discarded warm-up run (numba kernels compiled, file in the page cache). Load time "
        "starts after both sides have imported the modules their load uses.",
        "",
        "| method | load time (s) | CPU time, all threads (s) | import (s) | import + load (s) "
        "| peak RSS (MB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| likewise.read_csv -> Interactions | {med(lw, 'load_s'):.2f} | "
        f"{med(lw, 'cpu_s'):.2f} | {med(lw, 'import_s'):.2f} | {med(lw, 'total_s'):.2f} | "
        f"{med(lw, 'peak_mb'):.0f} |",
        f"| pandas.read_csv + factorize + scipy CSR | {med(pdm, 'load_s'):.2f} | "
        f"{med(pdm, 'cpu_s'):.2f} | {med(pdm, 'import_s'):.2f} | {med(pdm, 'total_s'):.2f} | "
        f"{med(pdm, 'peak_mb'):.0f} |",
        "",
        f"CPU-time ratio likewise / pandas: {med(lw, 'cpu_s') / med(pdm, 'cpu_s'):.2f}; "
        f"import + load ratio: {med(lw, 'total_s') / med(pdm, 'total_s'):.2f}.  ",
        f"**likewise / pandas load time: {ratio:.2f}** (target <= 0.33: "
        f"{'met' if ratio <= 1 / 3 else 'NOT met'}); likewise peak "
        f"{med(lw, 'peak_mb'):.0f} MB (target < 2048 MB: "
        f"{'met' if med(lw, 'peak_mb') < 2048 else 'NOT met'}).",
        "",
        "Per run (s): likewise " + ", ".join(f"{x['load_s']:.2f}" for x in lw)
        + "; pandas " + ", ".join(f"{x['load_s']:.2f}" for x in pdm) + ".",
    ]
    if lw_again and pd_again:
        lines += [
            "",
            f"Steady state: each worker then loads the file {args.again} more times in the same "
            "process (one-off start-up costs paid: numba's target initialisation, pandas' lazily "
            f"imported modules); medians over all {len(lw_again)} repeated loads:",
            "",
            "| method | repeated load (s), median | min | max |",
            "| --- | ---: | ---: | ---: |",
            f"| likewise.read_csv -> Interactions | {statistics.median(lw_again):.2f} | "
            f"{min(lw_again):.2f} | {max(lw_again):.2f} |",
            f"| pandas.read_csv + factorize + scipy CSR | {statistics.median(pd_again):.2f} | "
            f"{min(pd_again):.2f} | {max(pd_again):.2f} |",
            "",
            f"**Steady-state ratio likewise / pandas: {steady:.2f}** (target <= 0.33: "
            f"{'met' if steady <= 1 / 3 else 'NOT met'}).",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text if not RESULTS.exists() else _merge(RESULTS.read_text(), text))


def bench_embedded(args) -> None:
    runs = [run_one("embedded", Path("-")) for _ in range(max(args.repeats, 5))]
    load = os.getloadavg()

    def med(key):
        return statistics.median(x[key] for x in runs)

    text = "\n".join([
        "### Embedded MovieLens 100K: movielens('100k') after `import likewise`",
        "",
        f"Command: `{Path(sys.executable).name} benchmarks/bench_load.py --embedded"
        f"{' --write' if args.write else ''}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared; load average "
        f"{load[0]:.1f}); median of {len(runs)} fresh subprocesses. The first call also "
        "imports pandas, pyarrow and scipy (likewise imports them lazily).",
        "",
        "| call | wall (s) | CPU (s) |",
        "| --- | ---: | ---: |",
        f"| first in the process | {med('cold_s'):.3f} | {med('cold_cpu_s'):.3f} |",
        f"| again (libraries loaded) | {med('warm_s'):.3f} | {med('warm_cpu_s'):.3f} |",
    ]) + "\n"
    print(text)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text if not RESULTS.exists() else _merge(RESULTS.read_text(), text))


def bench_synthetic(args) -> None:
    subprocess.run([sys.executable, "-c", "import likewise; likewise.synthetic(n_users=50, "
                    "n_items=40, n_interactions=500)"], check=True)  # compile/cache kernels
    runs = []
    for r in range(args.repeats):
        res = run_one("synthetic", Path("-"))
        runs.append(res)
        print(f"run {r + 1} synthetic {res['load_s']:6.2f} s wall, {res['cpu_s']:6.2f} s CPU, "
              f"peak {res['peak_mb']:6.0f} MB", file=sys.stderr)
    load = os.getloadavg()
    wall = statistics.median(x["load_s"] for x in runs)
    cpu = statistics.median(x["cpu_s"] for x in runs)
    peak = statistics.median(x["peak_mb"] for x in runs)
    text = "\n".join([
        f"### Synthetic MovieLens-20M shape ({runs[0]['nnz']:,} interactions, "
        f"{runs[0]['shape'][0]:,} users x {runs[0]['shape'][1]:,} items)",
        "",
        f"Command: `{Path(sys.executable).name} benchmarks/bench_load.py --synthetic "
        f"--repeats {args.repeats}{' --write' if args.write else ''}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared; load average "
        f"{load[0]:.1f} at the end); numba kernels already compiled (cached on disk); median "
        f"of {args.repeats} fresh subprocesses.",
        "",
        "| wall time (s) | CPU time (s, all threads) | peak RSS (MB) |",
        "| ---: | ---: | ---: |",
        f"| {wall:.1f} | {cpu:.1f} | {peak:.0f} |",
        "",
        f"Target < 30 s and < 2 GB: time {'met' if wall < 30 else 'NOT met'}, memory "
        f"{'met' if peak < 2048 else 'NOT met'}. Per run (s): "
        + ", ".join(f"{x['load_s']:.1f}" for x in runs) + ".",
    ]) + "\n"
    print(text)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text if not RESULTS.exists() else _merge(RESULTS.read_text(), text))


def _merge(old: str, new: str) -> str:
    """Replace this benchmark's section in the results file, keep the other sections."""
    head = new.split("\n", 1)[0].split("(")[0]
    sections = [("### " + s).rstrip() + "\n" for s in old.split("### ") if s.strip()]
    kept = [s for s in sections if not s.startswith(head)]
    return "\n".join(kept + [new])


if __name__ == "__main__":
    main()
