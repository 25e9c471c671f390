"""Stories on a corpus with several unrelated subjects, and documents that mix two.

The mixed corpus is the sample corpus (five articles on Microsoft and TikTok)
plus French news texts written for these tests: a heatwave (two articles), a
football transfer, a local election, and a regional press review that is
mostly about the heatwave but has one paragraph on the football transfer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.brief import build_brief
from pipeline.config import StoriesSettings
from pipeline.corpus_index import CorpusIndex
from pipeline.dedup import dedup
from pipeline.ingest import ingest
from pipeline.stories import document_cosine, group_stories
from pipeline.summarize.extractive import summarize_story

from conftest import CORPUS

MIXED_TEXTS = {
    "canicule_gard.txt": """\
Canicule : le Gard et les Bouches-du-Rhône placés en vigilance rouge

Météo-France a placé mardi le Gard et les Bouches-du-Rhône en vigilance rouge canicule, le niveau d'alerte le plus élevé, alors que les températures devraient dépasser 42 degrés à Nîmes et à Marseille d'ici jeudi.

« Nous demandons à chacun de limiter ses déplacements aux heures les plus chaudes et de prendre des nouvelles des personnes âgées isolées », a déclaré Claire Dumont, préfète du Gard, lors d'un point presse à Nîmes.

Les écoles fermeront leurs portes jeudi et vendredi dans les deux départements, et les rassemblements de plus de mille personnes sont reportés jusqu'à la fin de l'épisode de chaleur.

Les hôpitaux de Nîmes et de Marseille ont déclenché leur plan blanc pour faire face à l'afflux de patients souffrant de déshydratation et de coups de chaleur.
""",
    "canicule_agriculteurs.txt": """\
Vague de chaleur : les agriculteurs du Sud redoutent une récolte perdue

Alors que la vigilance rouge canicule a été déclenchée dans le Gard et les Bouches-du-Rhône, les agriculteurs de la région s'inquiètent pour leurs vergers et leurs vignes, déjà fragilisés par la sécheresse du printemps.

Dans la Drôme et le Vaucluse, les producteurs de pêches et d'abricots récoltent de nuit pour éviter que les fruits ne brûlent sur les arbres sous des températures supérieures à 40 degrés.

« Si la chaleur dure encore une semaine, nous perdrons la moitié de la récolte », explique Marc Vidal, arboriculteur à Cavaillon, qui a installé des filets d'ombrage sur une partie de ses parcelles.

Les préfectures ont pris des arrêtés de restriction d'eau : l'irrigation des cultures est interdite entre 11 heures et 18 heures, et le remplissage des piscines privées est suspendu jusqu'à nouvel ordre.
""",
    "transfert_om.txt": """\
Mercato : l'Olympique de Marseille s'offre l'attaquant brésilien Rafael Souza

L'Olympique de Marseille a officialisé lundi le transfert de l'attaquant brésilien Rafael Souza, en provenance du Sporting Portugal, pour un montant estimé à 28 millions d'euros, bonus compris.

Âgé de 23 ans, Rafael Souza a signé un contrat de cinq ans avec le club phocéen, qui cherchait depuis le début de l'été un avant-centre capable de remplacer son meilleur buteur, parti en Angleterre.

« Rafael est un joueur rapide, généreux dans l'effort, qui correspond exactement à ce que nous voulons mettre en place cette saison », a déclaré l'entraîneur marseillais Julien Garnier en conférence de presse.

Le Brésilien, auteur de 19 buts la saison dernière en championnat portugais, pourrait disputer son premier match sous le maillot olympien dès dimanche au stade Vélodrome face au Stade rennais.
""",
    "municipale_partielle.txt": """\
Élection municipale partielle à Villeneuve-sur-Lot : Sophie Martin l'emporte au second tour

La candidate divers gauche Sophie Martin a remporté dimanche le second tour de l'élection municipale partielle de Villeneuve-sur-Lot avec 54,3 % des suffrages exprimés, face au maire sortant Bernard Lefèvre.

La participation s'est établie à 46 %, en hausse de six points par rapport au premier tour, une mobilisation inhabituelle pour un scrutin partiel organisé après la démission de la moitié du conseil municipal.

« Les habitants ont choisi le changement et la transparence, et je serai la maire de tous les Villeneuvois », a déclaré Sophie Martin devant ses soutiens réunis à la salle des fêtes.

Le nouveau conseil municipal se réunira samedi pour élire formellement la maire et ses adjoints, et voter en priorité le budget de la rénovation du centre-ville.
""",
    "revue_regionale.txt": """\
