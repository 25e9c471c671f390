import re

import jsonschema

from pipeline.model import Brief, Citation, Quote, SourceInfo, SummarySentence
from pipeline.render import SCHEMA_VERSION, brief_to_dict, render_index, render_markdown, schema

C1 = Citation("corpus/a.txt", "a", 2, 3, 3, "Microsoft rachète TikTok.", "a:p2.s1", 40, 65, "Microsoft rachète TikTok.")
C2 = Citation("corpus/b.txt", "b", 1, 1, 2, "TikTok est racheté par Microsoft.", "b:p1.s1", 0, 33,
              "TikTok est racheté\npar Microsoft.")
C3 = Citation("corpus/b.txt", "b", 3, 7, 7, "« Nous ne commentons pas les rumeurs », a déclaré un porte-parole.", "b:p3.s1",
              120, 184, "«Nous ne commentons pas les rumeurs», a déclaré un porte-parole.")
BRIEF = Brief(
    story_id="story-001", headline_fr="Microsoft | TikTok", headline_en="Microsoft | TikTok",
    summary=(SummarySentence("Microsoft rachète TikTok.", (C1, C2), 1.0, text_en="Microsoft buys TikTok."),
             SummarySentence("Autre fait.", (C2,), 0.2, text_en="Other fact.", flagged=True)),
    sources=(SourceInfo("corpus/a.txt", "a", "Titre", "2020-08", "fr", (2,)),
             SourceInfo("corpus/b.txt", "b", None, None, "fr", (1, 3))),
    engines={"translator": "apertium", "summarizer": "extractive"}, warnings=("be careful",),
    quotes=(Quote("Nous ne commentons pas les rumeurs", (C3,), "un porte-parole", ", a déclaré un porte-parole",
                  text_en="We do not comment on rumours", speaker_en="a spokesperson"),
            Quote("Nous construisons l'application la plus sûre", (C1,), None, None,
                  text_en="We build the safest app")),
)


def test_markdown_has_sections_numbered_citations_and_source_counts():
    md = render_markdown(BRIEF, "run1")
    for heading in ("# Microsoft | TikTok", "## Résumé", "## Summary (English)",
                    "## Propos clés · Key quotes", "## Citations", "## Sources", "## Engines", "## Warnings"):
        assert heading in md
    assert "1. Microsoft rachète TikTok. [1][2] — *rapporté par 2 sources sur 2*" in md
    assert "1. Microsoft buys TikTok. [1][2] — *reported by 2 of 2 sources*" in md
    assert "2. Other fact. [2] — *reported by 1 of 2 sources* · ⚠️ *weak support, check it*" in md
    assert "2. `corpus/b.txt`, paragraph 1, lines 1–2: TikTok est racheté par Microsoft." in md
    assert "| `corpus/a.txt` | Titre | 2020-08 | fr | 2 |" in md
    assert "| `corpus/b.txt` | — | — | fr | 1, 3 |" in md


def test_markdown_sections_are_separated_by_blank_lines():
    md = render_markdown(BRIEF, "run1")
    for heading in ("## Summary (English)", "## Propos clés · Key quotes", "## Citations", "## Sources"):
        before = md.split(heading)[0]
        assert before.endswith("\n\n"), heading  # a heading never sticks to the list above it


def test_markdown_quotes_have_speaker_translation_and_citations():
    md = render_markdown(BRIEF, "run1")
    assert "> « Nous ne commentons pas les rumeurs »\n>\n> *“We do not comment on rumours”*" in md
    # quote citations continue the brief's numbering: C3 is new (3), C1 is already [1]
    assert "> — **un porte-parole** (*a spokesperson*) [3] · *reported by 1 of 2 sources*" in md
    assert "> — *speaker not named in the source* [1] · *reported by 1 of 2 sources*" in md
    assert "3. `corpus/b.txt`, paragraph 3, line 7: « Nous ne commentons pas les rumeurs », a déclaré" in md


def test_markdown_shows_corpus_markup_as_text():
    evil = SummarySentence("Le site affichait <script>alert(1)</script> et *gras* [lien](x).", (C1,), 1.0,
                           text_en="<img src=x onerror=alert(1)>")
    md = render_markdown(Brief("story-002", "<b>Titre</b>", "T", (evil,), BRIEF.sources, BRIEF.engines), "r")
    assert re.search(r"(?<!\\)[<>]", md) is None, "raw HTML from the corpus in the Markdown"
    assert "\\<script\\>alert(1)\\</script\\>" in md and "\\*gras\\*" in md and "\\[lien\\](x)" in md


def test_index_lists_briefs():
    md = render_index([BRIEF], "run1", n_documents=2, n_skipped=0)
    assert "[story-001](briefs/story-001.md)" in md and "| 2 | 2 | 2 |" in md


def test_json_citations_are_checkable_objects():
    d = brief_to_dict(BRIEF, "run1")
    assert d["schema_version"] == SCHEMA_VERSION and d["headline"] == {"fr": "Microsoft | TikTok", "en": "Microsoft | TikTok"}
    c = d["summary"][0]["citations"][1]
    assert {k: c[k] for k in ("file", "paragraph", "line_start", "line_end", "text", "number")} == {
        "file": "corpus/b.txt", "paragraph": 1, "line_start": 1, "line_end": 2,
        "text": "TikTok est racheté par Microsoft.", "number": 2,
    }
    assert d["summary"][1]["flagged"] is True and d["summary"][0]["sources_count"] == 2


def test_json_quotes_and_schema():
    d = brief_to_dict(BRIEF, "run1")
    q = d["quotes"][0]
    assert q["speaker"] == "un porte-parole" and q["speaker_en"] == "a spokesperson"
    assert q["attribution"] == ", a déclaré un porte-parole" and q["citations"][0]["number"] == 3
    assert d["quotes"][1]["speaker"] is None and d["quotes"][1]["citations"][0]["number"] == 1
    jsonschema.validate(d, schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
