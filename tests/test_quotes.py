"""Key quotes: found in « » and "…", attributed from the words around them, never guessed."""

from __future__ import annotations

import random

import pytest

from pipeline.brief import attach_quotes, build_brief, quote_texts
from pipeline.corpus_index import CorpusIndex
from pipeline.ingest import ingest
from pipeline.model import Story, Summary
from pipeline import quotes
from pipeline.quotes import extract_quotes


def _story(index: CorpusIndex) -> Story:
    return Story("story-001", tuple(index.documents), ())


@pytest.fixture(scope="module")
def sample_quotes(sample):
    index = CorpusIndex.build(sample.documents)
    return {q.text_fr[:40]: q for q in extract_quotes(_story(index), index, limit=100)}


def _quote(quotes, start):
    return next(q for k, q in quotes.items() if k.casefold().startswith(start.casefold()))


def _index_of(tmp_path, settings, **texts):
    for name, text in texts.items():
        (tmp_path / f"{name}.txt").write_text(text, encoding="utf-8")
    return CorpusIndex.build(ingest(tmp_path, settings.ingest).documents)


def test_speakers_named_after_the_quote(sample_quotes):
    q = _quote(sample_quotes, "En ce qui concerne TikTok, nous l")
    assert q.speaker == "Donald Trump" and q.attribution == ", a déclaré Donald Trump"
    granick = _quote(sample_quotes, "Interdire une application")
    assert granick.speaker == "Jennifer Granick"
    assert _quote(sample_quotes, "Les discussions avec ByteDance").speaker == "Microsoft"  # ", expliquait Microsoft"


def test_speakers_named_before_the_quote(sample_quotes):
    assert _quote(sample_quotes, "Nous n'allons nulle part").speaker == "Vanessa Pappas"  # "X, la directrice..., a déclaré :"
    assert _quote(sample_quotes, "en ce qui concerne un large éventail").speaker == "Mike Pompeo"  # "M. Pompeo a déclaré"
    assert _quote(sample_quotes, "L'administration a de très sérieuses").speaker == "un porte-parole de la Maison Blanche"


def test_pronoun_takes_the_previous_speaker_or_the_last_name(sample_quotes):
    q = _quote(sample_quotes, "La fermeture d'une plateforme")  # ", a-t-elle déclaré"
    assert q.speaker == "Jennifer Granick" and "a-t-elle déclaré" in q.attribution
    assert _quote(sample_quotes, "En matière de sûreté").speaker == "Vanessa Pappas"  # ", a-t-il ajouté"
    assert _quote(sample_quotes, "Cela devient bizarre").speaker == "Alex Stamos"  # "Il a tweeté :" after "…, Alex Stamos, qui…"


def test_communique_is_attributed_to_its_publisher(sample_quotes, tmp_path, settings):
    assert _quote(sample_quotes, "Suite à une conversation").speaker == "Microsoft"
    index = _index_of(tmp_path, settings, a=(
        "Veolia a publié mardi un communiqué sur l'état des nappes phréatiques de la région.\n\n"
        "« Les réserves d'eau de la région sont au plus bas depuis vingt ans », indique le communiqué.\n"
    ), b=(
        "« Les températures resteront supérieures aux normales jusqu'à la fin du mois », indique le communiqué.\n"
    ))
    speakers = {q.citations[0].doc_id: q.speaker for q in extract_quotes(_story(index), index)}
    assert speakers == {"a": "Veolia", "b": None}  # b never says whose statement it is


def test_same_quote_in_several_sources_cites_them_all(sample_quotes):
    q = _quote(sample_quotes, "En ce qui concerne TikTok, nous l")
    assert {c.doc_id for c in q.citations} == {"002_7a8ce329a5818a70", "004_0f845232afc981bf"}
    for c in q.citations:  # each citation is a sentence that holds (a version of) the quote
        assert "En ce qui concerne TikTok" in c.text


def test_fragments_are_not_key_quotes(sample_quotes):
    assert not any(q.text_fr in ("préliminaire", "aucune garantie", "pourrait") for q in sample_quotes.values())
    assert all(len(q.text_fr.split()) >= 6 for q in sample_quotes.values())


def test_unattributed_quote_is_kept_without_a_speaker(tmp_path, settings):
    index = _index_of(tmp_path, settings, a=(
        "« Nous ne lâcherons rien face à la chaleur et à la sécheresse cette année » pouvait-on lire sur les "
        "pancartes des manifestants réunis devant la préfecture.\n\n"
        "« Nous allons tout faire pour sauver la récolte de cette année », a-t-il déclaré.\n"
    ))
    quotes = extract_quotes(_story(index), index)
    assert len(quotes) == 2
    assert all(q.speaker is None and q.attribution is None for q in quotes)


