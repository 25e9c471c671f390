from pathlib import Path

import pytest

from pipeline.config import IngestSettings
from pipeline.ingest import LanguageIdentifier, ingest, normalize_line, split_lines

from conftest import CORPUS


def doc(sample, prefix):
    return next(d for d in sample.documents if d.doc_id.startswith(prefix))


def test_all_sample_files_ingested(sample):
    assert [d.doc_id[:3] for d in sample.documents] == ["000", "001", "002", "003", "004"]
    assert sample.skipped == ()
    assert all(d.lang == "fr" and d.encoding == "utf-8" for d in sample.documents)


def test_normalisation():
    assert normalize_line("l\u2019application\u00a0\u00ab\u202fTikTok\u202f\u00bb  ") == "l'application « TikTok »"
    assert normalize_line("\u201cdit\u201d\tici") == '"dit" ici'
    assert normalize_line("e\u0301te\u0301") == "été"  # NFC


def test_normalisation_of_every_kind_of_space_and_invisible_character():
    """Every Unicode whitespace character (as regex \\s and str.isspace know them) counts as a space: runs
    become one space, none is left at either end; invisible characters go; guillemets get their spaces."""
    import re
    import sys
    import unicodedata

    spaces = [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()]
    assert spaces == [c for c in map(chr, range(sys.maxunicode + 1)) if re.fullmatch(r"\s", c)]
    for c in spaces:
        assert normalize_line(f"{c}un{c}{c}deux {c}trois{c}") == "un deux trois", hex(ord(c))
    assert normalize_line("in\u200bvi\u00adsible\ufeff \u2060x") == "invisible x"
    assert normalize_line("\u00ab\u00a0oui\u00a0\u00bb et \u00abnon\u00bb, \u00ab  peut-être\t\u00bb") == \
        "« oui » et « non », « peut-être »"
    assert normalize_line("\u2009\u200b\u2009") == ""
    # the same as the plain definition (NFC, the character map, whitespace runs, guillemets)
    from pipeline.ingest import _CHAR_MAP

    def plain(line):
        text = re.sub(r"\s+", " ", unicodedata.normalize("NFC", line).translate(_CHAR_MAP)).strip()
        return re.sub(r"\s*»", " »", re.sub(r"«\s*", "« ", text))

    samples = ["a\u2019b\u00a0\u00a0c\u200d", "\u201e\u00abx\u00bb\u201f", " \x1c\x1dq\x85\u3000r ", "plain text.",
               "«»", "e\u0301\u00a0\u00bb", "\t\n\r\x0b\x0c"]
    for line in samples:
        assert normalize_line(line) == plain(line), repr(line)


def test_boilerplate_dropped_and_title_kept(sample):
    d = doc(sample, "002")
    texts = [p.text for p in d.paragraphs]
    assert "fermer" not in texts
    assert not any("Tags" in t or "Yohann Poiron" in t or "BlogNT" in t for t in texts)
    reasons = {x.reason for x in d.dropped}
    assert "page boilerplate line" in reasons
    assert any(r.startswith("footer") for r in reasons)
    assert d.title == "Microsoft serait en pourparlers pour racheter les activités de TikTok aux États-Unis"
    # the repeated title line (line 6) is dropped, the first copy (line 4) kept
    assert sum(t == d.title for t in texts) == 1
    assert any(x.line_start == 6 and "repeats" in x.reason for x in d.dropped)


def test_date_prefix_becomes_metadata(sample):
    d = doc(sample, "003")
    assert d.date == "2020-08"
    assert d.paragraphs[0].text.startswith("La société Internet chinoise Bytedance")
    assert "date" not in d.paragraphs[0].text[:10]


def test_line_ranges_point_into_original_file(sample):
    for d in sample.documents:
        lines = split_lines((CORPUS / Path(d.path).name).read_text(encoding="utf-8"))
        for p in d.paragraphs:
            original = " ".join(normalize_line(x) for x in lines[p.line_start - 1 : p.line_end])
            assert p.text in original, (d.doc_id, p.index)
            for s in p.sentences:
                cited = " ".join(normalize_line(x) for x in lines[s.line_start - 1 : s.line_end])
                assert s.text in cited


def test_004_blank_runs_do_not_shift_lines(sample):
    d = doc(sample, "004")
    nadella = next(p for p in d.paragraphs if "Satya Nadella" in p.text)
    assert (nadella.line_start, nadella.line_end) == (11, 11)


def test_sentences_split_french_aware(sample):
    p = next(p for p in doc(sample, "002").paragraphs if p.text.startswith("La nouvelle arrive"))
    assert len(p.sentences) == 4
    assert p.sentences[1].text.startswith("« En ce qui concerne TikTok")


def test_language_identification():
    langid = LanguageIdentifier(IngestSettings().languages)
    assert langid.detect("The author Yohann Poiron") == "en"
    assert langid.detect("Microsoft recherche des partenaires minoritaires") == "fr"


_LANGUAGE_SAMPLES = [
    "The author Yohann Poiron", "Microsoft recherche des partenaires minoritaires",
    "Der Bundestag hat am Donnerstag ein neues Gesetz beschlossen.", "El gobierno anunció nuevas medidas económicas.",
    "Il governo ha approvato il decreto ieri sera.", "O governo aprovou ontem o novo orçamento do Estado.",
    "De regering heeft gisteren de begroting gepresenteerd.", "Paris", "ok", "Le Monde / AFP", "12 % en 2024",
]


