import pytest

from pipeline.translate.apertium import ApertiumTranslator, clean_output

from conftest import apertium_missing

needs_apertium = pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")


def test_clean_output_removes_marks_and_guillemets():
    assert clean_output("The *Nadella has #said « yes » .") == 'The Nadella has said "yes".'
    assert clean_output("@word and e-mail a@b") == "word and e-mail a@b"


@needs_apertium
def test_translates_line_aligned_and_keeps_names():
    tr = ApertiumTranslator()
    texts = [
        "Le patron de Microsoft, Satya Nadella, a parlé avec le président.",
        "",
        "Le cœur du problème est la sécurité des données.",
        "Microsoft pourrait inviter d'autres investisseurs américains.\nSur deux lignes.",
    ]
    out = tr.translate(texts)
    assert len(out) == 4
    assert "Satya Nadella" in out[0] and "Microsoft" in out[0]
    assert out[1] == ""
    assert "heart" in out[2]  # œ written as oe is known to Apertium
    assert "investors" in out[3]
    assert not any(mark in " ".join(out) for mark in ("*", "#", "@"))
    assert "apertium" in tr.engine and "fr-es" in tr.engine


@needs_apertium
def test_empty_input():
    assert ApertiumTranslator().translate([]) == []


def test_inverted_questions_take_statement_order():
    from pipeline.translate.apertium import prepare_french

    def plain(text):  # without the subject sentinels
        return " ".join(w for w in prepare_french(text, frozenset()).split())

    assert plain("As-tu faim ?") == "Tu as faim ?"
    assert plain("Pourquoi n'a-t-il pas vu Tom ?") == "Pourquoi il n'a pas vu Tom ?"
    assert plain("Tom fume-t-il ?") == "Tom fume ?"  # the noun is the subject already
    assert plain("Est-ce que tu viens ?") == "Tu viens ?"
    assert plain("Asseyez-vous.") == "Asseyez-vous."  # an imperative, not a question
    assert plain("Deux cafés, s'il vous plait.").startswith("Deux cafés, QZXplease")


def test_impersonal_il_is_not_marked_as_a_person():
    from pipeline.translate.apertium import prepare_french

    assert "QZX" not in prepare_french("Il y a des yeux.")
    assert "QZX" not in prepare_french("Il est difficile de trouver un flipper.")
    assert prepare_french("Il a deux voitures.").startswith("QZXilXZQ Il")


def test_clean_output_repairs_english():
    assert clean_output("Why you are sad ?", "Pourquoi es-tu triste ?") == "Why are you sad?"
    assert clean_output("You want to try this ?", "Voulez-vous essayer ceci ?") == "Do you want to try this?"
    assert clean_output("I does not arrive to believe.", "x") == "I do not arrive to believe."
    assert clean_output("¿ It costs 3,5 euros ?", "Ça coûte 3,5 euros ?") == "Does it cost 3.5 euros?"
    assert clean_output("There are 2 600 inhabitants.", "x") == "There are 2,600 inhabitants."
    assert clean_output("REGARDING TikTok", "En ce qui concerne TikTok") == "Regarding TikTok"
    # a name Spanish respelled comes back; an unknown French word loses its accents
    assert clean_output("She lives in *Kioto.", "Elle habite à Kyoto.") == "She lives in Kyoto."
    assert clean_output("A *pélican.", "Un pélican.") == "A pelican."


@needs_apertium
def test_subject_pronouns_and_questions_come_through_the_pivot():
    out = ApertiumTranslator().translate([
        "Il a deux voitures.", "Elle habite à Kyoto.", "Pourquoi es-tu triste ?", "Deux cafés, s'il vous plaît.",
    ])
    assert out[0] == "He has two cars."
    assert out[1] == "She lives in Kyoto."
    assert out[2] == "Why are you sad?"
    assert out[3] == "Two coffees, please."


@needs_apertium
def test_raw_pivot_is_one_line_per_input():
    from pipeline.translate.apertium import RawApertiumPivot

    out = RawApertiumPivot().translate(["Il a deux voitures.", "Elle habite à Kyoto."])
    assert out == ["Has two cars.", "It lives in Kioto."]
