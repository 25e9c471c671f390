"""A block of duplicates labels only the paragraphs it shows: the same block as labelling every member
of the two groups, ordering them all in corpus order and keeping the first `BLOCK_COPIES`."""

from __future__ import annotations

from pipeline.render import citation_numbers
from pipeline.render.review import _Lookups

from test_review_page import _wire_site


def _every_member_then_cut(lookups, sid, index, n):
    out = {}
    group = lookups.para_groups.get(index.sentences[sid].pid)
    if group is not None:
        for m in group.members:
            label = "canonical paragraph of its group" if m.id == group.canonical else \
                f"same paragraph: {m.relation}, similarity {m.score:.2f}"
            out.setdefault(m.id, ([], set()))[0].append(label)
    group = lookups.sent_groups.get(sid)
    if group is not None:
        for m in group.members:
            if m.id not in index.sentences:
                continue
            label = "canonical sentence of its group" if m.id == group.canonical else \
                f"same {'fact, reworded' if m.relation == 'same_fact' else 'sentence: ' + m.relation}, " \
                f"similarity {m.score:.2f}"
            relations, marks = out.setdefault(index.sentences[m.id].pid, ([], set()))
            relations.append(label)
            marks.add(m.id)
    ordered = sorted(out.items(), key=lambda kv: lookups.order.get(kv[0], 0))
    files = {index.paragraphs[pid].doc_id for pid in out}
    return list(ordered[:n]), len(out), len(files)


def test_a_block_is_its_groups_first_members_in_corpus_order(tmp_path, settings, monkeypatch):
    import pipeline.render.review as review

    for n in (3, 50):
        monkeypatch.setattr(review, "BLOCK_COPIES", n)
        built, _english, _paths = _wire_site(tmp_path / str(n), 7, settings)
        lookups = _Lookups.build(built.index, built.dedup)
        checked = 0
        for brief in built.briefs:
            for sid in citation_numbers(brief):
                found = lookups.block(sid, built.index)
                if found is None:
                    continue
                block = found[1]
                shown, n_paragraphs, n_files = _every_member_then_cut(lookups, sid, built.index, n)
                assert list(block.shown.items()) == shown
                assert (block.n_paragraphs, block.n_files) == (n_paragraphs, n_files) == (7, 7)
                checked += 1
        assert checked
