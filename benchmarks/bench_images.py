"""Image embedding throughput (batched vs naive one-by-one) and similarity query latency.

Everything runs on CPU with ``torch.set_num_threads(2)`` (the 2-core target of the
issue). Each throughput configuration runs in its own fresh subprocess:

- ``batched``: ``embed_images(paths, batch_size=32)`` (decode thread pool overlapping
  with inference, JPEG draft decoding, the network in ONNX Runtime: the default
  ``runtime="auto"``);
- ``naive``: likewise's own single-image path, ``embed_image`` in a loop (no batching, no
  overlap);
- ``batched-torch`` / ``naive-torch``: the same with ``runtime="torch"`` (channels-last,
  inference_mode, glibc malloc tuned during the call);
- ``tutorial``: what a user writes without likewise (:func:`tutorial_embed`): for each
  path PIL ``open -> convert("RGB") -> resize((224, 224))``, NumPy -> torch, ``(x - 127) /
  128``, NCHW, ``torch.no_grad()`` forward of the same network's feature extractor,
  global average pooling, L2 normalisation; default allocator. Its vectors are compared
  with likewise's (cosine per image; the squash-resize differs from likewise's
  resize-and-centre-crop, so they are close, not equal);
- ``batched-torch`` and ``batched-onnx`` again with ``LIKEWISE_MALLOC_TUNING=0`` (the
  allocator tuning switched off), to show what the tuning contributes to each runtime.

The query benchmark times ``ImageSimilarity.similar_to_vector`` (the search behind
``similar_images``, without the CNN pass of the query photo) one query at a time over
100,000 catalogue vectors, and its recall@5 against exact full-dimension cosine search, for
the default (``search_dim="auto"``: PCA-128 first pass + exact re-rank of 20 x n
candidates), full exact search, other PCA sizes / re-rank depths, and HNSW over the
PCA-reduced vectors. The catalogue is built from REAL EfficientNet-Lite0 embeddings
(:func:`real_corpus`: 1,000 "products" cut from the scikit-image photos x 4 augmented shots,
cached under /tmp) grown to 100,000 vectors with :func:`grow_corpus` (product mean + noise
with the real within-product covariance); queries are held-out real shots. Random unit
vectors (no structure) are the control.

Run: ``.venv/bin/python benchmarks/bench_images.py [--images 128] [--repeats 5]
[--skip-throughput] [--skip-queries] [--vectors 100000] [--queries 200]``
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


def tutorial_embed(net, path: str, crop: bool = False):
    """One image the way a tutorial does it (no likewise): squash-resize, NCHW, no_grad.

    ``crop``: resize the shorter side and crop the centre instead (``ImageOps.fit``), like
    likewise's preprocessing; only for the agreement check, not timed.
    """
    import torch
    from PIL import Image, ImageOps

    img = Image.open(path).convert("RGB")
    img = ImageOps.fit(img, (224, 224), Image.BILINEAR) if crop else img.resize((224, 224))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32))
    x = ((x - 127.0) / 128.0).permute(2, 0, 1).contiguous().unsqueeze(0)  # 1 x 3 x H x W
    with torch.no_grad():
        f = net.extract_features(x).mean(dim=(2, 3))[0].numpy()
    return f / np.linalg.norm(f)


def child(mode: str, paths_file: str, repeats: int) -> None:
    import torch

    from likewise.features import images as im

    torch.set_num_threads(2)
    paths = json.loads(Path(paths_file).read_text())
    spec = im.get_model("efficientnet-lite0")
    net = im._network(spec)
    # warm up (weights, allocator, first-call overheads); the tutorial never touches
    # likewise's channels-last copy of the network
    mode, _, runtime = mode.partition("-")
    runtime = runtime or "auto"
    if mode == "tutorial":
        tutorial_embed(net, paths[0])
    else:  # also creates the ONNX Runtime session (the export itself is cached on disk)
        im.embed_image(paths[0], runtime=runtime)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        if mode == "batched":
            out = im.embed_images(paths, batch_size=32, progress=False, num_threads=2,
                                  runtime=runtime)
            assert len(out) == len(paths)
        elif mode == "naive":
            for p in paths:
                im.embed_image(p, runtime=runtime)
        else:
            vecs = np.stack([tutorial_embed(net, p) for p in paths])
        times.append(time.perf_counter() - t)
    result = {"mode": mode, "seconds": times, "n": len(paths)}
    if mode == "tutorial":  # after timing: embed_images converts the network to channels-last
        ref = im.embed_images(paths, batch_size=32, progress=False).vectors
        result["cosine"] = {}
        for name, v in (("squash", vecs), ("crop", np.stack([tutorial_embed(net, p, True)
                                                              for p in paths]))):
            cos = np.einsum("ij,ij->i", v, ref)
            result["cosine"][name] = {"mean": float(cos.mean()), "min": float(cos.min()),
                                      "median": float(np.median(cos))}
        worst = int(np.argmin(np.einsum("ij,ij->i", vecs, ref)))
        from PIL import Image

        result["cosine"]["worst_image_size"] = Image.open(paths[worst]).size
    print(json.dumps(result))


def run_child(mode: str, paths_file: str, repeats: int, tuning: bool = True) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["LIKEWISE_MALLOC_TUNING"] = "1" if tuning else "0"
    env["OMP_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, __file__, "--child", mode, paths_file,
                          "--repeats", str(repeats)], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------
# a structured evaluation corpus from real EfficientNet-Lite0 embeddings
# ---------------------------------------------------------------------------------------
CORPUS_PHOTOS = ["astronaut", "brick", "camera", "cat", "cell", "chelsea", "clock", "coffee",
                 "coins", "colorwheel", "grass", "gravel", "hubble_deep_field",
                 "immunohistochemistry", "logo", "moon", "page", "retina", "rocket", "text"]


def _photos() -> list:
    import skimage.data as skdata
    from PIL import Image

    out = []
    for name in CORPUS_PHOTOS:
        arr = getattr(skdata, name)()
        img = Image.fromarray(arr)
        if img.mode == "RGBA":
            bg = Image.new("RGB", img.size, (255, 255, 255))
            bg.paste(img, mask=img.split()[3])
            img = bg
        out.append(img.convert("RGB"))
    return out


def _random_item(photos: list, rng: np.random.Generator):
    """A 'product photo': a random region (10-100% of the area) of one photo, or (30%) two
    regions of different photos side by side."""
    from PIL import Image

    def region(img, lo=0.1):
        w, h = img.size
        area = rng.uniform(lo, 1.0) * w * h
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        cw = int(min(w, max(32, np.sqrt(area * aspect))))
        ch = int(min(h, max(32, np.sqrt(area / aspect))))
        x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        return img.crop((x, y, x + cw, y + ch))

    a = region(photos[rng.integers(len(photos))])
    if rng.random() < 0.3:
        b = region(photos[rng.integers(len(photos))], 0.2).resize(a.size)
        both = Image.new("RGB", (2 * a.size[0], a.size[1]))
        both.paste(a, (0, 0))
        both.paste(b, (a.size[0], 0))
        a = both
    return a


def _augment(img, rng: np.random.Generator):
    """A new shot of the same product: crop (60-100% area), flip, rotation (+-20 deg),
    brightness/contrast/saturation (x0.7-1.3), downscale (40-100%), JPEG (quality 30-95)."""
    import io as _io

    from PIL import Image, ImageEnhance

    w, h = img.size
    s = np.sqrt(rng.uniform(0.6, 1.0))
    cw, ch = max(16, int(w * s)), max(16, int(h * s))
    x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
    out = img.crop((x, y, x + cw, y + ch))
    if rng.random() < 0.5:
        out = out.transpose(Image.FLIP_LEFT_RIGHT)
    out = out.rotate(rng.uniform(-20, 20), resample=Image.BILINEAR, fillcolor=(128, 128, 128))
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        out = enhance(out).enhance(rng.uniform(0.7, 1.3))
    f = rng.uniform(0.4, 1.0)
    out = out.resize((max(16, int(out.size[0] * f)), max(16, int(out.size[1] * f))),
                     Image.BILINEAR)
    buf = _io.BytesIO()
    out.save(buf, format="JPEG", quality=int(rng.integers(30, 96)))
    return Image.open(_io.BytesIO(buf.getvalue())).convert("RGB")


def real_corpus(n_items: int = 1000, shots: int = 4, seed: int = 0,
                cache: str = "/tmp/likewise-image-corpus") -> dict:
    """Real EfficientNet-Lite0 embeddings of ``n_items`` products x ``shots`` augmented shots.

    Returns ``{"vectors": (n_items * shots, 1280), "item": (n,) product number}``; cached as
    .npy files under ``cache`` (keyed by the arguments).
    """
    import torch

    from likewise.features import images as im

    folder = Path(cache) / f"items{n_items}-shots{shots}-seed{seed}"
    if (folder / "vectors.npy").exists():
        return {"vectors": np.load(folder / "vectors.npy"), "item": np.load(folder / "item.npy")}
    torch.set_num_threads(2)
    spec = im.get_model("efficientnet-lite0")
    net = im._network(spec).to(memory_format=torch.channels_last)
    rng = np.random.default_rng(seed)
    photos = _photos()
    vectors, item, batch = [], [], []
    t0 = time.perf_counter()
    for i in range(n_items):
        base = _random_item(photos, rng)
        for _ in range(shots):
            batch.append(im.preprocess(_augment(base, rng), spec.image_size))
            item.append(i)
        if len(batch) >= 32 or i == n_items - 1:
            vectors.append(im._run(spec, net, np.stack(batch), True))
            batch = []
            done = sum(len(v) for v in vectors)
            print(f"\r  embedded {done}/{n_items * shots} "
                  f"({done / (time.perf_counter() - t0):.1f} images/s)", end="", flush=True)
    print()
    folder.mkdir(parents=True, exist_ok=True)
    out = {"vectors": np.concatenate(vectors), "item": np.asarray(item, dtype=np.int64)}
    for k, v in out.items():
        np.save(folder / f"{k}.npy", v)
    return out


def grow_corpus(vectors: np.ndarray, item: np.ndarray, n_total: int, noise: float = 1.0,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Grow real embeddings to ``n_total`` vectors keeping their structure.

    Every synthetic vector is the mean embedding of a real product (products taken in
    turn) plus Gaussian noise whose covariance is ``noise**2`` times the pooled
    within-product covariance of the real shots (the residuals of each real shot from its
    product mean, so the noise lies in the directions real augmentations move an
    embedding), re-normalised to unit length: "more shots of the same products". The real
    vectors come first. Returns ``(vectors, item)``.
    """
    rng = np.random.default_rng(seed)
    items, inverse, counts = np.unique(item, return_inverse=True, return_counts=True)
    means = np.zeros((len(items), vectors.shape[1]))
    np.add.at(means, inverse, vectors)
    means /= counts[:, None]
    resid = (vectors - means[inverse]) * np.sqrt(counts / np.maximum(counts - 1, 1))[inverse, None]
    m = n_total - len(vectors)
    owner = np.arange(m) % len(items)
    rng.shuffle(owner)
    out = np.empty((n_total, vectors.shape[1]), dtype=np.float32)
    out[: len(vectors)] = vectors
    for lo in range(0, m, 8192):
        hi = min(m, lo + 8192)
        z = rng.standard_normal((hi - lo, len(resid)))
        synth = means[owner[lo:hi]] + noise * (z @ resid) / np.sqrt(len(resid))
        out[len(vectors) + lo: len(vectors) + hi] = synth / np.linalg.norm(synth, axis=1,
                                                                          keepdims=True)
    return out, np.r_[item, items[owner]]


