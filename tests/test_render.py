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
    assert "2. Other fact. [2] — *reported by 1 of 2 sources* · *machine-translated* · ⚠️ *weak support, check it*" in md
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


def test_citation_and_source_lines_written_in_python_are_what_the_template_wrote():
    """The body's citation lines and source rows, written in Python, are byte for byte what the template's
    loops wrote (hostile text included: markup, pipes, backticks, line breaks, a record, a URL, notes)."""
    from dataclasses import replace

    from jinja2 import Environment

    from pipeline.render import (_citations_md, _md_code, _md_code_cell, _md_cell, _md_text, cited_sentences,
                                 citation_numbers, lines_label)

    env = Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(md_code=_md_code, md_text=_md_text, md_cell=_md_cell, md_code_cell=_md_code_cell)
    citations = env.from_string(
        "{% for c in citations %}\n"
        "{{ c.number }}. {{ c.file | md_code }}, paragraph {{ c.paragraph }}, {{ c.lines }}: {{ c.text | md_text }} "
        "(`sources/{{ c.doc_id }}.txt`, characters {{ c.char_start }}–{{ c.char_end }})\n{% endfor %}\n")
    sources = env.from_string(
        "{% for s in brief.sources %}\n"
        "{% set origin = ([s.record] if s.record else []) + ([s.url] if s.url else []) + (s.notes | list) %}\n"
        "| {{ s.file | md_code_cell }} | {{ s.title | md_cell if s.title else '—' }} | "
        "{{ s.date | md_cell if s.date else '—' }} | {{ s.lang }} | "
        "{{ s.paragraphs_used | join(', ') if s.paragraphs_used else '—' }} | "
        "{{ origin | join(' · ') | md_cell if origin else '—' }} |\n{% endfor %}\n")
    odd = Citation("corpus/`odd`|x\n.txt", "odd", 4, 2, 5, "<b>*a*</b> | `b`\r\nc", "odd:p4.s1", 3, 9, "x")
    hostile = replace(BRIEF, summary=(*BRIEF.summary, SummarySentence("x", (odd, C3), 0.5)), sources=(
        *BRIEF.sources, SourceInfo("corpus/`odd`|x\n.txt", "odd", "T|*i*", "d<1>", "en", (), url="https://e/x|y",
                                   record="line 3", notes=("feed summary only", "a|b"))))
    from pipeline.render import _sources_md

    for brief in (BRIEF, hostile):
        numbers, by_sid = citation_numbers(brief), cited_sentences(brief)
        rows = [{"number": n, "file": by_sid[sid].file, "paragraph": by_sid[sid].paragraph,
                 "lines": lines_label(by_sid[sid].line_start, by_sid[sid].line_end), "text": by_sid[sid].text,
                 "doc_id": by_sid[sid].doc_id, "char_start": by_sid[sid].char_start, "char_end": by_sid[sid].char_end}
                for sid, n in numbers.items()]
        assert _citations_md(numbers, by_sid) == citations.render(citations=rows)
        assert _sources_md(brief.sources) == sources.render(brief=brief)
    assert "odd" in _citations_md(citation_numbers(hostile), cited_sentences(hostile))


def test_markdown_escapes_change_only_markup_and_control_characters():
    """`_md_text` escapes each Markdown markup character and makes each control character (line breaks
    included) a space, whatever else the text holds; text with none of them is written as it is. `_md_code`
    writes a file name as a code span that nothing in it ends, its control characters shown escaped."""
    from pipeline.render import _md_code, _md_text

    for c in "\\`*_[]<>":
        assert _md_text(f"a{c}é{c}") == f"a\\{c}é\\{c}"
    for c in "\x00\n\r\t\x1f\x7f\x85\u2028\u2029":
        assert _md_text(f"a{c}b*") == "a b\\*" and _md_text(f"a{c}b") == "a b"
    plain = "Selon l'hebdomadaire, « 12 % » des cas — ou plus | #1 ~ (x)."
    assert _md_text(plain) == plain
    assert _md_code("corpus/1888_005.txt") == "`corpus/1888_005.txt`"
    assert _md_code("a`b") == "``a`b``" and _md_code("a``b`") == "``` a``b` ```"
    assert _md_code("x\ny\u2028") == "`x\\ny\\u2028`" and _md_code(" x") == "`  x `"
