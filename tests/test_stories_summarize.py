import re

from pipeline.config import StoriesSettings, SummarizeSettings
from pipeline.corpus_index import CorpusIndex
from pipeline.dedup import dedup
from pipeline.stories import group_stories
from pipeline.summarize.extractive import is_context_dependent, summarize_story


def test_sample_is_one_story_without_duplicate_paragraphs(sample, settings):
    result = dedup(sample.documents, settings.dedup)
    stories = group_stories(sample.documents, result, settings.stories)
    assert len(stories) == 1
    assert len(stories[0].doc_ids) == 5
    assert len(set(stories[0].paragraph_ids)) == len(stories[0].paragraph_ids)


def test_unrelated_document_is_its_own_story(sample, settings, tmp_path):
    from pipeline.ingest import ingest

    (tmp_path / "meteo.txt").write_text(
        "Un épisode de canicule touche le sud de la France cette semaine, avec des températures "
        "dépassant quarante degrés à Marseille et à Nîmes.\n\nLes agriculteurs de la Drôme craignent "
        "pour leurs récoltes de pêches et d'abricots, déjà touchées par la sécheresse du printemps.\n"
    )
    docs = sample.documents + ingest(tmp_path, settings.ingest).documents
    stories = group_stories(docs, dedup(docs, settings.dedup), StoriesSettings())
    assert sorted(len(s.doc_ids) for s in stories) == [1, 5]


def _summary(sample, settings, **overrides):
    result = dedup(sample.documents, settings.dedup)
    story = group_stories(sample.documents, result, settings.stories)[0]
    cfg = SummarizeSettings(**{**settings.summarize.model_dump(), **overrides})
    return summarize_story(story, CorpusIndex.build(sample.documents), result, cfg)


def test_summary_respects_length_and_cites_sources(sample, settings):
    summary = _summary(sample, settings, sentences=3, max_words=120)
    assert 1 <= len(summary.sentences) <= 3
    assert sum(len(re.findall(r"\w+", s.text_fr)) for s in summary.sentences) <= 120
    for s in summary.sentences:
        # the first citation is the sentence itself
        assert s.citations[0].text == s.text_fr
        assert s.support == 1.0 and not s.flagged


def test_summary_sentences_are_not_redundant_and_multi_source(sample, settings):
    summary = _summary(sample, settings)
    cited = [c.sid for s in summary.sentences for c in s.citations]
    assert len(cited) == len(set(cited)), "a source sentence is cited by two summary sentences"
    assert any(len({c.doc_id for c in s.citations}) >= 2 for s in summary.sentences)


def test_context_dependent_openings():
    assert is_context_dependent("Elle indique qu'elle pourrait inviter d'autres investisseurs.")
    assert is_context_dependent("« Et celle-ci pourrait bien venir de Microsoft.")
    assert not is_context_dependent("Microsoft pourrait inviter d'autres investisseurs américains.")
    assert not is_context_dependent("Cette semaine".replace("Cette", "Microsoft"))


def test_context_dependent_ignores_dates_and_impersonal_il():
    assert not is_context_dependent("Ce mardi 17 mars, Agnès Buzyn se confie au Monde sur l'épidémie.")
    assert not is_context_dependent("Il faudra une enquête pour éclaircir les faits de dimanche.")
    assert is_context_dependent("Cette figure de la Résistance est décédée dimanche.")
    assert is_context_dependent("Il a déclaré que la décision était prise.")


def test_single_article_summary_prefers_the_news_over_the_hook_and_the_quote(settings):
    from pipeline.evaluate import SummaryItem, article_document, summarize_document
    from pipeline.ingest import LanguageIdentifier

    article = (
        "Sur les réseaux sociaux, les images sont impressionnantes. "
        "Dimanche matin à Venise, l'équipage du paquebot MSC Opéra a perdu le contrôle du navire, "
        "qui a percuté le quai du port de San Basilio et blessé quatre personnes. "
        "\"Nous avons eu très peur, tout le monde courait\", raconte une touriste. "
        "Les vidéos montrent des touristes qui courent."
    )
    one = settings.model_copy(update={"summarize": SummarizeSettings(sentences=1, max_words=35)})
    doc = article_document(SummaryItem("venise", article, ""), one, LanguageIdentifier(settings.ingest.languages))
    summary = summarize_document(doc, one)
    assert len(summary.sentences) == 1
    assert summary.sentences[0].text_fr.startswith("Dimanche matin à Venise")
    assert summary.sentences[0].citations[0].doc_id == "venise"
