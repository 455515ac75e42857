"""Progress of long fits: a tqdm bar (off by default) and the ``"likewise"`` logger.

The factor models' epoch/iteration loops run through :func:`fit_steps`. It logs the start
and the end of the loop at INFO and every step at DEBUG on ``logging.getLogger("likewise")``
(Python shows neither unless logging is configured, so nothing is printed by default), and
shows a ``tqdm.auto`` bar (a widget in notebooks) when progress is on:

* ``likewise.set_progress(True)`` turns it on for the process (False: off, None: back to
  the environment);
* ``with likewise.progress(True): model.fit(data)`` overrides it for one block (per thread
  and per asyncio task);
* the environment variable ``LIKEWISE_PROGRESS=1`` turns it on when neither is set.

Off is the default because a library that writes to stderr on its own breaks pipelines and
logs; the bar advances once per epoch or iteration, never per row, so it costs nothing
measurable and the kernels' results do not change.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import time
from collections.abc import Iterator

__all__ = ["LOGGER", "fit_steps", "progress", "progress_enabled", "set_progress"]

LOGGER = logging.getLogger("likewise")
_ENV = "LIKEWISE_PROGRESS"
_TRUE = ("1", "true", "yes", "on")
_process_setting: bool | None = None
_block_setting: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "likewise_progress", default=None)


def set_progress(enabled: bool | None) -> None:
    """Show progress bars for long fits in this process (None: follow ``LIKEWISE_PROGRESS``).

    Parameters
    ----------
    enabled : bool or None
        True shows a tqdm bar per fit loop, False hides them, None falls back to the
        environment variable (default off).
    """
    global _process_setting
    _process_setting = None if enabled is None else bool(enabled)


@contextlib.contextmanager
def progress(enabled: bool = True) -> Iterator[None]:
    """Progress bars on (or off) inside a ``with`` block only, whatever the process setting.

    Parameters
    ----------
    enabled : bool, default True
        Show (True) or hide (False) the bars of fits run in the block.
    """
    token = _block_setting.set(bool(enabled))
    try:
        yield
    finally:
        _block_setting.reset(token)


def progress_enabled() -> bool:
    """Whether fits show a progress bar now (block, then process, then environment)."""
    for setting in (_block_setting.get(), _process_setting):
        if setting is not None:
            return setting
    return os.environ.get(_ENV, "").strip().lower() in _TRUE


def fit_steps(owner: object, n: int, unit: str = "epoch", start: int = 0) -> Iterator[int]:
    """``range(start, n)`` that reports each finished step (bar, DEBUG log) and the total.

    Parameters
    ----------
    owner : object
        The model fitting (its class name labels the bar and the log lines).
    n : int
        Steps in all.
    unit : str
        What a step is ("epoch", "iteration", "sweep").
    start : int
        First step (a resumed fit).
    """
    name = type(owner).__name__
    LOGGER.info("%s: fitting, %d %ss", name, n - start, unit)
    started = time.perf_counter()
    bar = None
    if progress_enabled():
        from tqdm.auto import tqdm

        bar = tqdm(total=n, initial=start, desc=f"{name} fit", unit=unit, leave=False)
    done = start
    try:
        for step in range(start, n):
            done = step + 1  # counted when handed out: a loop may break after its work
            yield step
            if bar is not None:
                bar.update(1)
            LOGGER.debug("%s: %s %d/%d done (%.2f s)", name, unit, done, n,
                         time.perf_counter() - started)
    finally:
        if bar is not None:
            bar.close()
        LOGGER.info("%s: %d %ss in %.2f s", name, done - start, unit,
                    time.perf_counter() - started)
