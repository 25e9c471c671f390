"""Stories that live across runs: new documents join the previous run's stories.

A scheduled job runs every night on a growing corpus. Regrouping every document
each night would cost what a cold run costs; instead, when the previous run's
grouping is available and still valid, `join` keeps every previous story's
membership and places only the new documents:

* documents gone from the corpus leave their story; an edited document (same
  path, other content) stays in its story, with its vector read again;
* each new document is weighed by the IDF of the whole corpus (the previous
  documents' frequencies, kept in the state, plus the new ones'), and finds its
  candidates through the same inverted index as grouping (`stories._index_matrix`;
  its heaviest `stories.index_terms` terms found in 2 to `stories.max_df`
  documents; its `stories.neighbours` best, within `stories.window_days`:
  `stories.candidate_pairs` for the new documents' rows);
* the candidate pairs go through the same merging as a cold run
  (`stories._merge`: average link, cohesion bound, small stories attaching to
  larger ones), with the previous stories already formed: a new document joins a
  story when the thresholds of a cold run would join it, new documents that
  join no story group among themselves, and two previous stories never merge
  (their memberships are kept);
* a new document's paragraphs then vote as in a cold run (`stories._refine`).

The work is proportional to the new documents, plus reading the state (sparse
arrays, linear in documents). The previous documents' vectors keep the IDF they
were weighed with; candidate pairs come from the new documents' side of the
index only (a cold run also lets an old document pick a new one). So a joined
grouping can differ a little from a cold one of the same corpus; a full regroup
(`stories.regroup_share`) resets it.

`decide` says when to regroup from scratch instead: no state in the previous
run, another stories code or setting, or more than `stories.regroup_share` of
the corpus new (or of the previous documents gone).

The state is kept in each run folder next to `stories.json` (`STATE_FILE`,
NumPy arrays, no pickle): document keys and content hashes, each document's
story, its TF-IDF row (its `stories.doc_terms` heaviest terms), the vocabulary
and document frequencies, off-topic paragraphs and related pairs.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from . import run_state
from .cache import code_fingerprint, digest
from .config import StoriesSettings
from .model import DedupResult, Document
from .stories import (
    _CENTROID_TERMS, Grouped, _Clusters, _Para, _Space, _days, _document_space, _merge, _refine, _row,
    _top_terms, assemble, bridged_texts, candidate_pairs,
)
from .story_ids import document_key

log = logging.getLogger("pipeline")

STATE_FILE = "stories-grouping.npz"
STATE_VERSION = 1
_NOT_SETTINGS = ("regroup_share",)  # settings that say when to join, not how to group


@dataclass
class GroupingState:
    """What the next run needs to place new documents into this run's stories."""

    key: str  # the stories cache key of this grouping
    base: str  # the key of its inputs (documents, dedup, settings, code): equal means nothing changed
    fingerprint: str  # stories code and settings (`fingerprint`)
    keys: list[str]  # document keys, in row order
    sha256: list[str]
    label: np.ndarray  # story index per document
    matrix: sp.csr_matrix  # TF-IDF rows
    vocab: list[str]
    df: np.ndarray  # document frequency per term
    n: int  # documents counted in df
    off_topic: list[tuple[int, str]]  # (row, paragraph id after the doc id)
    related: tuple[np.ndarray, np.ndarray, np.ndarray]  # (row a, row b, cosine) at least related_threshold


def fingerprint(settings: StoriesSettings) -> str:
    """Stories code and the settings that shape a grouping: a state made under others is not joined."""
    data = {k: v for k, v in settings.model_dump(mode="json").items() if k not in _NOT_SETTINGS}
    return digest("stories-grouping", STATE_VERSION, code_fingerprint("pipeline.stories", "pipeline.story_join"),
                  data)


def state_of(documents: Sequence[Document], grouped: Grouped, settings: StoriesSettings, key: str, base: str,
             n: int | None = None) -> GroupingState:
    """The state of a grouping (`n`: documents counted in its frequencies, by default the documents)."""
    space = grouped.space
    vocab = [""] * len(space.vocab)
    for t, i in space.vocab.items():
        vocab[i] = t
    matrix, df = space.matrix, np.asarray(space.df, dtype=np.int64)
    if not np.all(df > 0):  # terms of documents gone: the vocabulary stays linear in the documents here
        used = df > 0
        column = np.cumsum(used) - 1
        matrix = sp.csr_matrix((matrix.data, column[matrix.indices], matrix.indptr),
                               shape=(matrix.shape[0], int(used.sum())))
        vocab, df = [t for t, u in zip(vocab, used.tolist()) if u], df[used]
    row = {d.doc_id: i for i, d in enumerate(documents)}
    off = sorted((row[pid.split(":")[0]], pid.split(":", 1)[1]) for pid in grouped.off_topic)
    a, b, s = grouped.pairs
    keep = s >= settings.related_threshold
    return GroupingState(key, base, fingerprint(settings), [document_key(d) for d in documents],
                         [d.sha256 for d in documents], np.asarray(grouped.story_of, dtype=np.int64),
                         matrix, vocab, df,
                         len(documents) if n is None else n, off, (a[keep], b[keep], s[keep]))


