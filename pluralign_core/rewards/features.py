"""Text features of a reward model: TF-IDF over word and character n-grams, saved as plain JSON.

Why these features is explained in :mod:`pluralign_core.rewards.training`; this module only makes the
transform reproducible from its saved vocabularies, without pickles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pluralign_core.rewards.config import RewardModelConfig


class TextFeatures:
    """TF-IDF over word and character n-grams, stored as plain vocabularies and idf vectors.

    scikit-learn's ``CountVectorizer`` with a *fixed* vocabulary needs no fitting, so the same transform is
    rebuilt from JSON on load; idf weighting (smooth, sublinear tf) and L2 normalisation are done here.
    Each n-gram kind is normalised on its own, so words and characters contribute equally.
    """

    def __init__(self, blocks: list[dict[str, Any]], lowercase: bool = True) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.blocks = blocks
        self.lowercase = lowercase
        self._vectorizers = [
            CountVectorizer(
                analyzer=b["analyzer"],
                ngram_range=tuple(b["ngram_range"]),
                vocabulary=b["vocabulary"],
                lowercase=lowercase,
                dtype=np.float64,
            )
            for b in blocks
        ]

    @classmethod
    def fit(cls, texts: Sequence[str], config: RewardModelConfig) -> TextFeatures:
        from sklearn.feature_extraction.text import CountVectorizer

        specs = [("word", config.word_ngrams), ("char_wb", config.char_ngrams)]
        blocks = []
        for analyzer, ngram_range in specs:
            if tuple(ngram_range) == (0, 0):
                continue
            counter = CountVectorizer(
                analyzer=analyzer,
                ngram_range=tuple(ngram_range),
                lowercase=config.lowercase,
                max_features=config.max_features,
                min_df=min(config.min_df, max(len(texts), 1)),
                dtype=np.float64,
            )
            try:
                counts = counter.fit_transform(list(texts))
            except ValueError:  # empty vocabulary (e.g. only one-character texts)
                continue
            document_frequency = np.asarray((counts > 0).sum(axis=0)).ravel()
            idf = np.log((1 + len(texts)) / (1 + document_frequency)) + 1.0
            vocabulary = {term: int(index) for term, index in counter.vocabulary_.items()}
            blocks.append(
                {"analyzer": analyzer, "ngram_range": list(ngram_range), "vocabulary": vocabulary, "idf": idf}
            )
        if not blocks:
            raise ValueError("the responses give no usable n-grams; are the response texts empty?")
        return cls(blocks, config.lowercase)

    @property
    def n_features(self) -> int:
        return sum(len(b["vocabulary"]) for b in self.blocks)

    def transform(self, texts: Sequence[str]) -> Any:
        from scipy import sparse
        from sklearn.preprocessing import normalize

        parts = []
        for block, vectorizer in zip(self.blocks, self._vectorizers, strict=True):
            counts = vectorizer.transform([t or "" for t in texts]).tocsr()
            counts.data = 1.0 + np.log(counts.data)
            weighted = counts.multiply(np.asarray(block["idf"])[None, :]).tocsr()
            parts.append(normalize(weighted))
        return sparse.hstack(parts).tocsr()

    def to_json(self) -> dict[str, Any]:
        return {
            "lowercase": self.lowercase,
            "blocks": [{**b, "idf": [float(x) for x in np.asarray(b["idf"])]} for b in self.blocks],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TextFeatures:
        blocks = [{**b, "idf": np.asarray(b["idf"], dtype=np.float64)} for b in data["blocks"]]
        return cls(blocks, bool(data.get("lowercase", True)))