def query_corpus(n_total: int = 100_000, n_queries: int = 200, noise: float = 1.0,
                 n_items: int = 1000, shots: int = 4, seed: int = 0, unlisted: bool = False):
    """(catalogue vectors, catalogue product, query vectors, query product).

    Real corpus: ``n_items`` products x ``shots`` real shots (:func:`real_corpus`). The last
    shot of every product is held out; ``n_queries`` of them (random products) are the
    queries, real embeddings of shots the catalogue never saw. The other shots are grown
    to ``n_total`` catalogue vectors with :func:`grow_corpus`. ``unlisted``: instead, every
    tenth product is left out of the catalogue entirely and the queries are shots of those
    (a photo of a product that is not in the catalogue).
    """
    corpus = real_corpus(n_items, shots, seed)
    vectors, item = corpus["vectors"], corpus["item"]
    shot = np.arange(len(item)) % shots
    held = (item % 10 == 9) if unlisted else (shot == shots - 1)
    cat, cat_item = grow_corpus(vectors[~held], item[~held], n_total, noise, seed)
    rng = np.random.default_rng(seed + 1)
    pick = np.sort(rng.choice(np.nonzero(held)[0], n_queries, replace=False))
    return cat, cat_item, vectors[pick], item[pick]


def random_corpus(n_total: int = 100_000, n_queries: int = 200, dim: int = 1280, seed: int = 0):
    """Unstructured control: random unit vectors, queries = a catalogue vector + 5% noise."""
    rng = np.random.default_rng(seed)
    cat = rng.standard_normal((n_total, dim), dtype=np.float32)
    cat /= np.linalg.norm(cat, axis=1, keepdims=True)
    q = cat[rng.integers(0, n_total, n_queries)] + \
        0.05 * rng.standard_normal((n_queries, dim), dtype=np.float32)
    return cat, None, q / np.linalg.norm(q, axis=1, keepdims=True), None


