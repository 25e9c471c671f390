from pipeline.model import Brief, Citation, SourceInfo, SummarySentence
from pipeline.render import brief_to_dict, render_markdown

C1 = Citation("corpus/a.txt", "a", 2, 3, 3, "Microsoft rachète TikTok.", "a:p2.s1")
C2 = Citation("corpus/b.txt", "b", 1, 1, 2, "TikTok est racheté par Microsoft.", "b:p1.s1")
BRIEF = Brief(
    story_id="story-001", headline_fr="Microsoft | TikTok", headline_en="Microsoft | TikTok",
    summary=(SummarySentence("Microsoft rachète TikTok.", (C1, C2), 1.0, text_en="Microsoft buys TikTok."),
             SummarySentence("Autre fait.", (C2,), 0.2, text_en="Other fact.", flagged=True)),
    sources=(SourceInfo("corpus/a.txt", "a", "Titre", "2020-08", "fr", (2,)),
             SourceInfo("corpus/b.txt", "b", None, None, "fr", (1,))),
    engines={"translator": "apertium", "summarizer": "extractive"}, warnings=("be careful",),
)


def test_markdown_has_sections_numbered_citations_and_source_counts():
    md = render_markdown(BRIEF, "run1")
    for heading in ("# Microsoft | TikTok", "## Résumé", "## Summary (English)", "## Citations", "## Sources",
                    "## Engines", "## Warnings"):
        assert heading in md
    assert "1. Microsoft rachète TikTok. [1][2] — *2 sources sur 2*" in md
    assert "1. Microsoft buys TikTok. [1][2] — *reported by 2 of 2 sources*" in md
    assert "2. Other fact. [2] ⚠️ *weak support*" in md
    assert "2. `corpus/b.txt`, paragraph 1, lines 1–2 — TikTok est racheté par Microsoft." in md
    assert "| `corpus/a.txt` | Titre | 2020-08 | fr | 2 |" in md


def test_json_citations_are_checkable_objects():
    d = brief_to_dict(BRIEF, "run1")
    assert d["schema_version"] and d["headline"] == {"fr": "Microsoft | TikTok", "en": "Microsoft | TikTok"}
    c = d["summary"][0]["citations"][1]
    assert {k: c[k] for k in ("file", "paragraph", "line_start", "line_end", "text", "number")} == {
        "file": "corpus/b.txt", "paragraph": 1, "line_start": 1, "line_end": 2,
        "text": "TikTok est racheté par Microsoft.", "number": 2,
    }
    assert d["summary"][1]["flagged"] is True and d["summary"][0]["sources_count"] == 2