def save_state(path: Path, state: GroupingState) -> None:
    """Written atomically (a temporary file renamed)."""
    m = state.matrix
    meta = {"version": STATE_VERSION, "key": state.key, "base": state.base, "fingerprint": state.fingerprint,
            "keys": state.keys, "sha256": state.sha256, "vocab": state.vocab, "n": state.n,
            "off_topic": state.off_topic}
    arrays = {"meta": np.array(json.dumps(meta, ensure_ascii=False)), "label": state.label,
              "indptr": m.indptr.astype(np.int64), "indices": m.indices.astype(np.int32),
              "data": m.data.astype(np.float32), "df": state.df, "rel_a": state.related[0],
              "rel_b": state.related[1], "rel_s": state.related[2].astype(np.float32)}
    tmp = path.with_name(path.name + ".tmp")
    # an .npz (what np.load reads) with fixed entry dates: the same grouping writes the same bytes
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
        for name, array in arrays.items():
            with z.open(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(array), allow_pickle=False)
    os.replace(tmp, path)


def load_state(path: Path) -> GroupingState:
    """The state a run saved; ValueError (with what is wrong) when it does not read back."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("version") != STATE_VERSION:
                raise ValueError(f"state version {meta.get('version')}, expected {STATE_VERSION}")
            n, width = len(meta["keys"]), len(meta["vocab"])
            matrix = sp.csr_matrix((z["data"].astype(np.float64), z["indices"], z["indptr"]), shape=(n, width))
            state = GroupingState(meta["key"], meta["base"], meta["fingerprint"], meta["keys"], meta["sha256"],
                                  z["label"], matrix, meta["vocab"], z["df"], int(meta["n"]),
                                  [(int(r), str(p)) for r, p in meta["off_topic"]],
                                  (z["rel_a"], z["rel_b"], z["rel_s"].astype(np.float64)))
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"{path}: not a stories grouping state ({exc})") from exc
    if len(state.label) != n or len(state.sha256) != n or len(state.df) != width:
        raise ValueError(f"{path}: not a stories grouping state (arrays of different lengths)")
    return state


def previous_state(previous_run: Path | None) -> tuple[GroupingState | None, str]:
    """The previous run's grouping state, or None and why there is none."""
    return run_state.previous_state(previous_run, STATE_FILE, load_state, "grouping state")


def decide(state: GroupingState | None, why: str, documents: Sequence[Document], settings: StoriesSettings,
           ) -> str:
    """Empty when the documents can be placed into the previous grouping; otherwise why to regroup."""
    if state is None:
        return why
    if state.fingerprint != fingerprint(settings):
        return "the stories settings or code changed since the previous run"
    previous = dict(zip(state.keys, state.sha256))
    keys = [document_key(d) for d in documents]
    fresh = sum(1 for k, d in zip(keys, documents) if previous.get(k) != d.sha256)
    gone = len(previous) - (len(keys) - sum(1 for k in keys if k not in previous))
    share = settings.regroup_share
    if fresh > share * len(documents):
        return f"{fresh:,} new or edited documents are more than stories.regroup_share ({share:g}) " \
               f"of {len(documents):,}"
    if gone > share * len(previous):
        return f"{gone:,} of the previous run's {len(previous):,} documents are gone " \
               f"(more than stories.regroup_share, {share:g})"
    return ""


@dataclass(frozen=True)
class Joined:
    new: int  # documents placed
    kept: int  # documents kept in their story (edited ones included)
    joined: int  # new documents that joined a previous story
    new_stories: int  # stories of new documents only
    gone: int  # previous documents no longer in the corpus