def test_honorific_resolves_to_the_full_name_in_the_document(tmp_path, settings):
    index = _index_of(tmp_path, settings, a=(
        "Le ministre Paul Durand a visité le port de Marseille lundi matin avec les élus de la région.\n\n"
        "M. Durand a déclaré aux journalistes : « Nous investirons deux cents millions d'euros dans ce port ».\n"
    ))
    (q,) = extract_quotes(_story(index), index)
    assert q.speaker == "Paul Durand"


class _Upper:
    engine = "upper"

    def translate(self, texts):
        return [t.upper() for t in texts]


def _empty_brief(index):
    story = _story(index)
    return story, build_brief(story, Summary(story.story_id, (), "x"), "h", "h", [], index,
                              {"translator": "t", "summarizer": "s"}, [])


def test_attach_quotes_translates_quotes_and_described_speakers(sample):
    index = CorpusIndex.build(sample.documents)
    story, brief = _empty_brief(index)
    quotes = extract_quotes(story, index, limit=20)
    texts = quote_texts(quotes)
    brief = attach_quotes(brief, story, index, quotes, dict(zip(texts, _Upper().translate(texts))))
    assert brief.quotes and all(q.text_en == q.text_fr.upper() for q in brief.quotes)
    spokesman = next(q for q in brief.quotes if q.speaker == "un porte-parole de la Maison Blanche")
    assert spokesman.speaker_en == "UN PORTE-PAROLE DE LA MAISON BLANCHE"
    trump = next(q for q in brief.quotes if q.speaker == "Donald Trump")
    assert trump.speaker_en == "Donald Trump"  # a name is not translated
    cited = {(c.doc_id, c.paragraph) for q in brief.quotes for c in q.citations}
    used = {(s.doc_id, p) for s in brief.sources for p in s.paragraphs_used}
    assert cited <= used


def test_translation_failure_keeps_quotes_in_french_with_a_warning(sample):
    index = CorpusIndex.build(sample.documents)
    story, brief = _empty_brief(index)
    brief = attach_quotes(brief, story, index, extract_quotes(story, index), {})  # nothing translated
    assert brief.quotes and all(q.text_en == "" for q in brief.quotes)
    assert any("could not be translated" in w for w in brief.warnings)


def _pairwise_groups(found, skip):
    """The grouping as it was before the word index: every quotation against every member of every
    earlier group, the first group that matches wins."""
    skipped = [(frozenset(w), len(w)) for w in map(quotes._words, skip)]
    groups, group_words = [], []
    for f in found:
        words = quotes._words(f.text)
        ws = frozenset(words)
        if any(quotes._same_quote(ws, t) and n >= len(words) for t, n in skipped):
            continue
        for g, gw in zip(groups, group_words):
            if any(quotes._same_quote(ws, other) for other in gw):
                g.append(f)
                gw.append(ws)
                break
        else:
            groups.append([f])
            group_words.append([ws])
    return groups


def test_quotations_group_as_the_pairwise_comparison_did_on_stories_of_many_copies():
    """Copies repeat a story's quotations, some reworded; quotations close enough to several groups
    must still join the first one (the order decides a quote's sources and its text)."""
    rng = random.Random(11)
    vocab = [f"mot{i}" for i in range(16)]
    ambiguous = 0
    for _ in range(30):
        bases = [rng.sample(vocab, rng.randint(5, 11)) for _ in range(6)]
        found = []
        for copy in range(25):
            for b in bases:
                words = list(b)
                change = rng.random()
                if change < 0.3:
                    words[rng.randrange(len(words))] = rng.choice(vocab)  # a word replaced
                elif change < 0.45:
                    del words[rng.randrange(len(words))]  # a word dropped
                elif change < 0.55:
                    words.append(rng.choice(words))  # a word repeated
                text = " ".join(words)
                found.append(quotes._Found(f"d{copy}:p0", f"d{copy}", (copy, 0), 0, len(text), text, None, None))
        skip = [" ".join(rng.sample(vocab, rng.randint(5, 12))) for _ in range(2)]
        expected = _pairwise_groups(found, skip)
        assert [[id(f) for f in g] for g in quotes._group(found, skip)] == [[id(f) for f in g] for g in expected]
        sets = [[frozenset(quotes._words(f.text)) for f in g] for g in expected]
        ambiguous += sum(1 for g in expected for f in g[1:]
                         if sum(any(quotes._same_quote(frozenset(quotes._words(f.text)), o) for o in gs)
                                for gs in sets) > 1)
    assert ambiguous > 100  # the order mattered often
