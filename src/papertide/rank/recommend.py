"""Recommendations: new papers ranked for one person from the text of what they keep. Pure.

A batch (one sync's new papers, or an evaluation window) is scored for many people at
once over one ``Space``: tf-idf of word 1-2-grams (scores, and the key terms a reason
names) and of character 4-grams (the same method written "segmenting", "segmentation"
or "U-Net"; those in more than a tenth of the texts dropped), fitted on the batch's texts.
For each person and new paper:

- the word similarity is the mean of the best and the best three cosines to their
  library, the character one the mean and the best;
- every cosine is corrected for hubness (``cos - a * (hub(paper) + hub(saved))``, where
  hub is a text's mean cosine to its ten nearest background papers): abstracts written
  in a field's common words are close to everything and would top every list otherwise;
- each part is standardised by its spread over 500 background papers (earlier papers
  nobody chose), so that scores of different syncs can be merged into one list;
- papers close to what the person marked 👎 lose; with three or more 👎 a linear model
  (library and 👍 against 👎 and sampled background) adds what similarity cannot learn;
- a paper by an author the person follows gains a fixed amount and says so.

On the 400 researchers of the dev set (``papertide eval-recommend``) the hubness
correction (0.75 of the hubs for words, 0.25 for characters: the weights that held over
three background samples) and the character 4-grams each add about 0.02 MRR@100 over the plain word
cosine (0.16), and dropping the common 4-grams another 0.005 while it cuts the cost of
scoring by 2.6; a classifier on the library alone (arxiv-sanity-lite's recipe) adds
nothing over them (0.2055 -> 0.2022), which is why it waits for 👎.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Sequence

import numpy as np

WORD_HUB, CHAR_HUB, HUB_NEIGHBOURS = 0.75, 0.25, 10
DISLIKE_WEIGHT, CLASSIFIER_WEIGHT, MIN_DISLIKES = 0.5, 0.5, 3
CALIBRATION = 500  # background papers each person's scores are standardised against
FOLLOWED_BONUS = 2.0  # in background standard deviations: a followed author's paper comes near the top
MAX_REASON_PAPERS, MAX_REASON_TERMS = 2, 3
CHAR_NGRAMS = (4, 4)
CHAR_MAX_DF = 0.1  # a 4-gram in a tenth of the texts is the field's common wording: noise, and most of the cost


@dataclass
class Person:
    """What one person's model is made of; every item is a key of the ``Space``'s texts."""

    key: Hashable
    library: list[str]
    disliked: list[str] = field(default_factory=list)
    hidden: set[str] = field(default_factory=set)  # never recommended (saved, disliked, dismissed)
    authors: list[str] = field(default_factory=list)  # followed, matched case-insensitively


@dataclass
class Pick:
    """One recommended paper and why."""

    paper: str
    score: float
    close_to: list[str] = field(default_factory=list)  # library keys, closest first
    terms: list[str] = field(default_factory=list)  # key terms it shares with them
    author: str = ""  # a followed author of the paper


class Space:
    """The tf-idf spaces of one batch: ``texts`` holds every library, candidate and background text."""

    def __init__(self, texts: dict[str, str], background: Sequence[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.keys = list(texts)
        self.row = {k: i for i, k in enumerate(self.keys)}
        corpus = [texts[k] for k in self.keys]
        big = len(corpus) >= 200  # on a tiny corpus every term is rare or common: keep them all
        common = {"min_df": 2 if big else 1, "max_df": 0.5 if big else 1.0, "sublinear_tf": True,
                  "dtype": np.float32}
        self.words = TfidfVectorizer(ngram_range=(1, 2), stop_words="english", **common)
        self.W = self.words.fit_transform(corpus).tocsr()
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS,
                                **{**common, "max_df": CHAR_MAX_DF if big else 1.0})
        self.C = chars.fit_transform(corpus).tocsr()
        self.vocabulary = self.words.get_feature_names_out()
        self.background = np.array([self.row[k] for k in background if k in self.row], dtype=np.int64)
        self.calibration = self.background[np.random.default_rng(0).permutation(len(self.background))[:CALIBRATION]]
        self.hub_w = self._hubness(self.W)
        self.hub_c = self._hubness(self.C)

    def _hubness(self, X: "np.ndarray") -> np.ndarray:
        """Each text's mean cosine to its nearest background texts (itself left out)."""
        hub = np.zeros(X.shape[0], dtype=np.float32)
        if len(self.background) < 2:
            return hub
        k = min(HUB_NEIGHBOURS, len(self.background) - 1)
        B = X[self.background].T.tocsc()
        for start in range(0, X.shape[0], 2000):
            S = (X[start:start + 2000] @ B).toarray()
            S[S > 0.9999] = 0.0  # a background text against itself
            hub[start:start + 2000] = np.partition(S, -k, axis=1)[:, -k:].mean(axis=1)
        return hub

    def rows(self, keys: Sequence[str]) -> np.ndarray:
        return np.array([self.row[k] for k in keys if k in self.row], dtype=np.int64)


