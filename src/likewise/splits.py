"""Train/test splits (re-exported from :mod:`likewise.data.splits`)."""

from .data.splits import *  # noqa: F401,F403
from .data.splits import __all__  # noqa: F401
