"""`scripts/bench_scale.py --permuted-bases`: more base articles than the data has, each a distinct story made of
a real article's sentences with its content words permuted, so large corpora keep 10 copies a story."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pipeline.textsim import ContentWords

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from bench_scale import Base, permuted_bases, plan  # noqa: E402

_BASES = [
    Base("1", "Le maire de Lyon annonce un plan pour les transports",
         ("Le maire de Lyon a présenté lundi un plan de 300 millions d'euros pour les transports.",
          "Les travaux commenceront en 2024 selon la métropole.",
          "Les habitants sont invités à donner leur avis sur le projet.")),
    Base("2", "Tempête sur la Bretagne : des milliers de foyers privés d'électricité",
         ("La tempête a privé 12.000 foyers d'électricité en Bretagne dans la nuit de dimanche.",
          "Enedis a mobilisé ses équipes pour rétablir le courant.",
          "Les vents ont atteint 140 km/h sur la pointe du Finistère.")),
]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def test_permuted_bases_add_generations_of_distinct_stories() -> None:
    stop = ContentWords().stop_words
    bases = permuted_bases(_BASES, 5, seed=1)
    assert len(bases) == 6  # two originals, then two generations of both
    assert bases[:2] == _BASES
    assert [b.id for b in bases] == ["1", "2", "1p1", "2p1", "1p2", "2p2"]
    for copy in bases[2:]:
        original = _BASES[int(copy.id.split("p")[0]) - 1]
        for before, after in zip((original.title, *original.sentences), (copy.title, *copy.sentences), strict=True):
            old, new = _words(before), _words(after)
            assert len(old) == len(new)
            for a, b in zip(old, new):
                if a.lower() in stop or any(c.isdigit() for c in a) or len(a) <= 2:
                    assert a == b  # stop words, numbers and short words stay
                assert a[0].isupper() == b[0].isupper()  # so does the case of a word's first letter
        changed = [a != b for a, b in zip(_words(" ".join(original.sentences)), _words(" ".join(copy.sentences)))]
        assert sum(changed) >= len(changed) // 3  # another story's words
    assert bases[2] != bases[4]  # each generation its own permutation
    assert permuted_bases(_BASES, 5, seed=1) == bases  # deterministic
    assert permuted_bases(_BASES, 5, seed=2) != bases


def test_permuted_bases_only_when_needed_and_plan_uses_them() -> None:
    assert permuted_bases(_BASES, 2, seed=1) is _BASES
    bases = permuted_bases(_BASES, 4, seed=1)
    # 40 articles, 10 variants a base: 4 stories of 10 copies, not 2 of 20
    assert sorted({b for b, _ in plan(40, len(bases), 10)}) == [0, 1, 2, 3]
    assert max(n for _, n in plan(40, len(bases), 10)) == 9
