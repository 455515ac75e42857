"""Image embedding throughput (batched vs naive one-by-one) and similarity query latency.

Everything runs on CPU with ``torch.set_num_threads(2)`` (the 2-core target of the
issue). Each throughput configuration runs in its own subprocess so that the glibc
malloc settings (which must be set before the process starts) can be compared:

- ``batched``: ``embed_images(paths, batch_size=32)`` (decode thread pool overlapping
  with inference, channels-last, inference_mode);
- ``naive``: the same model, one image at a time (``embed_image`` in a loop: decode,
  preprocess, forward, no batching, no overlap);

each with and without ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824``.

The query benchmark times ``likewise.index`` exact search (the backend ImageSimilarity
uses by default) for one query vector against 100,000 random unit vectors of the
EfficientNet-Lite0 dimension (1280), and the end-to-end ``similar_images`` call
(CNN embedding of the query photo + search).

Run: ``.venv/bin/python benchmarks/bench_images.py [--images 128] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MALLOC = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "1073741824"}
PHOTOS = ["astronaut", "camera", "chelsea", "coffee", "coins", "hubble_deep_field",
          "immunohistochemistry", "moon", "page", "rocket", "brick", "colorwheel", "clock",
          "grass", "gravel", "text", "retina", "cell"]


def make_images(folder: Path, n: int) -> list[str]:
    """n JPEG photos (crops/flips of the skimage photos, 300-640 px), like a product folder."""
    import skimage.data as skdata
    from PIL import Image

    rng = np.random.default_rng(0)
    base = [np.asarray(Image.fromarray(getattr(skdata, p)()).convert("RGB")) for p in PHOTOS]
    paths = []
    for i in range(n):
        img = base[i % len(base)]
        h, w = img.shape[:2]
        ch, cw = int(h * rng.uniform(0.7, 1.0)), int(w * rng.uniform(0.7, 1.0))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = img[y:y + ch, x:x + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        path = folder / f"img{i:05d}.jpg"
        Image.fromarray(np.ascontiguousarray(crop)).save(path, quality=90)
        paths.append(str(path))
    return paths


def child(mode: str, paths_file: str, repeats: int) -> None:
    import torch

    from likewise.features import images as im

    torch.set_num_threads(2)
    paths = json.loads(Path(paths_file).read_text())
    spec = im.get_model("efficientnet-lite0")
    im._network(spec)
    im.embed_image(paths[0])  # warm up (weights, allocator, first-call overheads)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        if mode == "batched":
            out = im.embed_images(paths, batch_size=32, progress=False, num_threads=2)
            assert len(out) == len(paths)
        else:
            for p in paths:
                im.embed_image(p)
        times.append(time.perf_counter() - t)
    print(json.dumps({"mode": mode, "seconds": times, "n": len(paths)}))


def run_child(mode: str, paths_file: str, repeats: int, malloc: bool) -> dict:
    env = dict(os.environ)
    for k in MALLOC:
        env.pop(k, None)
    if malloc:
        env.update(MALLOC)
    env["OMP_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, __file__, "--child", mode, paths_file,
                          "--repeats", str(repeats)], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def query_benchmark(n_vectors: int = 100_000, dim: int = 1280, n_queries: int = 200,
                    hnsw: bool = True):
    """Single-query latency of the exact and HNSW indexes over random unit vectors (yields rows).

    Random Gaussian directions are the hardest case for HNSW (no cluster structure), so
    its recall here is a lower bound for real image embeddings.
    """
    import torch

    from likewise import index

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n_vectors, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    # queries near catalogue items (a perturbed copy), as a photo of a listed product is
    queries = vectors[rng.integers(0, n_vectors, n_queries)] + \
        0.05 * rng.standard_normal((n_queries, dim), dtype=np.float32)
    exact_ids = None
    configs = [("exact", {})] + ([("hnsw", {"M": 16, "ef_construction": 100, "ef": 64})]
                                 if hnsw else [])
    for backend, params in configs:
        t = time.perf_counter()
        idx = index.build(vectors, metric="cosine", backend=backend, **params)
        build = time.perf_counter() - t
        idx.query(queries[:2], k=5)  # warm up (kernel compile / cache load)
        lat, ids = [], []
        for q in queries:
            t = time.perf_counter()
            found = idx.query(q[None, :], k=5)
            lat.append(time.perf_counter() - t)
            ids.append(found.ids[0])
        ids = np.asarray(ids)
        if exact_ids is None:
            exact_ids = ids
        lat = np.asarray(lat) * 1000
        yield {"backend": backend, "params": params, "build_s": build,
               "median_ms": float(np.median(lat)), "p95_ms": float(np.percentile(lat, 95)),
               "recall@5": float(index.recall(ids, exact_ids, k=5))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2)
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.repeats)
        return
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    if not args.skip_throughput:
        with tempfile.TemporaryDirectory() as tmp:
            paths = make_images(Path(tmp), args.images)
            paths_file = Path(tmp) / "paths.json"
            paths_file.write_text(json.dumps(paths))
            rows = []
            # interleave the configurations so background load hits them alike
            for malloc in (False, True):
                for mode in ("naive", "batched"):
                    res = run_child(mode, str(paths_file), args.repeats, malloc)
                    rows.append((mode, malloc, res))
            print(f"EfficientNet-Lite0, 224x224, {args.images} JPEG photos, 2 torch threads, "
                  f"best of {args.repeats} runs (median in brackets)\n")
            print("| mode | malloc env | images/s (best) | images/s (median) |")
            print("|---|---|---:|---:|")
            best = {}
            for mode, malloc, res in rows:
                s = np.asarray(res["seconds"])
                ips_best, ips_med = res["n"] / s.min(), res["n"] / np.median(s)
                best[(mode, malloc)] = ips_best
                print(f"| {mode} | {'MALLOC_MMAP_MAX_=0 ...' if malloc else 'default'} | "
                      f"{ips_best:.1f} | {ips_med:.1f} |")
            print()
            for malloc in (False, True):
                print(f"batched / naive ({'malloc env' if malloc else 'default malloc'}): "
                      f"{best[('batched', malloc)] / best[('naive', malloc)]:.2f}x")
            for mode in ("naive", "batched"):
                print(f"{mode}: malloc env / default: "
                      f"{best[(mode, True)] / best[(mode, False)]:.2f}x")
    print(f"\nSimilarity query: 100,000 x 1280 unit vectors (EfficientNet-Lite0 dimension), "
          f"cosine, k=5, one query at a time, 200 queries (load average now "
          f"{os.getloadavg()[0]:.1f})\n")
    print("| backend | build s | median ms | p95 ms | recall@5 vs exact |")
    print("|---|---:|---:|---:|---:|")
    for q in query_benchmark():
        print(f"| {q['backend']} {q['params'] or ''} | {q['build_s']:.1f} | "
              f"{q['median_ms']:.2f} | {q['p95_ms']:.2f} | {q['recall@5']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