La revue de presse régionale du mercredi

Dans le Gard, la vigilance rouge canicule est maintenue jusqu'à vendredi : la préfecture a confirmé la fermeture des écoles jeudi et vendredi, et les températures ont atteint 41 degrés mardi après-midi à Nîmes.

À Marseille, les hôpitaux ont déclenché leur plan blanc face à l'afflux de patients victimes de coups de chaleur, et la mairie a ouvert des salles rafraîchies pour les personnes âgées isolées pendant la canicule.

Les agriculteurs de la Drôme et du Vaucluse récoltent désormais leurs pêches et leurs abricots de nuit, les fruits brûlant sur les arbres sous la chaleur de l'après-midi.

Côté football, l'Olympique de Marseille a présenté mardi sa recrue brésilienne Rafael Souza, arrivée du Sporting Portugal pour 28 millions d'euros.
""",
}

# Mostly about the TikTok story, with one paragraph that nearly repeats the
# heatwave article: by document similarity alone it is closest to the heatwave.
BREVES = """\
Les brèves du lundi

Météo-France a placé le Gard et les Bouches-du-Rhône en vigilance rouge canicule, avec des températures qui devraient dépasser 42 degrés à Nîmes et à Marseille d'ici jeudi.

Microsoft a confirmé dimanche poursuivre les discussions avec ByteDance pour racheter les activités américaines de TikTok, après une conversation entre Satya Nadella et Donald Trump.

Le géant du logiciel veut acquérir le service TikTok aux États-Unis, au Canada, en Australie et en Nouvelle-Zélande, et espère conclure un accord d'ici le 15 septembre.

Microsoft promet que les données privées des utilisateurs américains de TikTok seront transférées et conservées aux États-Unis, sous le contrôle du gouvernement américain.
"""

TIKTOK = {"000_d4928d0422af127b", "001_71b03b7a4a2965fd", "002_7a8ce329a5818a70", "003_45cfad634d6a36e7",
          "004_0f845232afc981bf"}
HEATWAVE = {"canicule_gard", "canicule_agriculteurs", "revue_regionale"}


def write_mixed_corpus(folder: Path, extra: dict[str, str] | None = None, omit: tuple[str, ...] = ()) -> Path:
    """The sample corpus plus the test texts (with `extra`, without `omit`), in `folder` (returned)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in CORPUS.iterdir():
        shutil.copy(f, folder / f.name)
    for name, text in {**MIXED_TEXTS, **(extra or {})}.items():
        if name not in omit:
            (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, settings):
    docs = ingest(write_mixed_corpus(tmp_path_factory.mktemp("mixed") / "corpus"), settings.ingest).documents
    result = dedup(docs, settings.dedup)
    return docs, result, group_stories(docs, result, settings.stories)


def _story_of(stories, doc_id):
    return next(s for s in stories if doc_id in s.doc_ids)


def test_one_story_per_subject(mixed):
    _docs, _result, stories = mixed
    assert sorted(map(sorted, (s.doc_ids for s in stories))) == sorted(
        map(sorted, [TIKTOK, HEATWAVE, {"transfert_om"}, {"municipale_partielle"}])
    )
    assert stories[0].story_id == "story-001" and set(stories[0].doc_ids) == TIKTOK  # largest first


def test_every_document_in_exactly_one_story(mixed):
    docs, _result, stories = mixed
    placed = [d for s in stories for d in s.doc_ids]
    assert sorted(placed) == sorted(d.doc_id for d in docs)
    assert all(s.paragraph_ids for s in stories)


def test_mixed_document_does_not_chain_two_stories(mixed, settings):
    docs, _result, stories = mixed
    # the press review is similar enough to the transfer article that single link would merge them
    assert document_cosine(docs, settings.stories, "revue_regionale", "transfert_om") >= settings.stories.link_threshold
    assert _story_of(stories, "revue_regionale") is not _story_of(stories, "transfert_om")


def test_mixed_document_goes_where_most_of_its_paragraphs_go(mixed):
    _docs, _result, stories = mixed
    heat = _story_of(stories, "revue_regionale")
    assert set(heat.doc_ids) == HEATWAVE
    # its football paragraph is left out of the heatwave story, the others are kept
    assert heat.off_topic_paragraph_ids == ("revue_regionale:p5",)
    assert "revue_regionale:p5" not in heat.paragraph_ids
    assert {"revue_regionale:p2", "revue_regionale:p3"} <= set(heat.paragraph_ids)
    for s in stories:
        if s is not heat:
            assert not s.off_topic_paragraph_ids


