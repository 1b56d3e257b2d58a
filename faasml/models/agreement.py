"""How closely an int8 text variant agrees with its fp32 original, on sentence pairs we ship.

There is no labelled benchmark at build time, so the int8 model is judged against fp32:
per-sentence cosine similarity of the two embeddings, Spearman rank agreement of the
pair similarities (does int8 order pairs as fp32 does?), and paraphrase retrieval by
each (is a sentence's paraphrase its nearest neighbour among all second sentences?).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from faasml.models.accuracy import DATA_DIR

PAIRS_FILE = DATA_DIR / "sentence_pairs.tsv"
PAIR_KINDS = ("paraphrase", "related", "unrelated")
Embed = Callable[[list[str]], np.ndarray]  # texts -> (n, dim), L2-normalized


@dataclass(frozen=True)
class SentencePair:
    kind: str
    first: str
    second: str


def load_pairs(path: Path = PAIRS_FILE) -> list[SentencePair]:
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 3 or fields[0] not in PAIR_KINDS:
            raise ValueError(f"{path}:{number}: expected kind<TAB>sentence<TAB>sentence, "
                             f"kind one of {PAIR_KINDS}")
        pairs.append(SentencePair(*fields))
    return pairs


def ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (as Spearman's rho requires)."""
    order = np.argsort(values, kind="stable")
    ranked = np.empty(len(values), dtype=np.float64)
    ranked[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranked[tied] = ranked[tied].mean()
    return ranked


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = ranks(np.asarray(a)), ranks(np.asarray(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator else float("nan")


def paraphrase_retrieval(vectors: dict[str, np.ndarray], pairs: list[SentencePair]) -> float:
    """Share of paraphrase pairs whose second sentence is the first's nearest candidate.

    Candidates are the distinct second sentences of all pairs (paraphrases and distractors).
    """
    candidates = sorted({p.second for p in pairs})
    matrix = np.stack([vectors[c] for c in candidates])
    queries = [p for p in pairs if p.kind == "paraphrase"]
    hits = sum(candidates[int(np.argmax(matrix @ vectors[p.first]))] == p.second for p in queries)
    return hits / len(queries)


def _embed_all(embed: Embed, sentences: list[str]) -> dict[str, np.ndarray]:
    return dict(zip(sentences, embed(sentences)))


def agreement(reference: Embed, candidate: Embed, pairs: list[SentencePair]) -> dict[str, Any]:
    """Agreement figures of `candidate` (int8) with `reference` (fp32) on `pairs`."""
    sentences = sorted({s for p in pairs for s in (p.first, p.second)})
    ref, cand = _embed_all(reference, sentences), _embed_all(candidate, sentences)
    cosines = np.array([float(ref[s] @ cand[s]) for s in sentences])
    ref_sims = np.array([float(ref[p.first] @ ref[p.second]) for p in pairs])
    cand_sims = np.array([float(cand[p.first] @ cand[p.second]) for p in pairs])
    return {
        "pairs": len(pairs),
        "sentences": len(sentences),
        "cosine_mean": round(float(cosines.mean()), 5),
        "cosine_min": round(float(cosines.min()), 5),
        "spearman_pair_similarity": round(spearman(ref_sims, cand_sims), 5),
        "paraphrase_retrieval_reference": round(paraphrase_retrieval(ref, pairs), 4),
        "paraphrase_retrieval_candidate": round(paraphrase_retrieval(cand, pairs), 4),
        "max_abs_pair_similarity_change": round(float(np.abs(ref_sims - cand_sims).max()), 5),
    }
