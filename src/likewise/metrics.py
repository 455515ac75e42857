"""Evaluation metrics (re-exported from :mod:`likewise.evaluation.metrics`)."""

from .evaluation.metrics import *  # noqa: F401,F403
from .evaluation.metrics import __all__  # noqa: F401