def test_language_models_loaded_by_lingua_threads_give_the_same_answers():
    """`preload` (lingua's models loaded at once by its own threads: the background worker's) answers as
    lingua loading them on demand does. Run in a process of its own: preloading leaves lingua's threads there."""
    import json
    import subprocess
    import sys

    script = ("import json, sys; from pipeline.ingest import LanguageIdentifier as L; "
              "texts = json.loads(sys.argv[1]); langs = json.loads(sys.argv[2]); "
              "print(json.dumps([[L(langs, preload=p).detect(t) for t in texts] for p in (False, True)]))")
    out = subprocess.run([sys.executable, "-c", script, json.dumps(_LANGUAGE_SAMPLES),
                          json.dumps(IngestSettings().languages)], capture_output=True, text=True, check=True)
    lazy, preloaded = json.loads(out.stdout)
    assert preloaded == lazy
    assert lazy[:7] == ["en", "fr", "de", "es", "it", "pt", "nl"]


def test_the_process_that_forks_the_pool_loads_lingua_without_threads_of_its_own():
    """Ingest loads lingua where the pool forks (`IngestContext.langid`) without lingua's threads: a forked
    worker would inherit its thread pool without the threads. (In a fresh process: lingua's threads, once
    started, stay for the process's life.)"""
    import subprocess
    import sys

    script = ("import os; from pipeline.config import IngestSettings; from pipeline.ingest import IngestContext; "
              "before = len(os.listdir('/proc/self/task')); context = IngestContext(IngestSettings()); "
              "print(context.langid().detect('Le conseil municipal a voté le budget.'), "
              "len(os.listdir('/proc/self/task')) - before)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["fr", "0"]


def test_english_paragraph_gets_english(tmp_path):
    (tmp_path / "a.txt").write_text(
        "Microsoft serait en pourparlers pour racheter les activités de TikTok aux États-Unis, selon le journal.\n\n"
        "The company said on Sunday that talks with ByteDance would be completed by September fifteenth.\n"
    )
    result = ingest(tmp_path, IngestSettings())
    assert [p.lang for p in result.documents[0].paragraphs] == ["fr", "en"]


def test_latin1_file_read_correctly(tmp_path):
    (tmp_path / "latin.txt").write_bytes("Le président américain a déclaré vendredi qu'il était prêt à négocier.\n".encode("latin-1"))
    result = ingest(tmp_path, IngestSettings())
    assert result.skipped == ()
    d = result.documents[0]
    assert d.paragraphs[0].text == "Le président américain a déclaré vendredi qu'il était prêt à négocier."
    assert d.encoding.replace("_", "-").lower() not in ("utf-8", "ascii")


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("bin.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10, "binary"),
        ("empty.txt", b"  \n\n", "empty"),
    ],
)
def test_bad_files_skipped_with_reason(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    (tmp_path / "good.txt").write_text("Une phrase française tout à fait correcte pour ce test.\n")
    result = ingest(tmp_path, IngestSettings())
    assert [d.doc_id for d in result.documents] == ["good"]
    assert len(result.skipped) == 1 and reason in result.skipped[0].reason
    assert result.skipped[0].path.endswith(name)


def test_markdown_and_other_extensions(tmp_path):
    (tmp_path / "a.md").write_text("# Un titre de l'article ici\n\nUne phrase française tout à fait correcte.\n")
    (tmp_path / "notes.csv").write_text("a,b\n")
    result = ingest(tmp_path, IngestSettings())
    d = result.documents[0]
    assert d.title == "Un titre de l'article ici" and d.paragraphs[0].kind == "heading"
    assert len(result.documents) == 1


def test_sentences_do_not_end_at_titles_initials_or_month_abbreviations(tmp_path):
    (tmp_path / "a.txt").write_text(
        "Tard vendredi, M. Trump a déclaré aux journalistes qu'il interdirait TikTok. "
        "Le 15 sept. 2020, Donald J. Trump a signé le décret. Il est parti.\n"
    )
    d = ingest(tmp_path, IngestSettings()).documents[0]
    assert [s.text for s in d.paragraphs[0].sentences] == [
        "Tard vendredi, M. Trump a déclaré aux journalistes qu'il interdirait TikTok.",
        "Le 15 sept. 2020, Donald J. Trump a signé le décret.",
        "Il est parti.",
    ]


def test_a_sentence_continues_after_a_title_or_month_at_its_end_only_however_long_it_is():
    """`_continues` looks at the end of the previous piece: a long sentence ending in "Mme." or "sept."
    continues; one with a title earlier on, or ending in a word that merely ends like one, does not."""
    from pipeline.ingest import _continues

    long = "Selon les chiffres publiés hier par le ministère de l'Intérieur, " * 3
    assert _continues(long + "a rencontré Mme.", "Dupont")
    assert _continues("(Mlles.", "Durand") and _continues("«Dr.", "X") and _continues("M.", "Y")
    assert _continues(long + "le 3 sept.", "2020") and not _continues(long + "le 3 sept.", "Il")
    assert not _continues("M. Dupont a parlé longtemps, " + long + "puis il est parti.", "Ensuite")
    assert not _continues(long + "avec les AMM.", "Puis") and not _continues(long + "au Dr.X.", "Puis")
    assert not _continues(long + "en concept.", "2020") and _continues("sept.", "2020")
