"""int8-vs-fp32 agreement figures for text variants, and the shipped sentence pairs."""
from __future__ import annotations

import zlib

import numpy as np
import pytest
from scipy.stats import spearmanr

from faasml.models.agreement import (PAIR_KINDS, SentencePair, agreement, load_pairs,
                                     paraphrase_retrieval, ranks, spearman)


def test_ranks_average_ties():
    assert ranks(np.array([10.0, 30.0, 20.0, 20.0])).tolist() == [1.0, 4.0, 2.5, 2.5]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spearman_matches_scipy_including_ties(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 6, 40).astype(float)  # many ties
    b = a + rng.normal(0, 2, 40)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)


def test_spearman_extremes():
    a = np.arange(10.0)
    assert spearman(a, a ** 3) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)


def _unit(*values):
    vector = np.array(values, dtype=float)
    return vector / np.linalg.norm(vector)


def test_paraphrase_retrieval_counts_nearest_second_sentences():
    pairs = [SentencePair("paraphrase", "a", "a2"), SentencePair("paraphrase", "b", "b2"),
             SentencePair("unrelated", "a", "z")]
    vectors = {"a": _unit(1, 0, 0), "a2": _unit(1, 0.1, 0), "b": _unit(0, 1, 0),
               "b2": _unit(0, 0, 1), "z": _unit(0.1, 1, 0)}  # b's nearest is z, not b2
    assert paraphrase_retrieval(vectors, pairs) == 0.5


def test_agreement_of_identical_models_is_perfect_and_noise_lowers_it():
    pairs = load_pairs()
    sentences = sorted({s for p in pairs for s in (p.first, p.second)})
    table = {s: np.random.default_rng(zlib.crc32(s.encode())).standard_normal(16) for s in sentences}

    def reference(texts):
        vectors = np.stack([table[t] for t in texts])
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    same = agreement(reference, reference, pairs)
    assert same["cosine_mean"] == pytest.approx(1.0) and same["cosine_min"] == pytest.approx(1.0)
    assert same["spearman_pair_similarity"] == pytest.approx(1.0)
    assert same["pairs"] == len(pairs) and same["sentences"] == len(sentences)

    def noisy(texts):
        vectors = reference(texts) + np.random.default_rng(7).normal(0, 0.3, (len(texts), 16))
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    worse = agreement(reference, noisy, pairs)
    assert worse["cosine_mean"] < 0.99 and worse["spearman_pair_similarity"] < 0.99


def test_shipped_pairs_are_well_formed():
    pairs = load_pairs()
    assert 40 <= len(pairs) <= 60
    kinds = {p.kind for p in pairs}
    assert kinds == set(PAIR_KINDS)
    paraphrases = [p for p in pairs if p.kind == "paraphrase"]
    assert len({p.first for p in paraphrases}) == len(paraphrases)  # each query once
    assert all(p.first != p.second for p in pairs)


def test_malformed_pairs_file_is_rejected(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("# header\nparaphrase\tonly one sentence\n", encoding="utf-8")
    with pytest.raises(ValueError, match="pairs.tsv:2"):
        load_pairs(path)
    path.write_text("similar\ta\tb\n", encoding="utf-8")
    with pytest.raises(ValueError):
        load_pairs(path)
