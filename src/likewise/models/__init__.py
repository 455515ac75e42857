"""Model layer: the :class:`~likewise.models.base.Recommender` contract and one module per family."""

from .base import Recommendations, Recommender, load

__all__ = ["Recommender", "Recommendations", "load"]
