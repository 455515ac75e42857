"""Data layer: interactions, vocabularies, readers, data sets, synthetic data and splits."""

from .interactions import DUPLICATE_POLICIES, Interactions
from .vocabulary import Vocabulary

__all__ = ["Interactions", "Vocabulary", "DUPLICATE_POLICIES"]