def test_weakly_attached_document_is_listed_as_related(mixed):
    _docs, _result, stories = mixed
    football = _story_of(stories, "transfert_om")
    related = {r.doc_id: r for r in football.related}
    assert "revue_regionale" in related
    assert related["revue_regionale"].story_id == _story_of(stories, "revue_regionale").story_id
    assert "cosine" in related["revue_regionale"].reason


def test_document_moves_to_the_story_most_of_its_paragraphs_are_about(tmp_path, settings):
    corpus = write_mixed_corpus(tmp_path / "c", {"breves.txt": BREVES}, omit=("revue_regionale.txt",))
    docs = ingest(corpus, settings.ingest).documents
    # as a whole, the briefs are closer to the heatwave article than to any TikTok article ...
    heat = document_cosine(docs, settings.stories, "breves", "canicule_gard")
    assert all(document_cosine(docs, settings.stories, "breves", t) < heat for t in TIKTOK)
    # ... but three of its four paragraphs are about TikTok: it joins that story
    stories = group_stories(docs, dedup(docs, settings.dedup), settings.stories)
    tiktok = _story_of(stories, "breves")
    assert set(tiktok.doc_ids) == TIKTOK | {"breves"}
    assert tiktok.off_topic_paragraph_ids == ("breves:p2",)
    assert "canicule_gard" not in tiktok.doc_ids


def test_threshold_comes_from_the_config(mixed):
    docs, result, _stories = mixed
    alone = group_stories(docs, result, StoriesSettings(threshold=0.95, link_threshold=0.95, attach_neighbours=0,
                                                        paragraph_threshold=0.95))
    assert len(alone) == len(docs)
    together = group_stories(docs, result, StoriesSettings(threshold=0.01, link_threshold=0.01))
    assert len(together) < 4


def test_one_paragraph_article_is_never_emptied(tmp_path, settings):
    """A one-paragraph article that repeats another story's facts keeps its paragraph, in its own story."""
    extra = {"depeche.txt": "Météo-France a placé le Gard et les Bouches-du-Rhône en vigilance rouge canicule, "
                            "et l'Olympique de Marseille a officialisé le transfert de Rafael Souza pour 28 "
                            "millions d'euros.\n"}
    docs = ingest(write_mixed_corpus(tmp_path / "c", extra), settings.ingest).documents
    stories = group_stories(docs, dedup(docs, settings.dedup), settings.stories)
    story = _story_of(stories, "depeche")
    assert "depeche:p1" in story.paragraph_ids
    assert all(s.paragraph_ids for s in stories)


def test_dated_articles_far_apart_are_two_stories(tmp_path, settings):
    """Same-topic articles outside the time window are not linked; inside it they are."""
    folder = tmp_path / "c"
    folder.mkdir()
    text = MIXED_TEXTS["canicule_gard.txt"]
    for name, day in (("a", "2024-07-01"), ("b", "2024-07-02"), ("c", "2024-07-20")):
        (folder / f"{name}.txt").write_text(f"date: {day}\n\n{text}", encoding="utf-8")
    docs = ingest(folder, settings.ingest).documents
    assert [d.date for d in docs] == ["2024-07-01", "2024-07-02", "2024-07-20"]
    stories = group_stories(docs, dedup(docs, settings.dedup), settings.stories)
    assert sorted(map(sorted, (s.doc_ids for s in stories))) == [["a", "b"], ["c"]]
    wide = StoriesSettings(window_days=30)
    assert len(group_stories(docs, dedup(docs, settings.dedup), wide)) == 1


def test_brief_of_mixed_story_leaves_the_other_subject_out(mixed, settings):
    docs, result, stories = mixed
    index = CorpusIndex.build(docs)
    heat = _story_of(stories, "revue_regionale")
    summary = summarize_story(heat, index, result, settings.summarize)
    assert summary.sentences
    cited = {c.sid.split(".")[0] for s in summary.sentences for c in s.citations}
    assert "revue_regionale:p5" not in cited
    assert not any("Souza" in s.text_fr for s in summary.sentences)
    brief = build_brief(heat, summary, "Canicule", "Heatwave", [s.text_fr for s in summary.sentences], index,
                        {"translator": "t", "summarizer": summary.engine}, [])
    assert any("revue_regionale.txt: 1 paragraph(s) are about another story" in w for w in brief.warnings)
