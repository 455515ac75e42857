"""One line on stderr when a model's numba kernels compile: the first use is never silent.

numba compiles a kernel the first time it is called with new argument types, unless
its on-disk cache (``cache=True``) already holds it. That compile can take seconds, so
the first ``fit`` of a model in a fresh environment would stall without a word. numba
fires its ``"numba:compile"`` event only on a real compile (a kernel loaded from the
on-disk cache fires nothing), so listening to it says exactly when compiling happens.

The line goes through the ``logging`` logger ``"likewise"`` at WARNING level: with no
logging set up Python prints it on stderr, and ``logging.getLogger("likewise")
.setLevel(logging.ERROR)`` silences it. Each model class is named once per process.
"""

from __future__ import annotations

import logging
import sys
import threading
from types import FrameType

LOGGER = logging.getLogger("likewise")

_lock = threading.Lock()
_installed = False
_announced: set[str] = set()


def install() -> None:
    """Listen to numba's compile events from now on (idempotent, cheap after the first call)."""
    global _installed
    if _installed:
        return
    with _lock:
        if _installed:
            return
        from numba.core import event

        class _CompileListener(event.Listener):
            def on_start(self, event_):
                announce(_calling_model())

            def on_end(self, event_):
                pass

        event.register("numba:compile", _CompileListener())
        _installed = True


def _calling_model() -> str | None:
    """Class name of the innermost likewise model whose method is on the call stack."""
    from .base import Recommender

    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, Recommender):
            return type(candidate).__name__
        frame = frame.f_back
    return None


def announce(model_name: str | None) -> bool:
    """Log the compile line for ``model_name`` unless it was logged before; True if logged."""
    key = model_name or ""
    with _lock:
        if key in _announced:
            return False
        _announced.add(key)
    what = f" for {model_name}" if model_name else ""
    LOGGER.warning("likewise: compiling numba kernels%s, first use only (compiled kernels "
                   "are cached on disk; `likewise warmup` prepares them ahead of time)", what)
    return True
