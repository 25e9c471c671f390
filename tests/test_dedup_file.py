"""dedup.json copies the lines of groups whose content is unchanged from the previous run's file (groups are
renumbered when one is added): the bytes are those a run with no previous file writes, and a line is copied
only when its group, its members' documents and the previous file are provably the same."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from pipeline.corpus_index import CorpusIndex
from pipeline.model import DupGroup
from pipeline.render.dedup_file import (
    LINES_FILE, LineIndex, PreviousLines, dedup_file_parts, group_record, line_keys,
)

from test_review_page import _wire_site


@pytest.fixture(scope="module")
def wire(tmp_path_factory, settings):
    built, _english, _paths = _wire_site(tmp_path_factory.mktemp("dedup-file"), 4, settings)
    return built


def _groups(built) -> list[DupGroup]:
    return [*built.dedup.paragraph_groups, *built.dedup.sentence_groups]


def _encoded(groups: list[DupGroup], index: CorpusIndex) -> bytes:
    """dedup.json as one JSON document with a group per line, each as json.dumps writes it."""
    return ('{"groups": [\n' + ",\n".join(json.dumps(group_record(g, index), ensure_ascii=False) for g in groups)
            + "\n]}\n").encode("utf-8")


def _previous_run(folder: Path, groups: list[DupGroup], index: CorpusIndex) -> Path:
    """A run folder with dedup.json and its lines' index, as a run writes them."""
    folder.mkdir()
    lines = LineIndex(line_keys(groups, index, "fixed"))
    data = b"".join(dedup_file_parts(groups, index, lines))
    (folder / "dedup.json").write_bytes(data)
    lines.save(folder / LINES_FILE, hashlib.sha256(data).hexdigest())
    return folder


def _written(groups: list[DupGroup], index: CorpusIndex, previous: Path) -> tuple[bytes, int]:
    """dedup.json written with the previous run's lines, and how many lines were copied from there."""
    lines, before = LineIndex(line_keys(groups, index, "fixed")), PreviousLines(previous)
    try:
        return b"".join(dedup_file_parts(groups, index, lines, before)), lines.reused
    finally:
        before.close()


def test_lines_copied_from_the_previous_file_are_the_bytes_a_fresh_write_makes(wire, tmp_path):
    index, groups = wire.index, _groups(wire)
    assert len(groups) >= 3
    assert b"".join(dedup_file_parts(groups, index)) == _encoded(groups, index)
    previous = _previous_run(tmp_path / "a", groups, index)
    # renumbered and reordered (a new group in front moves every id), one member's score changed
    moved = [dataclasses.replace(g, group_id=f"G{i}") for i, g in enumerate(reversed(groups))]
    first = moved[0]
    moved[0] = dataclasses.replace(first, members=(dataclasses.replace(first.members[0], score=0.5),
                                                   *first.members[1:]))
    data, reused = _written(moved, index, previous)
    assert data == _encoded(moved, index)
    assert reused == len(groups) - 1  # every line but the changed group's
    json.loads(data)


def test_a_changed_document_or_previous_file_is_not_copied(wire, tmp_path):
    index, groups = wire.index, _groups(wire)
    previous = _previous_run(tmp_path / "a", groups, index)
    # one document's bytes changed (same ids): the lines of groups with a member in it are encoded again
    doc_id = next(iter(index.documents))
    changed = CorpusIndex({**index.documents, doc_id: dataclasses.replace(index.documents[doc_id], sha256="0" * 64)},
                          index.paragraphs, index.sentences)
    touching = sum(1 for g in groups if any(index.paragraphs[index.sentences[m.id].pid if m.id in index.sentences
                                                                else m.id].doc_id == doc_id for m in g.members))
    assert touching
    data, reused = _written(groups, changed, previous)
    assert data == _encoded(groups, changed) and reused == len(groups) - touching
    # a previous dedup.json edited since it was written (its index no longer describes it): nothing is copied
    path = previous / "dedup.json"
    path.write_bytes(path.read_bytes().replace(b'"relation": "exact"', b'"relation": "EXACT"', 1))
    data, reused = _written(groups, index, previous)
    assert data == _encoded(groups, index) and reused == 0
    # no index of the lines: nothing copied either
    (previous / LINES_FILE).unlink()
    assert _written(groups, index, previous) == (_encoded(groups, index), 0)


def test_a_groups_record_says_where_each_member_is_as_the_index_cites_it(wire):
    """Each member of a group's record: its id, relation and score, then its file, paragraph, lines and text as
    the corpus index has them (a sentence's own lines and text; a paragraph's), keys in that order."""
    index = wire.index
    groups = _groups(wire)
    assert {g.level for g in groups} == {"paragraph", "sentence"}
    for g in groups:
        record = group_record(g, index)
        assert list(record) == ["group_id", "level", "canonical", "members"]
        assert (record["group_id"], record["level"], record["canonical"]) == (g.group_id, g.level, g.canonical)
        for m, r in zip(g.members, record["members"], strict=True):
            part = index.sentences[m.id] if g.level == "sentence" else index.paragraphs[m.id]
            p = index.paragraphs[part.pid] if g.level == "sentence" else part
            assert list(r.items()) == [
                ("id", m.id), ("relation", m.relation), ("score", m.score), ("file", index.documents[p.doc_id].path),
                ("paragraph", p.index), ("line_start", part.line_start), ("line_end", part.line_end),
                ("text", part.text)]


def test_the_group_keys_a_run_makes_once_write_the_same_file(wire, tmp_path):
    """A run makes the groups' line keys once (`RenderStep.group_keys`) for dedup.json and the review pages' keys:
    dedup.json and its lines' index written with them are those written with the keys made by the writer."""
    import numpy as np

    from pipeline.flow import RenderStep

    step = RenderStep()
    keys = step.group_keys(wire.dedup, wire.index, "ingest")
    assert len(keys) == len(_groups(wire)) == len(set(keys.values()))
    written = []
    for name, given in (("made-there", None), ("given", keys)):
        folder = tmp_path / name
        folder.mkdir()
        sha = step.write_dedup_file(folder, wire.dedup, wire.index, None, None, "ingest", given)
        with np.load(folder / LINES_FILE) as z:
            index = {k: bytes(z[k]) for k in ("keys", "starts", "ends", "sha256")}
        written.append((sha, (folder / "dedup.json").read_bytes(), index))
    assert written[0] == written[1]
    assert written[1][2]["keys"] == b"".join(keys.values())