def join(documents: Sequence[Document], dedup_result: DedupResult, settings: StoriesSettings,
         state: GroupingState) -> tuple[Grouped, Joined, int]:
    """The previous grouping with the new documents placed; the counts; documents counted in the frequencies."""
    where = {k: i for i, k in enumerate(state.keys)}
    old_of = [where.get(document_key(d)) for d in documents]
    kept = [i for i, o in enumerate(old_of) if o is not None and state.sha256[o] == documents[i].sha256]
    edited = [i for i, o in enumerate(old_of) if o is not None and state.sha256[o] != documents[i].sha256]
    new = [i for i, o in enumerate(old_of) if o is None]
    fresh = new + edited  # documents read again
    still = {old_of[i] for i in kept}
    dropped = [r for r in range(len(state.keys)) if r not in still]  # gone or edited: out of the frequencies
    df = state.df.copy()
    np.subtract.at(df, state.matrix[dropped].indices, 1)
    np.maximum(df, 0, out=df)
    vocab = {t: i for i, t in enumerate(state.vocab)}
    fresh_docs = [documents[i] for i in fresh]
    bridged = bridged_texts(documents, dedup_result) if any(d.lang != "fr" for d in fresh_docs) else None
    read, para_terms = _document_space(fresh_docs, settings, bridged, (vocab, df, state.n - len(dropped)))
    width = len(read.vocab)

    # every document's row, in corpus order: kept rows as they were, fresh rows just read
    old_rows = state.matrix[[old_of[i] for i in kept]]
    old_rows = sp.csr_matrix((old_rows.data, old_rows.indices, old_rows.indptr), shape=(len(kept), width))
    place = np.empty(len(documents), dtype=np.int64)
    place[kept] = np.arange(len(kept))
    place[fresh] = len(kept) + np.arange(len(fresh))
    space = _Space(sp.csr_matrix(sp.vstack([old_rows, read.matrix], format="csr")[place]), read.vocab, read.idf,
                   read.df)
    n = len(documents)
    days = [_days(d.date) for d in documents]
    a, b, sims = candidate_pairs(space, days, settings, rows=np.asarray(new, dtype=np.int64))

    # the previous stories, already formed (edited documents stay in theirs)
    clusters = _Clusters(space.matrix)
    members: dict[int, list[int]] = defaultdict(list)
    for i in sorted(kept + edited):
        members[int(state.label[old_of[i]])].append(i)
    story_rows = list(members.values())
    roots = [ms[0] for ms in story_rows]
    for ms in story_rows:
        for i in ms:
            clusters.parent[i] = ms[0]
        clusters.size[ms[0]] = len(ms)
    clusters.settled.update(roots)
    if story_rows:
        labels = np.concatenate([np.full(len(ms), k) for k, ms in enumerate(story_rows)])
        rows = np.concatenate([np.asarray(ms) for ms in story_rows])
        ind = sp.csr_matrix((np.ones(len(rows)), (labels, rows)), shape=(len(story_rows), n))
        sums = _top_terms(sp.csr_matrix(ind @ space.matrix), _CENTROID_TERMS)
        norms = np.sqrt(np.asarray(sums.multiply(sums).sum(axis=1)).ravel())
        touched = {clusters.find(int(x)) for x in np.concatenate([a, b]).tolist()}
        for k, (root, ms) in enumerate(zip(roots, story_rows)):
            if len(ms) > 1:
                clusters.norm[root] = float(norms[k])
                if root in touched:
                    clusters.sums[root] = _row(sums, k)
    story_of = _merge(space, a, b, sims, settings, clusters)

    # a new document's paragraphs vote, as in a cold run
    neighbours: dict[int, set[int]] = defaultdict(set)
    strong = sims >= settings.paragraph_threshold
    for x, y in zip(a[strong].tolist(), b[strong].tolist()):
        neighbours[x].add(y)
        neighbours[y].add(x)
    paragraphs: list[list[_Para]] = [[] for _ in range(n)]
    for i, ps in zip(fresh, space.paragraphs([ps if i in neighbours else [] for i, ps in zip(fresh, para_terms)])):
        paragraphs[i] = ps
    story_of, off_topic = _refine(documents, space, paragraphs, story_of, neighbours, settings)
    row_of = np.full(len(state.keys), -1, dtype=np.int64)  # previous row -> document, for documents kept
    row_of[[old_of[i] for i in kept]] = kept
    off_topic |= {f"{documents[row_of[r]].doc_id}:{p}" for r, p in state.off_topic if row_of[r] >= 0}

    # related pairs: those kept (both documents still here) and the new documents'
    row_of[[old_of[i] for i in edited]] = edited
    ra, rb, rs = (row_of[state.related[0]], row_of[state.related[1]], state.related[2])
    ok = (ra >= 0) & (rb >= 0)
    pairs = (np.concatenate([ra[ok], a]), np.concatenate([rb[ok], b]), np.concatenate([rs[ok], sims]))
    stories, number = assemble(documents, space, story_of, pairs, off_topic, dedup_result, settings)
    previous = {story_of[r] for r in roots}
    counts = Joined(len(new), len(kept) + len(edited), sum(1 for i in new if story_of[i] in previous),
                    len({story_of[i] for i in new} - previous), len(state.keys) - len(kept) - len(edited))
    return Grouped(stories, space, number, pairs, off_topic), counts, state.n - len(dropped) + len(fresh)
