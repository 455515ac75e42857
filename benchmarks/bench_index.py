"""Neighbour-search benchmarks: likewise.index backends side by side with the raw libraries.

Run by hand (never as a unit test), e.g.::

    .venv/bin/python benchmarks/bench_index.py --section all
    .venv/bin/python benchmarks/bench_index.py --section million --n 1000000

Sections
--------
exact      likewise exact vs faiss IndexFlatIP vs plain numpy (matmul + argpartition),
           20,000 x 64 random unit vectors, 10,000 queries, k=10.
tradeoff   recall@10 / queries-per-second curve of every backend on random unit vectors
           (the hard case), 20,000 x 64, 10,000 queries.
million    Gaussian mixture (about 1,000 clusters) of N x 64, 10,000 held-out queries,
           k=10: hnsw recall and speed, likewise vs hnswlib called directly on the same
           graph.
approxknn  ApproxUserKNN on MovieLens 100K: neighbour recall@10 against exact search in
           the same SVD space, and NDCG@10 (per-user 80/20 holdout) against exact search
           and against likewise.UserKNN with the same k.

Every timing is the median of interleaved repeats; the machine load average is printed
because the benchmark machine is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

K = 10


def load() -> str:
    return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def timed(fn, repeats: int):
    """Run ``fn`` ``repeats`` times; return (median seconds, last result)."""
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def interleaved(fns: dict, repeats: int) -> dict:
    """Median seconds of each function, run in turn ``repeats`` rounds (fair under load)."""
    times = {name: [] for name in fns}
    results = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t)
    return {name: (statistics.median(v), results[name]) for name, v in times.items()}


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def progress(msg: str) -> None:
    """Progress on stderr (tables go to stdout)."""
    import sys

    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        out.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------
def bench_exact(repeats: int) -> None:
    import faiss

    from likewise import index

    x, q = unit_vectors(20_000, 64, 0), unit_vectors(10_000, 64, 1)
    idx = index.build(x, metric="dot")
    flat = faiss.IndexFlatIP(64)
    flat.add(x)
    idx.query(q[:100], K)  # compile the kernel outside the timing

    def numpy_brute():
        out = np.empty((len(q), K), dtype=np.int64)
        for lo in range(0, len(q), 1000):
            s = q[lo:lo + 1000] @ x.T
            out[lo:lo + 1000] = np.argpartition(-s, K - 1, axis=1)[:, :K]
        return out

    print(f"\n## exact: 20,000 x 64 unit vectors, 10,000 queries, k=10 ({load()})\n")
    def faiss_threads(n):
        def run():
            before = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(n)
            try:
                return flat.search(q, K)[1]
            finally:
                faiss.omp_set_num_threads(before)
        return run

    # faiss' OpenMP threads spin; on a busy machine one thread can beat two, so both
    res = interleaved({
        "likewise exact": lambda: idx.query(q, K).positions,
        "faiss IndexFlatIP": lambda: flat.search(q, K)[1],
        "faiss IndexFlatIP, 1 thread": faiss_threads(1),
        "numpy matmul + argpartition": numpy_brute,
    }, repeats)
    base = res["faiss IndexFlatIP"][0]
    truth = res["faiss IndexFlatIP"][1]
    rows = []
    for name, (sec, out) in res.items():
        rows.append([name, f"{len(q) / sec:,.0f}", f"{base / sec:.2f}",
                     f"{index.recall(out, truth, k=K):.4f}"])
    print(table(["method", "queries/s", "speed vs faiss", "recall vs faiss"], rows))
    print(f"\n({load()})")


# ---------------------------------------------------------------------------------------
def bench_tradeoff(repeats: int, n: int = 20_000) -> None:
    from likewise import index

    x, q = unit_vectors(n, 64, 2), unit_vectors(10_000, 64, 3)
    print(f"\n## trade-off: {n:,} x 64 random unit vectors, 10,000 queries, k=10, "
          f"cosine ({load()})\n")
    exact = index.build(x, metric="cosine")
    truth = exact.query(q, K).positions
    rows = []
    sec, _ = timed(lambda: exact.query(q, K), repeats)
    rows.append(["exact", "-", "-", "1.000", f"{len(q) / sec:,.0f}"])

    configs = [
        ("hnsw", {"M": 16, "ef_construction": 200}, "ef", [10, 20, 50, 100, 200, 400]),
        ("hnsw", {"M": 32, "ef_construction": 200}, "ef", [100, 200]),
        ("annoy", {"n_trees": 20}, "search_k", [-1, 2_000, 10_000, 50_000]),
        ("annoy", {"n_trees": 100}, "search_k", [-1, 10_000, 50_000]),
        ("faiss", {"kind": "hnsw", "M": 32, "ef_construction": 40}, "ef", [16, 64, 256]),
    ]
    for backend, params, knob, values in configs:
        t = time.perf_counter()
        idx = index.build(x, metric="cosine", backend=backend, **params)
        build_s = time.perf_counter() - t
        progress(f"built {backend} {params} in {build_s:.1f}s")
        for v in values:
            sec, got = timed(lambda idx=idx, knob=knob, v=v: idx.query(q, K, **{knob: v}),
                             repeats)
            rows.append([backend, ", ".join(f"{a}={b}" for a, b in params.items()),
                         f"{knob}={v} (build {build_s:.1f}s)",
                         f"{index.recall(got.positions, truth, k=K):.3f}",
                         f"{len(q) / sec:,.0f}"])
    print(table(["backend", "build", "search", "recall@10", "queries/s"], rows))
    print(f"\n({load()})")


# ---------------------------------------------------------------------------------------
def mixture(n: int, n_queries: int, dim: int = 64, clusters: int = 1000, seed: int = 7):
    """Gaussian mixture: cluster weights from a Dirichlet, per-cluster spread."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    spread = rng.uniform(0.2, 0.5, size=clusters).astype(np.float32)
    weights = rng.dirichlet(np.full(clusters, 2.0))
    total = n + n_queries
    labels = rng.choice(clusters, size=total, p=weights)
    pts = centres[labels] + spread[labels, None] * rng.normal(size=(total, dim)).astype(
        np.float32)
    pts = pts.astype(np.float32)
    return pts[:n], pts[n:]


