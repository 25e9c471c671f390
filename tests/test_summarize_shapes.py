"""Never an empty summary for an article with text, whatever its shape (issue 15, item 3).

Each article goes through the brief's code path (ingest_text, dedup, stories, summarize_story)
with the OrangeSum evaluation settings: one sentence of at most 35 words.
"""

import re
from functools import lru_cache

import pytest

from pipeline.config import Settings, SummarizeSettings
from pipeline.evaluate import SummaryItem, article_document, summarize_document
from pipeline.ingest import LanguageIdentifier
from pipeline.summarize.extractive import cut_headline, shorten, split_bullets

ONE_SENTENCE = Settings(summarize=SummarizeSettings(sentences=1, max_words=35))


def _words(text: str) -> int:
    return len(re.findall(r"\w+", text))


@lru_cache(maxsize=1)
def _langid() -> LanguageIdentifier:
    return LanguageIdentifier(Settings().ingest.languages)


def _summary(article: str, settings: Settings = ONE_SENTENCE):
    doc = article_document(SummaryItem("x", article, ""), settings, _langid())
    return summarize_document(doc, settings)


def _source_of(summary) -> str:
    return summary.sentences[0].citations[0].text


LONG_ITEM = ("le gouvernement promet une hausse des salaires des soignants de l'hôpital public, versée dès "
             "la fin de l'année, avec une prime exceptionnelle pour ceux qui ont travaillé pendant la crise "
             "sanitaire et une revalorisation des gardes de nuit")


def test_bullets_joined_into_one_sentence_are_split():
    article = "\n".join([
        "Les annonces du Ségur de la santé :",
        f"• Salaires : {LONG_ITEM}",
        "• Lits : trois mille lits seront rouverts dans les hôpitaux qui en ont fermé faute de personnel",
        "• Investissements : six milliards d'euros iront aux hôpitaux et aux Ehpad sur cinq ans",
    ])
    summary = _summary(article)
    assert len(summary.sentences) == 1
    text = summary.sentences[0].text_fr
    assert 6 <= _words(text) <= 35
    assert "•" not in text
    assert text.rstrip("…") in _source_of(summary)


def test_one_line_article_without_punctuation():
    # a single short line reads as a heading: it is the summary all the same
    summary = _summary("Grève des contrôleurs aériens ce jeudi")
    assert [s.text_fr for s in summary.sentences] == ["Grève des contrôleurs aériens ce jeudi"]


def test_one_line_paragraphs_shorter_than_the_minimum():
    summary = _summary("Incendie à Lyon.\n\nDeux blessés légers.\n\nLa rue est fermée.")
    assert len(summary.sentences) == 1 and summary.sentences[0].text_fr


def test_sentence_over_the_cap_is_shortened_at_a_clause_boundary():
    sentence = ("Le président de la République a annoncé mardi soir, lors d'une allocution télévisée suivie par "
                "vingt millions de personnes, que les écoles rouvriraient le 11 mai, que les bars et les "
                "restaurants resteraient fermés jusqu'à l'été et que les grands festivals seraient annulés, "
                "tandis que les frontières de l'espace Schengen resteraient fermées jusqu'à nouvel ordre.")
    assert _words(sentence) > 35
    summary = _summary(sentence)
    text = summary.sentences[0].text_fr
    assert text.endswith("…") and _words(text) <= 35
    kept = text[:-1]
    assert sentence.startswith(kept)
    # the cut falls at a clause boundary: before a comma, or before "que" / "et" / "tandis que"
    rest = sentence[len(kept):]
    assert re.match(r"(,|\s+(et|que|tandis que)\b)", rest), rest[:20]
    assert _source_of(summary) == sentence


def test_title_line_glued_to_one_paragraph_is_cut_off():
    article = ("Ingrid Betancourt est libre\n"
               "L'armée colombienne a libéré le 2 juillet Ingrid Betancourt et quatorze autres otages détenus "
               "par la guérilla des Farc, lors d'une opération d'infiltration.\n"
               "Cette libération est survenue après de multiples rebondissements.\n")
    summary = _summary(article)
    assert summary.sentences[0].text_fr.startswith("L'armée colombienne a libéré le 2 juillet")
    assert _source_of(summary).startswith("Ingrid Betancourt est libre L'armée")


def test_budget_smaller_than_every_sentence_still_gives_a_summary():
    settings = Settings(summarize=SummarizeSettings(sentences=1, max_words=10))
    summary = _summary("Le conseil municipal de Lyon a voté lundi soir un nouveau plan de circulation "
                       "pour tout le centre-ville, après des mois de concertation.", settings)
    assert len(summary.sentences) == 1 and _words(summary.sentences[0].text_fr) <= 10


@pytest.mark.parametrize("text, expected", [
    ("Ingrid Betancourt est libre L'armée colombienne a libéré les otages.",
     ("Ingrid Betancourt est libre", "L'armée colombienne a libéré les otages.")),
    ("Le ministre a parlé à Le Monde hier soir.", ("", "Le ministre a parlé à Le Monde hier soir.")),
    ("Betancourt retrouve ses enfants BOGOTA (Reuters) - L'ex-otage a retrouvé ses enfants jeudi.",
     ("Betancourt retrouve ses enfants", "L'ex-otage a retrouvé ses enfants jeudi.")),
])
def test_cut_headline(text, expected):
    assert cut_headline(text) == expected


def test_split_bullets_and_shorten():
    assert split_bullets("Au menu : - pommes de terre - poires au vin") == ["Au menu :", "pommes de terre",
                                                                              "poires au vin"]
    assert split_bullets("► Cécile Duflot et sa robe à fleurs") == ["Cécile Duflot et sa robe à fleurs"]
    assert shorten("Un deux trois.", 10) == "Un deux trois."
    # never inside a quotation: the cut falls before it
    assert shorten('Le ministre a dit, en riant, que "la Belgique, c\'est plus qu\'un voisin, un ami" hier soir.', 14) \
        == "Le ministre a dit, en riant…"
    assert shorten("un deux trois quatre cinq six sept huit neuf dix onze douze", 5) == "un deux trois quatre cinq…"


def test_a_headline_reads_each_paragraph_stemmed_as_a_whole_whatever_lies_between_its_sentences():
    """The story's body is stemmed sentence by sentence (each distinct sentence once) where only white space
    lies between them, else as the paragraph's text: the same stems either way."""
    from pipeline.brief import _stems_of
    from pipeline.model import Paragraph, Sentence
    from pipeline.textsim import ContentWords

    def paragraph(text: str, *pieces: tuple[int, int]) -> Paragraph:
        sentences = tuple(Sentence.span(f"d:p1.s{k}", "d:p1", text, a, b, 1, 1, a, b)
                          for k, (a, b) in enumerate(pieces))
        return Paragraph("d:p1", "d", 1, text, 1, 1, "fr", "body", sentences)

    words, stemmed = ContentWords(), {}
    tiled = paragraph("Le maire a parlé.  Les habitants écoutent.", (0, 17), (19, 42))
    cases = [
        tiled,
        paragraph("Le maire a parlé.Les habitants écoutent.", (0, 17), (17, 40)),  # no space between them
        paragraph("Le maire a parlé. Les habitants écoutent.", (0, 9), (18, 41)),  # words outside any sentence
        paragraph("Le maire a parlé", (0, 7)),
        paragraph("Le maire a parlé"),
    ]
    for p in cases:
        assert _stems_of(p, words, stemmed) == words.stems(p.text)
    assert set(stemmed) == {"Le maire a parlé.", "Les habitants écoutent."}  # the first paragraph's sentences only
