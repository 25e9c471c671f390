"""Ingest findings of the hostile-operator test (issue 16) and bulleted articles (issue 15): each fails on the old code."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Settings
from pipeline.ingest import LanguageIdentifier, ingest, ingest_text

BODY = ("Le préfet a annoncé mardi la fermeture de trois écoles après les inondations de la semaine dernière. "
        "Les élèves seront accueillis dans les communes voisines jusqu'à la fin du mois.")
BODY2 = ("Les pompiers sont intervenus plus de deux cents fois pendant la nuit dans tout le département. "
         "Aucune victime n'est à déplorer selon la préfecture.")


def _ingest(folder: Path, **ingest_settings):
    settings = Settings.model_validate({"ingest": ingest_settings}).ingest
    return ingest(folder, settings)


def _one(text: str):
    settings = Settings().ingest
    return ingest_text(text, doc_id="d", path="corpus/d.txt", sha256="0", encoding="utf-8", settings=settings,
                       langid=LanguageIdentifier(["fr"]))


def test_symlink_to_a_file_outside_the_corpus_is_not_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("Mot de passe du serveur : hunter2. " + BODY + "\n", encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(BODY + "\n", encoding="utf-8")
    (corpus / "leak.txt").symlink_to(secret)
    (corpus / "inside.txt").symlink_to(corpus / "a.txt")
    result = _ingest(corpus)
    assert sorted(d.doc_id for d in result.documents) == ["a", "inside"]
    (skip,) = result.skipped
    assert skip.path == "corpus/leak.txt" and "outside the corpus" in skip.reason
    assert "follow_symlinks_outside" in skip.reason
    allowed = _ingest(corpus, follow_symlinks_outside=True)
    assert "leak" in {d.doc_id for d in allowed.documents}


def test_the_tools_own_output_tree_inside_the_corpus_is_never_read(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "runs" / "20260101T000000Z" / "briefs").mkdir(parents=True)
    (corpus / "a.txt").write_text(BODY + "\n", encoding="utf-8")
    (corpus / "runs" / "20260101T000000Z" / "index.md").write_text("# Briefs\n\n" + BODY2 + "\n", encoding="utf-8")
    (corpus / "runs" / "20260101T000000Z" / "briefs" / "story-001.md").write_text(BODY2 + "\n", encoding="utf-8")
    (corpus / ".pipeline.lock").write_text("")
    (corpus / "latest").symlink_to(corpus / "runs" / "20260101T000000Z", target_is_directory=True)
    assert [d.doc_id for d in _ingest(corpus).documents] == ["a"]
    # an --out folder elsewhere in the corpus, given as exclude, is not read either (lock or not)
    out = corpus / "sub" / "out"
    out.mkdir(parents=True)
    (out / "old-brief.md").write_text(BODY2 + "\n", encoding="utf-8")
    result = ingest(corpus, Settings().ingest, exclude=[out])
    assert [d.doc_id for d in result.documents] == ["a"]


def test_nul_and_control_bytes_after_the_first_8kb_never_reach_the_text(tmp_path):
    head = (BODY + "\n\n") * 60  # > 8 KB
    assert len(head.encode()) > 8192
    (tmp_path / "a.txt").write_bytes((head + "Le maire\x00 a démissionné\x07 hier soir\x1b[31m après le vote.\n").encode())
    (doc,) = _ingest(tmp_path).documents
    everything = " ".join(s.text for p in doc.paragraphs for s in p.sentences)
    assert not any(ch in everything for ch in "\x00\x07\x1b")
    assert not any(ch in doc.source_text for ch in "\x00\x07\x1b")
    assert any("control character" in d.reason for d in doc.dropped)
    assert len(doc.source_text) == len(head) + len("Le maire\x00 a démissionné\x07 hier soir\x1b[31m après le vote.\n")


def test_a_body_paragraph_starting_l_auteur_does_not_end_the_article():
    text = (f"{BODY}\n\nL'auteur présumé de l'attaque a été interpellé mercredi matin à son domicile.\n\n{BODY2}\n\n"
            "La mairie a ouvert une cellule d'écoute pour les familles.\n")
    doc = _one(text)
    texts = [p.text for p in doc.paragraphs]
    assert any(t.startswith("L'auteur présumé") for t in texts)
    assert texts[-1] == "La mairie a ouvert une cellule d'écoute pour les familles."
    # a real author box at the end still goes
    doc = _one(f"{BODY}\n\n{BODY2}\n\nL'auteur : Jean Martin, journaliste.\n\nIl couvre la politique locale.\n")
    assert [p.text for p in doc.paragraphs] == [BODY, BODY2]


def test_a_boilerplate_only_page_with_its_tag_line_first_is_skipped(tmp_path):
    (tmp_path / "tags.txt").write_text("Tags : politique, société, monde\n\nPartager\n\nMenu\n\nNewsletter\n",
                                       encoding="utf-8")
    (tmp_path / "good.txt").write_text(BODY + "\n", encoding="utf-8")
    result = _ingest(tmp_path)
    assert [d.doc_id for d in result.documents] == ["good"]
    (skip,) = result.skipped
    assert skip.path.endswith("tags.txt") and ("no article text" in skip.reason or "no text left" in skip.reason)


def test_corpus_dot_cites_the_folder_name(tmp_path, monkeypatch):
    corpus = tmp_path / "depeches"
    corpus.mkdir()
    (corpus / "000_a.txt").write_text(BODY + "\n", encoding="utf-8")
    monkeypatch.chdir(corpus)
    (doc,) = ingest(Path("."), Settings().ingest).documents
    assert doc.path == "depeches/000_a.txt"


def test_a_colon_in_a_file_name_gives_a_safe_document_id(tmp_path):
    (tmp_path / "rapport:final.txt").write_text(f"{BODY}\n\n{BODY2}\n\n{BODY}\n", encoding="utf-8")
    (tmp_path / "rapport_final.txt").write_text(BODY2 + "\n", encoding="utf-8")
    result = _ingest(tmp_path)
    ids = sorted(d.doc_id for d in result.documents)
    assert len(set(ids)) == 2 and not any(":" in i for i in ids)
    for d in result.documents:
        for p in d.paragraphs:
            assert p.pid.split(":")[0] == d.doc_id
            assert all(s.sid.split(":")[0] == d.doc_id for s in p.sentences)


def test_bullet_items_are_sentences_of_their_own():
    text = ("- QUI PEUT VOTER ? -► Pour pouvoir voter, il faut s'être inscrit sur les listes électorales avant le "
            "31 décembre.► Les votants devront également signer une charte ► Pour les Français de l'étranger, le "
            "vote électronique est possible.• Hausses de salairesInterpellé lors d'une visite à l'hôpital, le "
            "président a promis une hausse des rémunérations.\n")
    doc = _one(text)
    sentences = [s.text for p in doc.paragraphs for s in p.sentences]
    assert "► Les votants devront également signer une charte" in sentences
    assert "• Hausses de salaires" in sentences
    assert any(s.startswith("Interpellé lors d'une visite") for s in sentences)
    assert max(len(s.split()) for s in sentences) < 25
    lines = "\n".join(f"- Point numéro {i} du programme présenté par la ministre aux syndicats" for i in range(12))
    doc = _one(BODY + "\n" + lines + "\n")
    assert len([s for p in doc.paragraphs for s in p.sentences]) == 2 + 12


def test_offsets_survive_crlf_bom_tabs_and_guillemets(tmp_path):
    raw = "\ufeffTitre\tde l’article\r\n\r\n«Suite à une conversation»,  a-t-il dit.\r\nDeuxième  ligne ici.\r\n"
    (tmp_path / "a.txt").write_bytes(raw.encode("utf-8"))
    (doc,) = _ingest(tmp_path).documents
    assert doc.source_text == raw[1:]  # the decoded file (BOM is the encoding's, not text)
    s = doc.paragraphs[-1].sentences[0]
    assert doc.source_text[s.char_start:s.char_end] == "«Suite à une conversation»,  a-t-il dit."
    assert s.text == "« Suite à une conversation », a-t-il dit."
    assert (s.line_start, s.line_end) == (3, 3)


def test_an_unbalanced_quote_does_not_make_a_300_word_sentence():
    filler = "Le conseil a examiné le dossier en séance publique pendant plus de trois heures hier soir. "
    text = ('Le "projet de loi sera examiné en commission. ' + filler * 8
            + "Son premier adjoint aura la charge de la sécurité.PROPRETÉLa candidate reprend les propositions. "
            + "M. Dupont a répondu aux questions des élus.\n")
    sentences = [s.text for p in _one(text).paragraphs for s in p.sentences]
    assert max(len(s.split()) for s in sentences) <= 20
    assert "PROPRETÉ" in sentences and "La candidate reprend les propositions." in sentences
    assert "M. Dupont a répondu aux questions des élus." in sentences
