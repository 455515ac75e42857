"""The errors likewise raises on purpose.

Every error a user is expected to handle derives from :class:`LikewiseError`, so
``except likewise.LikewiseError`` catches them all; each also derives from the
closest built-in (``ValueError``, ``KeyError``...) so generic handlers keep working.
"""

from __future__ import annotations

__all__ = [
    "LikewiseError",
    "DataError",
    "ConfigError",
    "NotFittedError",
    "UnknownIdError",
    "UnknownUserError",
    "UnknownItemError",
    "UnsupportedError",
    "ModelFormatError",
    "MissingDependencyError",
    "RatingRankingWarning",
]


class LikewiseError(Exception):
    """Base class of every error likewise raises deliberately."""


class DataError(LikewiseError, ValueError):
    """Input data is missing, malformed or inconsistent.

    The message names where (file, line or row, column) and what to do about it.

    Parameters
    ----------
    message : str
        What is wrong and what to do.
    path, line, column : optional
        Where it is wrong; each is prefixed to the message when given.
    """

    def __init__(self, message: str, *, path=None, line=None, column=None):
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        self.reason = message
        where = []
        if self.path is not None:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class ConfigError(LikewiseError, ValueError):
    """A parameter or option has an invalid value (the message names it, its range and the value)."""


class NotFittedError(LikewiseError, RuntimeError):
    """A model was used before ``fit``."""


class UnknownIdError(LikewiseError, KeyError):
    """An id is not in the vocabulary the model or data set was built with."""

    def __init__(self, message: str, ids=None):
        self.ids = ids
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class UnknownUserError(UnknownIdError):
    """A user id the model was not trained on (and ``on_unknown='raise'``)."""


class UnknownItemError(UnknownIdError):
    """An item id the model was not trained on (and ``on_unknown='raise'``)."""


class UnsupportedError(LikewiseError, NotImplementedError):
    """The model cannot do what was asked (for example ``predict`` on a ranking-only model)."""


class ModelFormatError(LikewiseError, ValueError):
    """A saved model is unreadable, from a newer format version, or has been tampered with."""


class MissingDependencyError(LikewiseError, ImportError):
    """An optional dependency is not installed; the message says which extra provides it."""


class RatingRankingWarning(UserWarning):
    """``recommend`` on a model fitted for rating prediction ranks by predicted rating.

    Predicted ratings make poor top-N lists (obscure items with one 5-star rating come
    first); the message names the better choice for the model. Issued once per model
    configuration (class and parameters) in a process; silence it with
    ``warnings.filterwarnings("ignore", category=likewise.RatingRankingWarning)``.
    """


def require(module: str, extra: str, purpose: str | None = None):
    """Import an optional dependency or raise :class:`MissingDependencyError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        what = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"{module!r} is needed{what} but is not installed; "
            f"install it with: pip install 'likewise[{extra}]'"
        ) from exc
