"""Declarative parameter rules shared by models, indexes and protocols.

A class lists its parameters once (``_param_spec``: name -> rule) and the rule does
everything a parameter needs, so the words, the checks and the formats never drift apart:

* ``check`` (through :func:`validate`, in ``fit``) raises a message naming the parameter,
  the allowed range and the value: ``SVD: factors must be an integer >= 1, got 0``;
* ``describe`` says the allowed values in words (``likewise models NAME``, ``--help``);
* ``schema`` is a JSON Schema fragment (the service's OpenAPI, the web app's forms);
* ``parse`` turns command-line text into a typed value (``"64"`` -> ``64``);
* ``to_json`` / ``from_json`` carry the value in a saved model's manifest.

Rules compose: ``Union(Choice(("auto",)), Float(0))`` is "'auto' or a number >= 0".
Every rule takes an optional one-line ``help``.

Examples
--------
>>> from likewise._params import Choice, Float, Union
>>> rule = Union(Choice(("auto",)), Float(0), help="Shrinkage of the profile.")
>>> rule.describe()
"'auto' or a number >= 0"
>>> rule.parse("2.5"), rule.parse("auto")
(2.5, 'auto')
>>> rule.check("shrinkage", -1)
Traceback (most recent call last):
...
likewise.errors.ConfigError: shrinkage must be 'auto' or a number >= 0, got -1
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .errors import ConfigError, ModelFormatError

__all__ = ["Any_", "Bool", "Choice", "FilePath", "Float", "Int", "OneOf", "RandomState", "Rule",
           "Str", "Union", "check_random_state", "is_json", "json_value", "params_from_json",
           "params_to_json", "seed_from", "validate"]

_NONE_WORDS = ("none", "null")
_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")
_JSON_SCALARS = (bool, int, float, str, type(None))


class Rule:
    """What every rule can do; subclasses say which values they accept and how to say it.

    Subclasses implement ``accepts``, ``describe`` and, where the value has a JSON type or a
    text form, ``_schema`` and ``_parse``.
    """

    help: str = ""

    def accepts(self, value: Any) -> bool:  # pragma: no cover - abstract
        """Whether ``value`` is allowed."""
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        """The allowed values in words, as they follow "must be" in a message."""
        raise NotImplementedError

    def check(self, name: str, value: Any) -> None:
        """Raise :class:`~likewise.ConfigError` naming ``name``, the range and ``value``."""
        if not self.accepts(value):
            raise ConfigError(f"{name} must be {self.describe()}, got {value!r}")

    def schema(self) -> dict:
        """A JSON Schema fragment for the value (with ``help`` as its description)."""
        fragment = self._schema()
        if self.help:
            fragment["description"] = self.help
        return fragment

    def _schema(self) -> dict:
        return {}

    def parse(self, text: str, name: str = "value") -> Any:
        """The typed value written as ``text`` on a command line.

        ``"none"``/``"null"`` is None where the rule allows None. Only the type is
        checked here; :meth:`check` checks the range.

        Raises
        ------
        ConfigError
            The text is not a value of this type (the message names ``name``).
        """
        stripped = str(text).strip()
        if stripped.lower() in _NONE_WORDS and self.accepts(None):
            return None
        try:
            return self._parse(stripped)
        except ValueError:
            raise ConfigError(f"{name} must be {self.describe()}, got {text!r}") from None

    def _parse(self, text: str) -> Any:
        raise ValueError(text)

    def to_json(self, value: Any) -> Any:
        """``value`` as plain JSON types (NumPy scalars become Python ones)."""
        return json_value(value)

    def from_json(self, value: Any) -> Any:
        """The parameter value stored as ``value`` in a manifest.

        JSON's types are the Python values these rules accept, so the value comes back
        as it was saved; rules whose values have no JSON type override this.
        """
        return value


def _within(value, low, high, low_open: bool = False, high_open: bool = False) -> bool:
    if low is not None and not (value > low if low_open else value >= low):
        return False
    return high is None or (value < high if high_open else value <= high)


def _nullable(json_type: str, none_ok: bool):
    return [json_type, "null"] if none_ok else json_type


def _join_or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


@dataclass(frozen=True)
class Int(Rule):
    """An integer in ``[low, high]`` (either bound optional), or None with ``none_ok``."""

    low: int | None = None
    high: int | None = None
    none_ok: bool = False
    help: str = field(default="", kw_only=True)

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.none_ok
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return False
        return _within(value, self.low, self.high)

    def describe(self) -> str:
        return "an integer" + self._range()

    def _range(self) -> str:
        extra = " or None" if self.none_ok else ""
        if self.low is not None and self.high is not None:
            return f" in [{self.low}, {self.high}]{extra}"
        if self.low is not None:
            return f" >= {self.low}{extra}"
        if self.high is not None:
            return f" <= {self.high}{extra}"
        return extra

    def _schema(self) -> dict:
        out: dict[str, Any] = {"type": _nullable("integer", self.none_ok)}
        if self.low is not None:
            out["minimum"] = self.low
        if self.high is not None:
            out["maximum"] = self.high
        return out

    def _parse(self, text: str) -> int:
        return int(text)


@dataclass(frozen=True)
class Float(Rule):
    """A finite number between ``low`` and ``high`` (open or closed ends), or None."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    none_ok: bool = False
    help: str = field(default="", kw_only=True)

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.none_ok
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                not math.isfinite(value):
            return False
        return _within(value, self.low, self.high, self.low_open, self.high_open)

    def describe(self) -> str:
        return "a number" + self._range()

    def _range(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(("> " if self.low_open else ">= ") + repr(self.low))
        if self.high is not None:
            parts.append(("< " if self.high_open else "<= ") + repr(self.high))
        s = (" " + " and ".join(parts)) if parts else " (finite)"
        return s + (" or None" if self.none_ok else "")

    def _schema(self) -> dict:
        out: dict[str, Any] = {"type": _nullable("number", self.none_ok)}
        if self.low is not None:
            out["exclusiveMinimum" if self.low_open else "minimum"] = self.low
        if self.high is not None:
            out["exclusiveMaximum" if self.high_open else "maximum"] = self.high
        return out

    def _parse(self, text: str) -> float:
        return float(text)


@dataclass(frozen=True)
class Choice(Rule):
    """One of a fixed tuple of values (strings, None, numbers)."""

    options: tuple
    help: str = field(default="", kw_only=True)

    def accepts(self, value: Any) -> bool:
        try:
            return value in self.options
        except (TypeError, ValueError):  # e.g. an array compared element-wise
            return False

    def describe(self) -> str:
        if len(self.options) == 1:
            return repr(self.options[0])
        return "one of " + ", ".join(repr(o) for o in self.options)

    def check(self, name: str, value: Any) -> None:
        if len(self.options) > 1 and not self.accepts(value):
            # the long-standing wording of this message ("one of ...; got")
            raise ConfigError(f"{name} must be {self.describe()}; got {value!r}")
        super().check(name, value)

    def _schema(self) -> dict:
        return {"enum": [json_value(o) for o in self.options]}

    def _parse(self, text: str) -> Any:
        for option in self.options:
            if str(option) == text:
                return option
        for option in self.options:
            if str(option).lower() == text.lower():
                return option
        raise ValueError(text)


@dataclass(frozen=True)
class Bool(Rule):
    """True or False (``true``/``false``, ``yes``/``no``, ``1``/``0`` on a command line)."""

    help: str = field(default="", kw_only=True)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def describe(self) -> str:
        return "True or False"

    def _schema(self) -> dict:
        return {"type": "boolean"}

    def _parse(self, text: str) -> bool:
        low = text.lower()
        if low in _TRUE_WORDS:
            return True
        if low in _FALSE_WORDS:
            return False
        raise ValueError(text)


@dataclass(frozen=True)
class Str(Rule):
    """A string, optionally one matching ``pattern`` in full (said as ``words``), or None."""

    none_ok: bool = False
    pattern: str | None = None
    words: str | None = None
    help: str = field(default="", kw_only=True)

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.none_ok
        if not isinstance(value, str):
            return False
        return self.pattern is None or re.fullmatch(self.pattern, value) is not None

    def describe(self) -> str:
        if self.words is not None:
            text = self.words
        elif self.pattern is not None:
            text = f"a string matching {self.pattern!r}"
        else:
            text = "a string"
        return text + (" or None" if self.none_ok else "")

    def _schema(self) -> dict:
        out: dict[str, Any] = {"type": _nullable("string", self.none_ok)}
        if self.pattern is not None:
            out["pattern"] = f"^(?:{self.pattern})$"
        return out

    def _parse(self, text: str) -> str:
        return text


@dataclass(frozen=True)
class FilePath(Rule):
    """A file-system path (``str`` or :class:`os.PathLike`), saved as a string, or None."""

    none_ok: bool = False
    help: str = field(default="", kw_only=True)

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.none_ok
        return isinstance(value, (str, os.PathLike))

    def describe(self) -> str:
        return "a path" + (" or None" if self.none_ok else "")

    def _schema(self) -> dict:
        return {"type": _nullable("string", self.none_ok)}

    def _parse(self, text: str) -> str:
        return text

    def to_json(self, value: Any) -> Any:
        return os.fspath(value) if isinstance(value, os.PathLike) else json_value(value)


@dataclass(frozen=True)
class Any_(Rule):
    """No check: an object the class validates itself (sub-models, option dicts).

    ``words`` says what is expected, for the parameter listings.
    """

    words: str = "any value"
    help: str = field(default="", kw_only=True)

    def accepts(self, value: Any) -> bool:
        return True

    def describe(self) -> str:
        return self.words

    def _parse(self, text: str) -> Any:
        try:  # lists and dicts are written as JSON on a command line
            return json.loads(text)
        except ValueError:
            return text


@dataclass(frozen=True)
class RandomState(Rule):
    """A seed: None, a non-negative integer or a :class:`numpy.random.Generator`."""

    help: str = field(default="", kw_only=True)

    def accepts(self, value: Any) -> bool:
        if value is None or isinstance(value, np.random.Generator):
            return True
        return isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 0

    def describe(self) -> str:
        return "None, a non-negative integer or a numpy Generator"

    def _schema(self) -> dict:
        return {"type": ["integer", "null"], "minimum": 0}

    def _parse(self, text: str) -> int:
        return int(text)

    def to_json(self, value: Any) -> Any:
        if isinstance(value, np.random.Generator):
            return None  # a Generator's state is not a parameter worth persisting
        return json_value(value)


@dataclass(frozen=True, init=False)
class Union(Rule):
    """A value any of ``rules`` accepts: ``Union(Choice(("auto",)), Float(0))``.

    The message lists the alternatives: "x must be 'auto' or a number >= 0, got -1".
    """

    rules: tuple
    help: str = ""

    def __init__(self, *rules: Rule, help: str = ""):
        if len(rules) < 2 or not all(isinstance(r, Rule) for r in rules):
            raise TypeError(f"Union needs two or more rules, got {rules!r}")
        object.__setattr__(self, "rules", tuple(rules))
        object.__setattr__(self, "help", help)

    def accepts(self, value: Any) -> bool:
        return any(rule.accepts(value) for rule in self.rules)

    def describe(self) -> str:
        return _join_or([rule.describe() for rule in self.rules])

    def _schema(self) -> dict:
        return {"anyOf": [rule.schema() for rule in self.rules]}

    def parse(self, text: str, name: str = "value") -> Any:
        # the first alternative that reads the text and accepts the value wins; a value
        # that reads but is out of range is returned so that check() names the range
        parsed = []
        for rule in self.rules:
            try:
                value = rule.parse(text, name)
            except ConfigError:
                continue
            if rule.accepts(value):
                return value
            parsed.append(value)
        if parsed:
            return parsed[0]
        raise ConfigError(f"{name} must be {self.describe()}, got {text!r}")

    def to_json(self, value: Any) -> Any:
        for rule in self.rules:
            if rule.accepts(value):
                return rule.to_json(value)
        return json_value(value)


#: Another name for :class:`Union` ("one of these rules").
OneOf = Union

_ANY = Any_()


def validate(owner: str, spec: dict, params: dict) -> None:
    """Check ``params`` against ``spec``; raise :class:`ConfigError` prefixed with ``owner``."""
    for name, rule in spec.items():
        try:
            rule.check(name, params[name])
        except ConfigError as exc:
            raise ConfigError(f"{owner}: {exc}") from None


def json_value(value: Any) -> Any:
    """``value`` with NumPy scalars as Python scalars and tuples as lists (recursively).

    Anything else is returned as is; :func:`is_json` says whether the result is JSON.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    return value


def is_json(value: Any) -> bool:
    """Whether ``value`` is made only of JSON types (finite numbers, string keys)."""
    if isinstance(value, _JSON_SCALARS):
        return not (isinstance(value, float) and not np.isfinite(value))
    if isinstance(value, (list, tuple)):
        return all(is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json(v) for k, v in value.items())
    return False


def params_to_json(spec: dict, params: dict, owner: str = "") -> dict:
    """Parameter values as JSON for a manifest, each through its rule in ``spec``.

    Raises
    ------
    ModelFormatError
        A value has no JSON form (the message names the parameter).
    """
    out = {}
    for name, value in params.items():
        converted = spec.get(name, _ANY).to_json(value)
        if not is_json(converted):
            where = f"{owner}: " if owner else ""
            raise ModelFormatError(f"{where}parameter {name}={converted!r} cannot be saved as "
                                   "JSON")
        out[name] = converted
    return out


def params_from_json(spec: dict, params: dict) -> dict:
    """Parameter values read from a manifest, each through its rule in ``spec``."""
    return {name: spec.get(name, _ANY).from_json(value) for name, value in params.items()}


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


def ensure_sequence(x: Any) -> Sequence | np.ndarray:
    return x if isinstance(x, (list, tuple, np.ndarray)) else [x]