def query_benchmark(corpus, configs, k: int = 5):
    """Single-query latency and recall@k of ``ImageSimilarity.similar_to_vector`` (yields rows).

    Each configuration is a dict of ImageSimilarity parameters. The model is built with
    ``from_embeddings`` (PCA fit included in "fit s"); "index s" is the search index build
    (first query); the latency is the median over one-at-a-time queries after a warm-up.
    Ground truth: exact full-dimension cosine search (``likewise.index`` exact backend).
    """
    import gc

    import torch

    from likewise import index
    from likewise.features import images as im
    from likewise.models.image import ImageSimilarity

    torch.set_num_threads(2)
    cat, cat_item, queries, q_item = corpus
    exact = index.build(cat, metric="cosine").query(queries, k=k).ids
    same = None if cat_item is None else float(np.mean(cat_item[exact] == q_item[:, None]))
    space = im.get_model("efficientnet-lite0").cache_key()
    emb = im.ImageEmbeddings(ids=np.arange(len(cat)), paths=np.arange(len(cat)).astype(str),
                             vectors=cat, model=space)
    for params in configs:
        gc.collect()
        t = time.perf_counter()
        model = ImageSimilarity.from_embeddings(emb, **params)
        fit = time.perf_counter() - t
        t = time.perf_counter()
        model.similar_to_vector(queries[0], n=k)  # builds the index (and compiles kernels)
        build = time.perf_counter() - t
        for q in queries[:3]:
            model.similar_to_vector(q, n=k)
        lat, ids = [], []
        for q in queries:
            t = time.perf_counter()
            found = model.similar_to_vector(q, n=k)
            lat.append(time.perf_counter() - t)
            ids.append(found.ids.astype(np.int64))
        lat = np.asarray(lat) * 1000
        d = model.search_components_.shape[1] if model.search_components_ is not None else 0
        yield {"params": params, "dim": d, "fit_s": fit, "index_s": build,
               "median_ms": float(np.median(lat)), "p95_ms": float(np.percentile(lat, 95)),
               "recall": float(index.recall(np.asarray(ids), exact, k=k)),
               "same_product": same}
        del model