class Batch:
    """New papers to score for many people: their rows, with the calibration papers after them,
    transposed once, so that each person costs one small product (library × batch) per space."""

    def __init__(self, space: Space, candidates: Sequence[str]) -> None:
        self.space = space
        self.keys = list(dict.fromkeys(c for c in candidates if c in space.row))
        self.rows = space.rows(self.keys)
        self.targets = np.concatenate([self.rows, space.calibration])
        self.Wt = space.W[self.targets].T.tocsr()
        self.Ct = space.C[self.targets].T.tocsr()


def recommend(batch: Batch, person: Person, *, limit: int = 100,
              candidate_authors: dict[str, list[str]] | None = None, reasons: bool = True) -> list[Pick]:
    """The best ``limit`` papers of the batch for ``person``, best first (none without a library)."""
    space = batch.space
    lib = space.rows(person.library)
    if not len(batch.rows) or not len(lib):
        return []
    scores, close = _scores(batch, person, lib)
    total = scores[:len(batch.rows)]
    hidden = [i for i, key in enumerate(batch.keys) if key in person.hidden]
    total[hidden] = -np.inf
    followed = _followed(person, batch.keys, candidate_authors or {})
    for i in followed:
        total[i] += FOLLOWED_BONUS
    order = [i for i in np.argsort(-total, kind="stable")[:limit] if np.isfinite(total[i])]
    picks = [Pick(batch.keys[i], float(total[i]), author=followed.get(int(i), "")) for i in order]
    if reasons and picks:
        _reasons(space, person, lib, batch.rows[order], close[order], picks)
    return picks


def _scores(batch: Batch, person: Person, lib: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the batch's papers, then of the calibration papers; and the word cosines of
    each to the library."""
    space, targets, nb = batch.space, batch.targets, len(batch.space.calibration)
    Sw = (space.W[lib] @ batch.Wt).toarray().T
    Hw = Sw - WORD_HUB * (space.hub_w[targets][:, None] + space.hub_w[lib][None, :])
    word = 0.5 * Hw.max(axis=1) + 0.5 * _top_mean(Hw, 3)
    Hc = (space.C[lib] @ batch.Ct).toarray().T
    Hc -= CHAR_HUB * (space.hub_c[targets][:, None] + space.hub_c[lib][None, :])
    total = _standard(word, nb) + _standard(Hc.mean(axis=1), nb) + 0.5 * _standard(Hc.max(axis=1), nb)
    disliked = space.rows(person.disliked)
    if len(disliked):
        Sd = (space.W[disliked] @ batch.Wt).toarray().max(axis=0)
        total -= DISLIKE_WEIGHT * _standard(Sd, nb)
        if len(disliked) >= MIN_DISLIKES:
            total += CLASSIFIER_WEIGHT * _standard(_classifier(space, lib, disliked, targets), nb)
    return total, Sw


def _classifier(space: Space, lib: np.ndarray, disliked: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """A linear model of the person: library against 👎 and sampled background papers."""
    from scipy.sparse import vstack
    from sklearn.linear_model import LogisticRegression

    sample = space.calibration[:200]
    X = vstack([space.W[lib], space.W[disliked], space.W[sample]])
    y = np.r_[np.ones(len(lib)), np.zeros(len(disliked) + len(sample))]
    weights = np.r_[np.ones(len(lib)), np.full(len(disliked), 3.0), np.ones(len(sample))]
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=500)
    model.fit(X, y, sample_weight=weights)
    return model.decision_function(space.W[targets])


def _top_mean(S: np.ndarray, k: int) -> np.ndarray:
    k = min(k, S.shape[1])
    return np.partition(S, -k, axis=1)[:, -k:].mean(axis=1)


def _standard(values: np.ndarray, n_background: int) -> np.ndarray:
    """``values`` in standard deviations of its background part (the last ``n_background``)."""
    ref = values[len(values) - n_background:] if n_background >= 20 else values
    return (values - ref.mean()) / (ref.std() + 1e-9)


def _followed(person: Person, cand_keys: list[str], authors: dict[str, list[str]]) -> dict[int, str]:
    wanted = {a.casefold(): a for a in person.authors}
    found = {}
    if wanted:
        for i, key in enumerate(cand_keys):
            name = next((a for a in authors.get(key, []) if a.casefold() in wanted), "")
            if name:
                found[i] = name
    return found


def _reasons(space: Space, person: Person, lib: np.ndarray, cands: np.ndarray, cosines: np.ndarray,
             picks: list[Pick]) -> None:
    """For each pick: the saved papers closest to it, and the key terms it shares with the library
    (the largest products of its tf-idf weights and the library's mean ones: one sparse product for all)."""
    library = [k for k in person.library if k in space.row]
    shared = space.W[cands].multiply(np.asarray(space.W[lib].mean(axis=0))).tocsr()
    for n, pick in enumerate(picks):
        best = np.argsort(-cosines[n])[:MAX_REASON_PAPERS]
        pick.close_to = [library[j] for j in best if cosines[n, j] > 0]
        start, end = shared.indptr[n], shared.indptr[n + 1]
        terms: list[str] = []
        for j in shared.indices[start:end][np.argsort(-shared.data[start:end])]:
            term = str(space.vocabulary[j])
            if not any(term in t or t in term for t in terms):
                terms.append(term)
                if len(terms) == MAX_REASON_TERMS:
                    break
        pick.terms = terms
