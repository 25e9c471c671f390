"""What changed in each story since the previous run (pipeline.changes), in the Markdown and JSON briefs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from pipeline.changes import Changes, compute_changes, previous_run_dir
from pipeline.model import Brief, Citation, SourceInfo, SummarySentence
from pipeline.render import brief_to_dict, render_markdown

from test_schema import validate


def cite(file: str, line: int, text: str) -> Citation:
    doc = Path(file).stem
    return Citation(file=file, doc_id=doc, paragraph=1, line_start=line, line_end=line, text=text, sid=f"{doc}:p1.s{line}",
                    char_start=100 * line, char_end=100 * line + len(text), exact=text)


def source(file: str) -> SourceInfo:
    return SourceInfo(file=file, doc_id=Path(file).stem, title=None, date=None, lang="fr", paragraphs_used=(1,))


def sentence(fr: str, en: str, *citations: Citation) -> SummarySentence:
    return SummarySentence(text_fr=fr, citations=citations or (cite("corpus/a.txt", 1, fr),), support=1.0, text_en=en)


A = "Le conseil municipal a voté le budget mardi soir."
B = "La piscine rouvrira ses portes au mois de juin."
C = "Les travaux de la médiathèque commenceront en septembre."


def brief(story_id: str, sentences: list[SummarySentence], files: list[str]) -> Brief:
    return Brief(story_id=story_id, headline_fr="Budget voté", headline_en="Budget passed", summary=tuple(sentences),
                 sources=tuple(source(f) for f in files), engines={"translator": "t", "summarizer": "s"})


def write_run(out: Path, run_id: str, briefs: list[Brief]) -> Path:
    run_dir = out / "runs" / run_id
    (run_dir / "briefs").mkdir(parents=True)
    for b in briefs:
        (run_dir / "briefs" / f"{b.story_id}.json").write_text(json.dumps(brief_to_dict(b, run_id)), encoding="utf-8")
    latest = out / "latest"
    if latest.is_symlink():
        latest.unlink()
    latest.symlink_to(run_dir.relative_to(out), target_is_directory=True)
    return run_dir


def test_first_run_has_no_changes(tmp_path):
    assert previous_run_dir(tmp_path) is None
    assert compute_changes(None, [brief("story-001", [sentence(A, "EN A")], ["corpus/a.txt"])]) == {}
    assert compute_changes(tmp_path / "missing", [brief("story-001", [sentence(A, "EN A")], ["corpus/a.txt"])]) == {}


def test_changes_by_story_id(tmp_path):
    before = [
        brief("story-001", [sentence(A, "The council voted the budget."), sentence(B, "The pool reopens in June.")],
              ["corpus/a.txt"]),
        brief("story-002", [sentence(C, "Works start in September.")], ["corpus/c.txt"]),
    ]
    write_run(tmp_path, "20260101T000000Z", before)
    prev = previous_run_dir(tmp_path)
    assert prev is not None and prev.name == "20260101T000000Z"
    now = [
        # story-001: a new article, B dropped, C new, A now also cited by b.txt; translation of A changed
        brief("story-001", [sentence(A, "The city council passed the budget.", cite("corpus/a.txt", 1, A),
                                     cite("corpus/b.txt", 3, A)),
                            sentence(C, "Works start in September.")], ["corpus/a.txt", "corpus/b.txt"]),
        before[1],  # story-002 unchanged
        brief("story-003", [sentence(B, "x")], ["corpus/d.txt"]),  # new story
    ]
    changes = compute_changes(prev, now)
    assert set(changes) == {"story-001", "story-002", "story-003"}
    c1 = changes["story-001"]
    assert c1.previous_run == "20260101T000000Z" and not c1.new_story and not c1.unchanged
    assert c1.new_articles == ("corpus/b.txt",) and c1.removed_articles == ()
    assert c1.new_sentences == (C,) and c1.removed_sentences == (B,)
    assert c1.changed_citations == (A,)
    assert [(t.fr, t.before, t.after) for t in c1.changed_translations] == [
        (A, "The council voted the budget.", "The city council passed the budget.")]
    assert changes["story-002"].unchanged and not changes["story-002"].new_story
    assert changes["story-003"].new_story
    # the same comparison from the JSON the runner wrote (what the review server reads)
    as_dicts = [brief_to_dict(b, "r2") for b in now]
    assert compute_changes(prev, as_dicts) == changes
    assert Changes.from_dict(c1.to_dict()) == c1


def test_changes_in_markdown_and_json(tmp_path):
    write_run(tmp_path, "20260101T000000Z", [brief("story-001", [sentence(A, "EN A"), sentence(B, "EN B")],
                                                  ["corpus/a.txt"])])
    now = brief("story-001", [sentence(A, "EN A*"), sentence("<b>Nouveau</b> *texte* ici.", "EN new")],
                ["corpus/a.txt", "corpus/b`<img src=x>`.txt"])
    changes = compute_changes(previous_run_dir(tmp_path), [now])["story-001"]
    md = render_markdown(now, "r2", changes)
    section = md.split("## Changes in run r2, since 20260101T000000Z\n", 1)[1].split("\n## ", 1)[0]
    assert "- New article: ``corpus/b`<img src=x>`.txt``" in section  # a code span the name cannot end
    assert "- New sentence: \\<b\\>Nouveau\\</b\\> \\*texte\\* ici." in section  # corpus text escaped
    assert f"- Removed sentence: {B}" in section
    assert f"- Translation changed: {A} — was *EN A*, now *EN A\\**" in section
    assert md.index("## Changes in run r2") < md.index("## Résumé")
    data = brief_to_dict(now, "r2", changes)
    validate(data)
    assert data["changes"]["new_articles"] == ["corpus/b`<img src=x>`.txt"]
    assert data["changes"]["removed_sentences"] == [B]
    # no previous run: no section, no `changes` key; unchanged: says so
    assert "## Changes" not in render_markdown(now, "r2") and "changes" not in brief_to_dict(now, "r2")
    same = compute_changes(previous_run_dir(tmp_path), [replace(now, summary=(sentence(A, "EN A"), sentence(B, "EN B")),
                                                                sources=(source("corpus/a.txt"),))])["story-001"]
    assert same.unchanged and "- No change." in render_markdown(now, "r2", same)
    validate(brief_to_dict(now, "r2", same))