def variance_captured(vectors: np.ndarray, dims=(64, 128, 256)) -> list[float]:
    """Share of the total variance on the top ``dims`` principal axes (structure check)."""
    from likewise.models.image import pca_basis

    comp, mean = pca_basis(vectors, max(dims))
    sample = vectors[np.random.default_rng(0).choice(len(vectors), min(len(vectors), 10_000),
                                                     replace=False)] - mean
    total = float(np.einsum("ij,ij->", sample, sample))
    proj = sample @ comp
    return [float(np.einsum("ij,ij->", proj[:, :d], proj[:, :d])) / total for d in dims]


def float16_scan_ms(cat: np.ndarray, repeats: int = 3) -> float:
    """Median ms of one float16 query x catalogue product in NumPy (option (c): half the bytes)."""
    c16 = cat.astype(np.float16)
    q16 = cat[0].astype(np.float16)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        c16 @ q16
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1000


def print_query_tables(n_total: int = 100_000, n_queries: int = 200) -> None:
    print(f"\nSimilarity query: {n_total:,} catalogue vectors (1280-d), k=5, one query at a "
          f"time, {n_queries} queries; ImageSimilarity.similar_to_vector; load average now "
          f"{os.getloadavg()[0]:.1f}\n")
    structured = [("auto", {}), ("full exact", {"search_dim": 0})]
    structured += [(f"pca {d}, rerank {r}", {"search_dim": d, "rerank": r})
                   for d, r in ((64, 20), (128, 10), (128, 20), (128, 40), (256, 20))]
    structured += [("pca 128 + hnsw, rerank 20", {"search_dim": 128, "backend": "hnsw"})]
    for label, corpus, configs in (
            ("real-embedding corpus, noise x1.0", query_corpus(n_total, n_queries, 1.0),
             structured),
            ("real-embedding corpus, noise x1.5", query_corpus(n_total, n_queries, 1.5),
             structured[:2] + structured[4:5]),
            ("real-embedding corpus, queries of products not in the catalogue",
             query_corpus(n_total, n_queries, 1.0, unlisted=True),
             structured[:3] + structured[-1:]),
            ("random unit vectors (no structure)", random_corpus(n_total, n_queries),
             structured[:2] + structured[4:5])):
        print(f"\n{label}\n")
        print("| configuration | pca dim | fit s | index s | median ms | p95 ms | recall@5 |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        same = None
        for row, (name, _) in zip(query_benchmark(corpus, [c for _, c in configs]), configs):
            same = row["same_product"]
            print(f"| {name} | {row['dim']} | {row['fit_s']:.1f} | {row['index_s']:.1f} | "
                  f"{row['median_ms']:.2f} | {row['p95_ms']:.2f} | {row['recall']:.3f} |",
                  flush=True)
        if same is not None:
            print(f"\nexact top-5 neighbours of the same product as the query: {same:.1%}")
        if label.startswith("real") and "1.0" in label:
            print(f"float16 full scan in NumPy (option c): {float16_scan_ms(corpus[0]):.0f} ms")
            real = real_corpus()
            held = np.arange(len(real["item"])) % 4 == 3
            for name, x in (("real shots (3,000)", real["vectors"][~held]),
                            ("grown catalogue (100,000)", corpus[0])):
                share = variance_captured(x)
                print(f"variance on the top 64 / 128 / 256 principal axes, {name}: "
                      + " / ".join(f"{v:.1%}" for v in share))
        if label.startswith("random"):
            share = variance_captured(corpus[0])
            print("variance on the top 64 / 128 / 256 principal axes: "
                  + " / ".join(f"{v:.1%}" for v in share))
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2)
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-queries", action="store_true")
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
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
            # (mode, allocator tuning), one fresh process each
            configs = [("tutorial", True), ("naive", True), ("batched", True),
                       ("naive-torch", True), ("batched-torch", True),
                       ("batched-torch", False), ("batched-onnx", False)]
            rows = [(mode, tuning, run_child(mode, str(paths_file), args.repeats, tuning))
                    for mode, tuning in configs]
            print(f"EfficientNet-Lite0, 224x224, {args.images} JPEG photos, 2 threads, "
                  f"{args.repeats} runs per mode, each mode in a fresh process; load average "
                  f"now {os.getloadavg()[0]:.2f}\n")
            print("| mode | runtime | malloc tuning | images/s (best) | images/s (median) |")
            print("|---|---|---|---:|---:|")
            best, med = {}, {}
            for mode, tuning, res in rows:
                s = np.asarray(res["seconds"])
                key = (mode, tuning)
                best[key], med[key] = res["n"] / s.min(), res["n"] / np.median(s)
                label = "n/a (plain PIL + torch)" if mode == "tutorial" else \
                    ("on (default)" if tuning else "off (LIKEWISE_MALLOC_TUNING=0)")
                kind, _, runtime = mode.partition("-")
                runtime = "torch" if kind == "tutorial" else (runtime or "auto (onnx)")
                print(f"| {kind} | {runtime} | {label} | {best[key]:.1f} | {med[key]:.1f} |")
                if "cosine" in res:
                    tut_cos = res["cosine"]
            print()
            for a, b in ((("batched", True), ("tutorial", True)),
                         (("batched", True), ("naive", True)),
                         (("naive", True), ("tutorial", True)),
                         (("batched", True), ("batched-torch", True)),
                         (("naive", True), ("naive-torch", True)),
                         (("batched-torch", True), ("tutorial", True)),
                         (("batched-torch", True), ("batched-torch", False)),
                         (("batched-onnx", False), ("batched", True))):
                name = " / ".join(f"{m}{'' if t else ' (tuning off)'}" for m, t in (a, b))
                print(f"{name}: best {best[a] / best[b]:.2f}x, median {med[a] / med[b]:.2f}x")
            for name, what in (("squash", "the tutorial as timed (squash-resize)"),
                               ("crop", "the tutorial's network path on centre crops")):
                c = tut_cos[name]
                print(f"\ncosine with likewise's vector per image, {what}: mean "
                      f"{c['mean']:.3f}, median {c['median']:.3f}, min {c['min']:.3f}", end="")
            w, h = tut_cos["worst_image_size"]
            print(f"\n(lowest squash cosine: a {w}x{h} photo)")
            print(f"load average at the end of the throughput part: {os.getloadavg()[0]:.2f}")
    if not args.skip_queries:
        print_query_tables(args.vectors, args.queries)


if __name__ == "__main__":
    main()
