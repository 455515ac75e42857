"""Item features from content: text and category metadata, and images.

``likewise.features.text``
    :func:`~likewise.features.text.metadata_vectors` (TF-IDF / sentence embeddings of text
    fields plus multi-hot category lists).
``likewise.features.images``
    :func:`~likewise.features.images.embed_images` (pretrained CNN embeddings of a folder
    or list of images, cached on disk by content hash).

Submodules load lazily (the image side imports torch only when used).
"""

from __future__ import annotations

import importlib

__all__ = [
    "ImageEmbeddings",
    "embed_images",
    "images",
    "load_image",
    "metadata_vectors",
    "text",
]

_NAMES = {"metadata_vectors": "text", "embed_images": "images", "load_image": "images",
          "ImageEmbeddings": "images"}


def __getattr__(name: str):
    if name in ("text", "images"):
        return importlib.import_module(f"likewise.features.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"likewise.features.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'likewise.features' has no attribute {name!r}")


def __dir__():
    return __all__
