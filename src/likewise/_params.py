"""Declarative parameter checks shared by models, indexes and protocols.

A class lists its parameters once (``_param_spec``) and ``validate`` checks them in
``fit``, producing messages that name the parameter, the allowed range and the value.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .errors import ConfigError

__all__ = ["Int", "Float", "Choice", "Bool", "Any_", "validate", "check_random_state", "seed_from"]


@dataclass(frozen=True)
class Int:
    low: int | None = None
    high: int | None = None
    none_ok: bool = False

    def check(self, name: str, value: Any) -> None:
        if value is None and self.none_ok:
            return
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ConfigError(f"{name} must be an integer{self._range()}, got {value!r}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ConfigError(f"{name} must be an integer{self._range()}, got {value!r}")

    def _range(self) -> str:
        extra = " or None" if self.none_ok else ""
        if self.low is not None and self.high is not None:
            return f" in [{self.low}, {self.high}]{extra}"
        if self.low is not None:
            return f" >= {self.low}{extra}"
        if self.high is not None:
            return f" <= {self.high}{extra}"
        return extra


@dataclass(frozen=True)
class Float:
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    none_ok: bool = False

    def check(self, name: str, value: Any) -> None:
        if value is None and self.none_ok:
            return
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
        if ok and self.low is not None:
            ok = value > self.low if self.low_open else value >= self.low
        if ok and self.high is not None:
            ok = value < self.high if self.high_open else value <= self.high
        if not ok:
            raise ConfigError(f"{name} must be a number{self._range()}, got {value!r}")

    def _range(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(("> " if self.low_open else ">= ") + repr(self.low))
        if self.high is not None:
            parts.append(("< " if self.high_open else "<= ") + repr(self.high))
        s = (" " + " and ".join(parts)) if parts else " (finite)"
        return s + (" or None" if self.none_ok else "")


@dataclass(frozen=True)
class Choice:
    options: tuple

    def check(self, name: str, value: Any) -> None:
        if value not in self.options:
            allowed = ", ".join(repr(o) for o in self.options)
            raise ConfigError(f"{name} must be one of {allowed}; got {value!r}")


@dataclass(frozen=True)
class Bool:
    def check(self, name: str, value: Any) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise ConfigError(f"{name} must be True or False, got {value!r}")


@dataclass(frozen=True)
class Any_:
    """No check (for parameters validated by hand, e.g. objects)."""

    def check(self, name: str, value: Any) -> None:
        return None


@dataclass(frozen=True)
class RandomState:
    def check(self, name: str, value: Any) -> None:
        if value is None or isinstance(value, np.random.Generator):
            return
        if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0:
            return
        raise ConfigError(
            f"{name} must be None, a non-negative integer or a numpy Generator, got {value!r}"
        )


def validate(owner: str, spec: dict, params: dict) -> None:
    """Check ``params`` against ``spec``; raise :class:`ConfigError` prefixed with ``owner``."""
    for name, rule in spec.items():
        try:
            rule.check(name, params[name])
        except ConfigError as exc:
            raise ConfigError(f"{owner}: {exc}") from None


def check_random_state(random_state) -> np.random.Generator:
    """Turn ``None | int | Generator`` into a Generator (a Generator is used as is)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def seed_from(rng: np.random.Generator) -> int:
    """A 31-bit integer seed drawn from ``rng`` for kernels that take integer seeds."""
    return int(rng.integers(0, 2**31 - 1))


def as_1d(values: Any, name: str) -> np.ndarray:
    """Accept a scalar, list or array of ids and return a 1-D numpy array."""
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be a 1-D sequence of ids, got an array of shape {arr.shape}")
    return arr


def ensure_sequence(x: Any) -> Sequence:
    return x if isinstance(x, (list, tuple, np.ndarray)) else [x]