def bench_million(repeats: int, n: int, m: int, ef_construction: int, efs=(16, 32, 64, 128),
                  cache: str | None = None) -> None:
    from likewise import index

    x, q = mixture(n, 10_000)
    print(f"\n## million: {n:,} x 64 Gaussian mixture (1,000 clusters), 10,000 held-out "
          f"queries, k=10, euclidean ({load()})\n")
    t = time.perf_counter()
    truth = index.build(x, metric="euclidean").query(q, K).positions
    print(f"exact ground truth (likewise exact): {time.perf_counter() - t:.1f}s", flush=True)
    progress("ground truth done; building hnsw")
    t = time.perf_counter()
    if cache and os.path.exists(os.path.join(cache, "manifest.json")):
        idx = index.load(cache)
        if (len(idx), idx.params["M"], idx.params["ef_construction"]) != (n, m, ef_construction):
            raise SystemExit(f"{cache} holds a different index; delete it")
        print(f"hnsw M={m} ef_construction={ef_construction} loaded from {cache}")
    else:
        idx = index.build(x, metric="euclidean", backend="hnsw", M=m,
                          ef_construction=ef_construction)
        print(f"hnsw build M={m} ef_construction={ef_construction}: "
              f"{time.perf_counter() - t:.1f}s ({load()})\n", flush=True)
        if cache:
            idx.save(cache)
    raw = idx._index  # the hnswlib.Index likewise built: same graph, called directly

    def raw_query(ef):
        raw.set_ef(ef)
        return raw.knn_query(q, k=K, num_threads=-1)

    rows = []
    for ef in efs:
        res = interleaved({"likewise": lambda ef=ef: idx.query(q, K, ef=ef),
                           "hnswlib": lambda ef=ef: raw_query(ef)}, repeats)
        lw_s, lw = res["likewise"]
        raw_s, (labels, _) = res["hnswlib"]
        progress(f"ef={ef} done")
        rows.append([ef, f"{index.recall(lw.positions, truth, k=K):.4f}",
                     f"{index.recall(labels.astype(np.int64), truth, k=K):.4f}",
                     f"{len(q) / lw_s:,.0f}", f"{len(q) / raw_s:,.0f}",
                     f"{(lw_s / raw_s - 1) * 100:+.1f}%"])
    print(table(["ef", "recall@10 likewise", "recall@10 hnswlib", "likewise q/s",
                 "hnswlib q/s", "likewise overhead"], rows))
    # the overhead is a per-query cost outside hnswlib: measure it where the search is
    # cheapest (smallest ef), with many interleaved rounds to beat the machine's noise
    ef = min(efs)
    res = interleaved({"likewise": lambda: idx.query(q, K, ef=ef),
                       "hnswlib": lambda: raw_query(ef)}, 11)
    print(f"\noverhead at ef={ef}, median of 11 interleaved rounds: likewise "
          f"{res['likewise'][0]:.3f}s, hnswlib {res['hnswlib'][0]:.3f}s, "
          f"{(res['likewise'][0] / res['hnswlib'][0] - 1) * 100:+.1f}%")
    print(f"\n({load()}; {os.cpu_count()} cores)")


