"""News-domain senses and idioms (pipeline.translate.senses), names through the pivot, and no word
of the pivot language left in the English: each through the real Apertium pairs."""

from __future__ import annotations

import re

import pytest

from pipeline.translate.apertium import ApertiumTranslator
from pipeline.translate.senses import SENSES

from conftest import apertium_missing

pytestmark = pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")


@pytest.fixture(scope="module")
def translator():
    tr = ApertiumTranslator()
    yield tr
    tr.close()


@pytest.mark.parametrize("sense", SENSES, ids=[s.example for s in SENSES])
def test_each_news_sense_is_fixed(translator, sense):
    assert sense.expect in translator.translate([sense.example])[0]


@pytest.mark.parametrize("french, names", [
    ("Les présidents Santos et Ortega assisteront à la prise de fonctions d'Enrique Peña Nieto.",
     ["Santos", "Ortega", "Enrique Peña Nieto"]),
    ("Chantal Rouleau a été l'une des premières élues de Montréal.", ["Chantal Rouleau"]),
    ("Joseph Dougherty, professeur à l'Université La Salle, enseigne à Manille.", ["Joseph Dougherty", "La Salle"]),
    ("La CASA et l'ESA ont signé avec TikTok USA.", ["CASA", "ESA", "TikTok USA"]),
    # initials, a letter, a noun before a number
    ("L'auteur A. N. Wilson a parlé avec un officiel U.S. de la Ligue 1 et des axes X et Y.",
     ["A. N. Wilson", "U.S.", "Ligue 1", "X and Y"]),
    # a name the analyser reads as a conjugated verb ("Dallas": "you tiled"), also inside a quotation
    ('Larry Hagman est mort à Dallas, où il jouait dans "Dallas".', ["to Dallas", '"Dallas"']),
    ("On a vu Mette-Marit de Norvège et le professeur Charmé.", ["Mette-Marit", "Charmé"]),
    # a place Apertium only respells, or makes an adjective of
    ("Les équipes comme Marseille ont parlé de la Palestine.", ["Marseille", "Palestine"]),
    ("Victoria Principal est venue.", ["Victoria Principal"]),  # a first name that is also a place
])
def test_names_pass_the_pivot_verbatim(translator, french, names):
    english = translator.translate([french])[0]
    for name in names:
        assert name in english


def test_places_apertium_knows_are_translated(translator):
    english = translator.translate(["Il est allé en Allemagne puis à Londres."])[0]
    assert "Germany" in english and "London" in english
    english = translator.translate(["Il va en Syrie, à Moscou et au Nord."])[0]
    assert "Syria" in english and "Moscow" in english and "North" in english


# Words the pivot leaves in Spanish when neither pair knows them; none may reach the English.
SPANISH_LEAKS = ["apresamiento", "reflexionar", "bonos", "consultores", "neoyorquinos", "reagrupa", "aventajada",
                 "Burdeos", "recensé", "darse", "cuenta"]


def test_no_spanish_word_left_in_the_english(translator):
    french = [
        "Il a réussi à redémarrer sa carrière de manière remarquable.",
        "\" J'ai de bons enfants \", ajoute-t-elle.",
        "À Moscou, il y a aujourd'hui de bons consultants.",
        "Les manifestants ont été soutenus par d'autres démocrates new-yorkais.",
        "En collaboration avec l'association qui regroupe des économistes libéraux.",
        "Les grosses équipes comme Marseille, Lyon ou Bordeaux sont à la lutte pour le titre.",
        "\"Je ne me suis pas rendu compte que ce serait le semestre le plus apocalyptique\", dit-elle.",
        "Demande Valeriy Poliakov pour inviter à réfléchir sur cette question complexe.",
        "C'est ainsi que les autorités de la ville se sont rendu compte qu'il n'y avait qu'une seule façon.",
    ]
    english = " ".join(translator.translate(french))
    words = set(re.findall(r"\w+", english))
    assert not words & set(SPANISH_LEAKS), english
    assert not re.search(r"[*#@]", english)


def test_placeholders_never_reach_the_english(translator):
    english = translator.translate(['On devrait écrire: "Ci-gît l\'honnête citoyen J.R. Ewing".',
                                    "Mais si vous regardez la TV, cela vous rendra heureux."])
    assert "J.R. Ewing" in english[0]
    assert not re.search(r"(?i)zqx|xqz|[*#@]", " ".join(english))
