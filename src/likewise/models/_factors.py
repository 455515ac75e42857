"""Scoring shared by the dot-product (latent-factor) models.

A factor model scores ``user_vector . item_factor + item_bias + user_offset`` (the offset
being the global mean plus the user's bias where the model has them). The mixin
implements the base-class hooks from two small methods a model overrides:
``_user_vectors()`` (default ``user_factors_``) and ``_bias_terms()`` (default none).
"""

from __future__ import annotations

import numpy as np

from .base import dot_factors

__all__ = ["FactorScoring"]


class FactorScoring:
    """Mixin for :class:`~likewise.models.base.Recommender` subclasses with factors."""

    def _user_vectors(self) -> np.ndarray:
        return self.user_factors_

    def _bias_terms(self):
        """``(item_bias or None, per-user offset or None)`` added to the dot product."""
        return None, None

    def _biased_terms(self):
        """The usual biased form: item biases, and global mean + user biases."""
        return self.item_bias_, self.mu_ + self.user_bias_

    def _dot_factors(self):
        return dot_factors(self._user_vectors(), self.item_factors_, *self._bias_terms())

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        scores = self._user_vectors()[user_idx] @ self.item_factors_.T
        item_bias, offset = self._bias_terms()
        if item_bias is not None:
            scores += item_bias[None, :]
        if offset is not None:
            scores += offset[user_idx, None]
        return scores.astype(np.float32, copy=False)

    def _predict_idx(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        est = np.einsum("ij,ij->i", self._user_vectors()[user_idx], self.item_factors_[item_idx])
        item_bias, offset = self._bias_terms()
        if item_bias is not None:
            est += item_bias[item_idx]
        if offset is not None:
            est += offset[user_idx]
        return est.astype(np.float32)

    def _item_embeddings(self) -> np.ndarray:
        return self.item_factors_
