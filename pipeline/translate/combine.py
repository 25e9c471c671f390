"""Per-sentence system combination across Apertium routes from French to English.

The routes (through Spanish; Catalan then Spanish; Catalan; Esperanto) fail
on different sentences: an oracle picking the best of the four per sentence
would reach chrF 50.2 on newstest2013 lines 1-1500, where the best route
alone scores 47.7. Without a reference, each candidate is scored by

- consensus: its mean sentence chrF against the other candidates (minimum
  Bayes risk: what the pivots agree on is more often right), plus
- fluency: `FLUENCY_WEIGHT` x the mean Zipf frequency in English (wordfreq,
  capped at 7) of its words: words left in French or Spanish ("escouade",
  "ressortissants") and rare calques score low, minus
- `ALTERNATIVE_PENALTY` for any candidate but the first route's (the best
  one on average), so a near tie keeps it.

The weights were chosen on newstest2013 lines 1-1500 (README, "Measuring
quality"); lines 1501-3000 and Tatoeba were only measured.
"""

from __future__ import annotations

import re
from typing import Sequence

FLUENCY_WEIGHT = 10.0
_WORD = re.compile(r"[A-Za-z']+")


def fluency(text: str) -> float:
    """Mean Zipf frequency of the text's words in English (0 for a word wordfreq does not know)."""
    from wordfreq import zipf_frequency

    words = _WORD.findall(text)
    return sum(min(zipf_frequency(w, "en"), 7.0) for w in words) / len(words) if words else 0.0


def choose(candidates: Sequence[str]) -> int:
    """Index of the candidate to keep (candidates[0] is the first route's)."""
    from sacrebleu.metrics import CHRF

    if len(candidates) < 2 or len(set(candidates)) == 1:
        return 0
    chrf = CHRF()
    scores = []
    for i, cand in enumerate(candidates):
        others = [o for j, o in enumerate(candidates) if j != i]
        consensus = sum(chrf.sentence_score(cand, [o]).score for o in others) / len(others)
        scores.append(consensus + FLUENCY_WEIGHT * fluency(cand))
    return max(range(len(candidates)), key=lambda i: (scores[i], -i))


def combine(outputs: Sequence[Sequence[str]]) -> list[str]:
    """outputs[k][i]: route k's English for text i; per text, the chosen route's."""
    return [column[choose(column)] for column in zip(*outputs)]