# ---------------------------------------------------------------------------------------
def bench_approxknn(ks=(10, 30, 50)) -> None:
    import likewise
    from likewise.models.approx_knn import ApproxUserKNN

    data = likewise.datasets.movielens("100k")
    split = likewise.splits.user_holdout(data, test_size=0.2, random_state=0)
    train, test = split.train, split.test
    users = train.users.ids
    has_test = np.diff(test.matrix.indptr) > 0
    print(f"\n## ApproxUserKNN on MovieLens 100K: per-user 80/20 holdout, factors=40, "
          f"annoy n_trees=20 ({load()})\n")

    def ndcg(model, k):
        t = time.perf_counter()
        recs = model.recommend(users, n=10)
        sec = time.perf_counter() - t
        score = likewise.metrics.ndcg_at_k(recs.item_indices[has_test],
                                           test.matrix[has_test], k=10)
        return score, sec

    rows = []
    for k in ks:
        t = time.perf_counter()
        approx = ApproxUserKNN(k=k, factors=40, random_state=0).fit(train)
        fit_a = time.perf_counter() - t
        exact = ApproxUserKNN(k=k, factors=40, backend="exact", random_state=0).fit(train)
        knn = likewise.UserKNN(k=k, mode="implicit", similarity="cosine").fit(train)
        nbr_recall = likewise.index.recall(approx.neighbours(users, k=10).ids,
                                           exact.neighbours(users, k=10).ids, k=10)
        (na, sa), (ne, _), (nk, _) = ndcg(approx, k), ndcg(exact, k), ndcg(knn, k)
        rows.append([k, f"{nbr_recall:.3f}", f"{na:.4f}", f"{ne:.4f}", f"{na - ne:+.4f}",
                     f"{nk:.4f}", f"{na - nk:+.4f}", f"{fit_a:.2f}s / {sa:.2f}s"])
    print(table(["k", "neighbour recall@10 (annoy vs exact, same SVD space)",
                 "NDCG@10 ApproxUserKNN (annoy)", "NDCG@10 exact search, same space",
                 "diff", "NDCG@10 UserKNN (cosine, implicit)", "diff vs UserKNN",
                 "annoy fit / recommend all"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--section", default="all",
                        choices=["all", "exact", "tradeoff", "million", "approxknn"])
    parser.add_argument("--n", type=int, default=1_000_000, help="size of the million set")
    parser.add_argument("--M", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--efs", default="16,32,64,128", help="hnsw ef values to try")
    parser.add_argument("--cache", help="save the million-set hnsw index here / reuse it")
    args = parser.parse_args()
    import hnswlib  # noqa: F401 - fail early when the ann extra is missing
    import numpy

    print(f"numpy {numpy.__version__}, {os.cpu_count()} cores, {load()}")
    if args.section in ("all", "exact"):
        bench_exact(max(args.repeats, 5))
    if args.section in ("all", "tradeoff"):
        bench_tradeoff(args.repeats)
    if args.section in ("all", "approxknn"):
        bench_approxknn()
    if args.section in ("all", "million"):
        bench_million(args.repeats, args.n, args.M, args.ef_construction,
                      tuple(int(v) for v in args.efs.split(",")), args.cache)


if __name__ == "__main__":
    main()
