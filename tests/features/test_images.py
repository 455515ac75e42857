"""Image embeddings on real photos (skimage.data), bad images, the cache, the registry."""

import io
import struct
import zlib

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
pytest.importorskip("torch")
skdata = pytest.importorskip("skimage.data")

from PIL import Image

from likewise.errors import ConfigError, DataError, MissingDependencyError
from likewise.features import images as im

# real photos shipped with scikit-image (no download); 12 photos x 4 copies keeps the CNN
# part of the suite to ~60 images
PHOTOS = ["astronaut", "camera", "chelsea", "coffee", "coins", "hubble_deep_field",
          "immunohistochemistry", "moon", "page", "rocket", "brick", "colorwheel"]


def _transforms(rgb, rng):
    h, w = rgb.shape[:2]
    ch, cw = int(h * 0.8), int(w * 0.8)
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    jitter = np.clip(rgb.astype(float) * rng.uniform(0.8, 1.2, 3) + rng.uniform(-20, 20, 3),
                     0, 255).astype(np.uint8)
    return {"flip": rgb[:, ::-1], "crop": rgb[y:y + ch, x:x + cw], "jitter": jitter,
            "resize": np.asarray(Image.fromarray(rgb).resize((w // 2, h // 2)))}


@pytest.fixture(scope="module")
def photo_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    (root / "orig").mkdir()
    (root / "copies").mkdir()
    rng = np.random.default_rng(0)
    for name in PHOTOS:
        arr = getattr(skdata, name)()
        Image.fromarray(arr).save(root / "orig" / f"{name}.png")
        rgb = np.asarray(Image.fromarray(arr).convert("RGB"))
        for kind, out in _transforms(rgb, rng).items():
            ext = "jpg" if kind == "jitter" else "png"
            Image.fromarray(np.ascontiguousarray(out)).save(root / "copies" / f"{name}__{kind}.{ext}")
    return root


@pytest.fixture(scope="module")
def embedded(photo_dirs):
    orig = im.embed_images(photo_dirs / "orig", progress=False, batch_size=32)
    copies = im.embed_images(photo_dirs / "copies", progress=False, batch_size=32)
    return orig, copies


def test_transformed_copies_find_their_original(embedded):
    orig, copies = embedded
    assert len(orig) == len(PHOTOS) and not orig.skipped
    assert orig.vectors.dtype == np.float32 and orig.vectors.shape[1] == 1280
    np.testing.assert_allclose(np.linalg.norm(orig.vectors, axis=1), 1.0, atol=1e-5)
    index = orig.to_index()
    ids, scores = index.query(copies.vectors, k=1)
    truth = np.array([c.split("__")[0] + ".png" for c in copies.ids])
    accuracy = float((ids[:, 0] == truth).mean())
    assert len(copies) == 4 * len(PHOTOS)
    assert accuracy >= 0.95, list(zip(copies.ids[ids[:, 0] != truth], ids[ids[:, 0] != truth]))


def test_single_query_matches_batch(embedded, photo_dirs):
    orig, _ = embedded
    vec = im.embed_image(photo_dirs / "orig" / "coffee.png")
    row = list(orig.ids).index("coffee.png")
    np.testing.assert_allclose(vec, orig.vectors[row], atol=2e-4)


# -- bad images ----------------------------------------------------------------------------
def _png_header_only(width, height):
    """A PNG whose header claims width x height pixels (a decompression bomb's header)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + \
        chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(1)
    photo = skdata.astronaut()
    good = io.BytesIO()
    Image.fromarray(photo).save(good, "JPEG")
    (d / "corrupt.jpg").write_bytes(good.getvalue()[: len(good.getvalue()) // 3])
    (d / "fake.png").write_text("this is not an image\n")
    (d / "bomb.png").write_bytes(_png_header_only(50_000, 50_000))
    Image.fromarray(photo).convert("CMYK").save(d / "cmyk.jpg")
    Image.fromarray(skdata.camera()).save(d / "gray.png")
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:50, :50, 3] = 0  # a transparent corner
    Image.fromarray(rgba).save(d / "rgba.png")
    Image.fromarray((rng.random((64, 80)) * 65535).astype(np.uint16)).save(d / "deep16.png")
    # EXIF orientation 6: the stored pixels must be rotated 90 degrees clockwise to display
    upright = np.zeros((60, 100, 3), np.uint8)
    upright[:, :50] = (255, 0, 0)
    upright[:, 50:] = (0, 0, 255)
    stored = Image.fromarray(np.rot90(upright, k=1))  # counter-clockwise: what a camera stores
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(d / "rotated.jpg", exif=exif.tobytes(), quality=95)
    return d


def test_query_errors_name_the_file(bad_dir):
    for name, pattern in (("corrupt.jpg", "decode"), ("fake.png", "not an image"),
                          ("bomb.png", "decompression bomb")):
        with pytest.raises(DataError, match=pattern) as info:
            im.load_image(bad_dir / name)
        assert name in str(info.value)
    with pytest.raises(DataError, match="no such file"):
        im.load_image(bad_dir / "missing.jpg")
    with pytest.raises(DataError):
        im.embed_image(bad_dir / "fake.png")


def test_modes_are_converted_correctly(bad_dir):
    cmyk = im.load_image(bad_dir / "cmyk.jpg")
    ref = skdata.astronaut().astype(int)
    assert cmyk.shape == ref.shape and np.abs(cmyk.astype(int) - ref).mean() < 12
    gray = im.load_image(bad_dir / "gray.png")
    assert gray.shape == (512, 512, 3) and (gray[..., 0] == gray[..., 2]).all()
    rgba = im.load_image(bad_dir / "rgba.png")
    assert (rgba[:50, :50] == 255).all()  # transparent -> white
    deep = im.load_image(bad_dir / "deep16.png")
    raw = np.asarray(Image.open(bad_dir / "deep16.png"), dtype=np.float64)
    np.testing.assert_allclose(deep[..., 0], np.rint(raw / 257), atol=1)
    rotated = im.load_image(bad_dir / "rotated.jpg")
    assert rotated.shape == (60, 100, 3)
    assert rotated[30, 10, 0] > 200 and rotated[30, 90, 2] > 200  # red left, blue right
    assert im.load_image(np.zeros((5, 6), np.float32)).shape == (5, 6, 3)
    with pytest.raises(DataError, match="shape"):
        im.load_image(np.zeros((2, 3, 5)))


def test_catalogue_skips_and_reports(bad_dir):
    emb = im.embed_images(bad_dir, progress=False)
    skipped = {p.split("/")[-1]: reason for p, reason in emb.skipped}
    assert set(skipped) == {"corrupt.jpg", "fake.png", "bomb.png"}
    assert sorted(emb.ids.tolist()) == ["cmyk.jpg", "deep16.png", "gray.png", "rgba.png",
                                        "rotated.jpg"]
    assert np.isfinite(emb.vectors).all()
    # a pixel limit: only the small images (64 x 80 and 100 x 60) pass 6,000 pixels
    small = im.embed_images(bad_dir, progress=False, max_pixels=6000)
    assert sorted(small.ids.tolist()) == ["deep16.png", "rotated.jpg"]
    assert sum("over the limit" in r for _, r in small.skipped) == 4


def test_cache_embeds_only_new_or_changed_files(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("coffee", "rocket", "moon"):
        Image.fromarray(getattr(skdata, name)()).save(folder / f"{name}.png")
    cache = tmp_path / "cache"
    first = im.embed_images(folder, cache_dir=cache, progress=False)
    assert first.n_computed == 3
    again = im.embed_images(folder, cache_dir=cache, progress=False)
    assert again.n_computed == 0
    np.testing.assert_array_equal(first.vectors, again.vectors)
    Image.fromarray(skdata.coins()).save(folder / "moon.png")  # changed content
    (folder / "copy-of-rocket.png").write_bytes((folder / "rocket.png").read_bytes())
    third = im.embed_images(folder, cache_dir=cache, progress=False)
    assert third.n_computed == 1 and len(third) == 4
    assert not list(cache.rglob("*.pkl")) and list(cache.rglob("manifest.json"))


def test_preprocess_keeps_aspect_and_crops_centre():
    wide = np.zeros((100, 300, 3), np.uint8)
    wide[:, 140:160] = 255  # a centred stripe: 90-134 after resize and crop
    out = im.preprocess(wide, 224)
    assert out.shape == (224, 224, 3)
    assert out[:, 112].mean() > 250 and out[:, 5].mean() < 5


def test_model_registry_and_resnet50(tmp_path, monkeypatch):
    import torch

    with pytest.raises(ConfigError, match="efficientnet-lite0"):
        im.get_model("vgg")
    monkeypatch.setenv("LIKEWISE_MODEL_DIR", str(tmp_path / "models"))
    with pytest.raises(ConfigError, match="resnet50-0676ba61.pth"):
        im.ResNet50().load()
    net = im.build_resnet50()
    (tmp_path / "models").mkdir()
    torch.save(net.state_dict(), tmp_path / "models" / "resnet50-test.pth")
    spec = im.ResNet50()
    assert spec.weights_path().name == "resnet50-test.pth"
    loaded = spec.load()  # strict load of a torchvision-layout state dict
    vec = im._run(spec, loaded, np.zeros((1, 224, 224, 3), np.uint8), True)
    assert vec.shape == (1, 2048)


def test_adding_a_model_is_one_small_class(tmp_path):
    import torch

    class Tiny(im.ImageModel):
        name, dim, image_size = "tiny-test-registry", 8, 32

        def load(self):
            torch.manual_seed(0)
            return torch.nn.Conv2d(3, 8, 3).eval()

        def features(self, net, x):
            return net(x).mean(dim=(2, 3))

    im.register_model(Tiny)
    Image.fromarray(skdata.coffee()).save(tmp_path / "a.png")
    emb = im.embed_images([tmp_path / "a.png"], model="tiny-test-registry", progress=False)
    assert emb.vectors.shape == (1, 8)


# -- inference runtimes: ONNX Runtime and PyTorch --------------------------------------------
onnx_only = pytest.mark.skipif(not im._onnx_installed(), reason="onnxruntime/onnx not installed")


def test_runtime_is_validated(photo_dirs):
    with pytest.raises(ConfigError, match="runtime must be one of 'auto', 'onnx', 'torch'"):
        im.embed_images(photo_dirs / "orig", runtime="tensorrt", progress=False)
    with pytest.raises(ConfigError, match="runtime"):
        im.embed_image(photo_dirs / "orig" / "coffee.png", runtime="")


@onnx_only
def test_onnx_and_torch_give_the_same_vectors(photo_dirs, embedded):
    orig, _ = embedded  # made with the default runtime
    assert im._resolve_runtime("auto") == "onnx"
    by_torch = im.embed_images(photo_dirs / "orig", runtime="torch", progress=False)
    by_onnx = im.embed_images(photo_dirs / "orig", runtime="onnx", progress=False,
                              batch_size=5)  # batches of another size: dynamic batch axis
    assert list(by_torch.ids) == list(by_onnx.ids) == list(orig.ids)
    np.testing.assert_allclose(by_onnx.vectors, by_torch.vectors, atol=1e-4)
    np.testing.assert_allclose(orig.vectors, by_onnx.vectors, atol=1e-5)
    cos = np.einsum("ij,ij->i", by_onnx.vectors, by_torch.vectors)
    assert cos.min() > 0.9999
    one = photo_dirs / "orig" / "rocket.png"
    single_onnx, single_torch = im.embed_image(one, runtime="onnx"), \
        im.embed_image(one, runtime="torch")
    assert float(single_onnx @ single_torch) > 0.9999


def test_auto_falls_back_to_torch_without_onnxruntime(monkeypatch, photo_dirs, embedded):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails: not installed
    monkeypatch.setattr(im, "_onnx_installed", lambda: False)
    assert im._resolve_runtime("auto") == "torch"
    vec = im.embed_image(photo_dirs / "orig" / "coffee.png")
    row = list(embedded[0].ids).index("coffee.png")
    np.testing.assert_allclose(vec, embedded[0].vectors[row], atol=2e-4)
    with pytest.raises(MissingDependencyError, match=r"pip install 'likewise\[image\]'"):
        im.embed_image(photo_dirs / "orig" / "coffee.png", runtime="onnx")


@onnx_only
def test_onnx_export_is_cached_and_repaired(tmp_path, monkeypatch, photo_dirs):
    monkeypatch.setenv("LIKEWISE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(im, "_SESSIONS", {})
    exports = []
    real_export = im._export_onnx
    monkeypatch.setattr(im, "_export_onnx", lambda *a: exports.append(1) or real_export(*a))
    photo = photo_dirs / "orig" / "coffee.png"
    first = im.embed_image(photo, runtime="onnx")
    files = list((tmp_path / "cache" / "onnx").iterdir())
    assert len(exports) == 1 and len(files) == 1 and files[0].suffix == ".onnx"
    # a new process (no sessions in memory) reads the file instead of exporting again
    monkeypatch.setattr(im, "_SESSIONS", {})
    np.testing.assert_allclose(im.embed_image(photo, runtime="onnx"), first, atol=1e-6)
    assert len(exports) == 1
    # a truncated file is replaced by a fresh export, not an error
    files[0].write_bytes(files[0].read_bytes()[:1000])
    monkeypatch.setattr(im, "_SESSIONS", {})
    np.testing.assert_allclose(im.embed_image(photo, runtime="onnx"), first, atol=1e-6)
    assert len(exports) == 2 and files[0].stat().st_size > 1_000_000
    assert not [p for p in files[0].parent.iterdir() if p.suffix == ".tmp"]
    # an unwritable cache costs an export per process, nothing else
    (tmp_path / "blocked").write_text("a file where the cache folder would go")
    monkeypatch.setenv("LIKEWISE_DATA_DIR", str(tmp_path / "blocked"))
    monkeypatch.setattr(im, "_SESSIONS", {})
    np.testing.assert_allclose(im.embed_image(photo, runtime="onnx"), first, atol=1e-6)
    assert len(exports) == 3


@onnx_only
def test_a_query_with_a_cached_export_does_not_load_torch(tmp_path, photo_dirs):
    import os
    import subprocess
    import sys

    script = ("import sys\nfrom likewise.features import images as im\n"
              f"v = im.embed_image({str(photo_dirs / 'orig' / 'coffee.png')!r})\n"
              "print(v.shape[0], 'torch' in sys.modules)\n")
    env = dict(os.environ, LIKEWISE_DATA_DIR=str(tmp_path / "cache"))
    outs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]
    assert outs[0] == ["1280", "True"]  # the first process exports, with torch
    assert outs[1] == ["1280", "False"]  # the next one runs the cached export alone


@onnx_only
def test_onnx_runs_other_models_too(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(im, "_SESSIONS", {})

    class TinyOnnx(im.ImageModel):
        name, dim, image_size = "tiny-test-onnx", 4, 32

        def load(self):
            torch.manual_seed(1)
            return torch.nn.Conv2d(3, 4, 3).eval()

        def features(self, net, x):
            return torch.relu(net(x)).amax(dim=(2, 3))

    spec = TinyOnnx()
    pixels = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    net = spec.load()
    by_torch = im._run(spec, net, pixels, False)
    by_onnx = im._run(spec, None, pixels, False, im._onnx_session(spec, 1))
    np.testing.assert_allclose(by_onnx, by_torch, atol=1e-5)


@onnx_only
def test_a_network_onnx_cannot_take_runs_in_torch(tmp_path, monkeypatch):
    import warnings

    import torch

    class NoOnnx(im.ImageModel):
        name, dim, image_size = "tiny-test-no-onnx", 3, 16

        def load(self):
            torch.manual_seed(2)
            return torch.nn.Conv2d(3, 3, 3).eval()

        def features(self, net, x):  # an operator the ONNX exporter does not support
            return torch.linalg.svdvals(net(x).mean(dim=1))[:, :3]

    im.register_model(NoOnnx)
    Image.fromarray(skdata.coffee()).save(tmp_path / "a.png")
    with pytest.warns(RuntimeWarning, match="cannot run in ONNX Runtime"):
        first = im.embed_images([tmp_path / "a.png"], model="tiny-test-no-onnx", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per network, not per call
        again = im.embed_image(tmp_path / "a.png", model="tiny-test-no-onnx")
    by_torch = im.embed_image(tmp_path / "a.png", model="tiny-test-no-onnx", runtime="torch")
    np.testing.assert_allclose(first.vectors[0], by_torch, atol=1e-6)
    np.testing.assert_allclose(again, by_torch, atol=1e-6)
    with pytest.raises(ConfigError, match="cannot run in ONNX Runtime.*runtime='torch'"):
        im.embed_image(tmp_path / "a.png", model="tiny-test-no-onnx", runtime="onnx")


# -- glibc malloc tuning during inference ----------------------------------------------------
class _FakeLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad):
        self.calls.append(("malloc_trim", pad))
        return 1


TUNE = [("mallopt", -4, 0), ("mallopt", -1, 1 << 30)]
DEFAULTS = [("mallopt", -4, 65536), ("mallopt", -3, 32 << 20), ("mallopt", -1, 64 << 20)]
RESTORE = DEFAULTS + [("malloc_trim", 0)]


@pytest.fixture
def fake_libc(monkeypatch):
    fake = _FakeLibc()
    monkeypatch.setattr(im, "_LIBC", fake)
    monkeypatch.delenv("LIKEWISE_MALLOC_TUNING", raising=False)
    assert im._malloc_depth == 0
    yield fake
    assert im._malloc_depth == 0


def test_malloc_tuning_order_and_nesting(fake_libc):
    with im._malloc_tuning():
        assert fake_libc.calls == TUNE
        with im._malloc_tuning():
            with im._malloc_tuning():
                pass
        assert fake_libc.calls == TUNE  # inner enters/exits do nothing
    assert fake_libc.calls == TUNE + RESTORE
    fake_libc.calls.clear()
    with pytest.raises(RuntimeError), im._malloc_tuning():
        raise RuntimeError("inference failed")
    assert fake_libc.calls == TUNE + RESTORE  # restored on errors too
    fake_libc.calls.clear()
    with im._malloc_tuning(trim=False):
        pass
    assert fake_libc.calls == TUNE + DEFAULTS  # no trim asked for
    fake_libc.calls.clear()
    with im._malloc_tuning(trim=False):
        with im._malloc_tuning():  # an inner call that wants the trim gets it at the end
            pass
        assert fake_libc.calls == TUNE
    assert fake_libc.calls == TUNE + RESTORE


def test_malloc_tuning_is_shared_across_threads(fake_libc):
    import threading

    entered, release = threading.Event(), threading.Event()

    def other():
        with im._malloc_tuning():
            entered.set()
            release.wait(10)

    with im._malloc_tuning():
        thread = threading.Thread(target=other)
        thread.start()
        assert entered.wait(10)
    assert fake_libc.calls == TUNE  # the other thread is still inside: nothing restored
    release.set()
    thread.join(10)
    assert fake_libc.calls == TUNE + RESTORE


def test_embedding_calls_are_tuned_and_opt_out_skips(fake_libc, monkeypatch, photo_dirs):
    im.embed_image(photo_dirs / "orig" / "coffee.png")
    assert fake_libc.calls == []  # a query image changes no process-wide setting
    im.embed_images(photo_dirs / "orig", progress=False)
    assert fake_libc.calls == TUNE + RESTORE  # one tuning around the whole call
    fake_libc.calls.clear()
    for off in ("0", "off", "false"):
        monkeypatch.setenv("LIKEWISE_MALLOC_TUNING", off)
        im.embed_image(photo_dirs / "orig" / "coffee.png")
        im.embed_images([photo_dirs / "orig" / "moon.png"], progress=False)
    assert fake_libc.calls == []


def test_vectors_identical_with_and_without_malloc_tuning(monkeypatch, photo_dirs, embedded):
    orig, _ = embedded  # computed with the (real) tuning on
    monkeypatch.setenv("LIKEWISE_MALLOC_TUNING", "0")
    plain = im.embed_images(photo_dirs / "orig", progress=False, batch_size=32)
    np.testing.assert_array_equal(plain.ids, orig.ids)
    np.testing.assert_array_equal(plain.vectors, orig.vectors)
    path = photo_dirs / "orig" / "astronaut.png"
    untuned = im.embed_image(path)
    monkeypatch.delenv("LIKEWISE_MALLOC_TUNING")
    np.testing.assert_array_equal(im.embed_image(path), untuned)


_HEAP_PROBE = """
import ctypes, json
import numpy as np
from likewise.features import images as im

libc = im._load_glibc()

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks",
                                               "keepcost")]

libc.mallinfo2.restype = MallInfo2

def mmapped_while_alive(n_bytes):
    before = libc.mallinfo2().hblks
    buf = np.ones(n_bytes, np.uint8)  # NumPy takes large buffers from malloc
    during = libc.mallinfo2().hblks
    del buf
    return during - before

out = [mmapped_while_alive(64 << 20)]
with im._malloc_tuning():
    out.append(mmapped_while_alive(64 << 20))
out.append(mmapped_while_alive(64 << 20))
# after the tuned period medium temporaries must come from the heap again (as glibc's
# dynamic threshold would have it), not be mmapped and page-faulted on every allocation
out.append(mmapped_while_alive(8 << 20) + mmapped_while_alive(8 << 20))
print(json.dumps(out))
"""


def test_real_glibc_keeps_large_buffers_in_the_heap():
    import json
    import os
    import subprocess
    import sys

    try:
        glibc = sys.platform.startswith("linux") and \
            (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):
        glibc = False
    if not glibc:
        assert im._load_glibc() is None
        pytest.skip("not glibc: the tuning is a no-op")
    libc = im._load_glibc()
    assert libc is not None
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("glibc < 2.33 has no mallinfo2")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("LIKEWISE_MALLOC_TUNING", None)
    # a fresh process: this one's heap may already hold large free chunks
    out = subprocess.run([sys.executable, "-c", _HEAP_PROBE], env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    default, tuned, restored, medium_after = json.loads(out.stdout.strip().splitlines()[-1])
    assert default == 1  # a 64 MiB block is its own mmap
    assert tuned == 0  # tuned: served from the heap
    assert restored == 1  # defaults restored (and the heap trimmed)
    assert medium_after == 0  # 8 MiB temporaries stay in the heap after the tuned period
