"""Dedup across runs: what a run keeps so that the next one redoes only the new documents' part.

A scheduled job runs every night on a growing corpus. Deduplicating every
document again costs what a cold run costs; instead each run keeps, in its run
folder next to `dedup.json` (`STATE_FILE`), what `pipeline.dedup` needs to
redo only the work that involves new or edited documents
(`dedup.dedup_across_runs`, `dedup.DedupMemo`):

* the MinHash sketches of the texts it sent to MinHash (band keys, shingle
  counts, containment samples: `minhash.Sketches`), so only new texts are
  shingled again; the candidate pairs are made again over the whole corpus from
  them (buckets, windows and the containment cap are corpus-wide, so they are
  exactly a full run's), and only candidates that were not already candidates
  between the same texts are verified; the others keep their verdict (the
  kept near and contained links, or none);
* the candidate pairs among those texts (sorted codes; at most a bucket window
  per band and the containment budget per text: linear in the texts), so the
  previous candidates are not made again from the sketches;
* the document pairs compared for same facts and the links found between
  them (links as arrays: ends, relation, score): a pair of unchanged documents found again keeps its links (the pairs
  themselves are found again over the whole corpus: their similarity weighs
  terms by the IDF of all documents);
* the documents (ids, content hashes, body paragraphs and sentences of each)
  to map the previous items onto this run's;
* what dedup reads of every text and document (`dedup.CorpusTexts`): the text
  keys of body paragraphs and sentences, their fact signatures (each distinct
  one once), the sentences' fact terms and each document's stems (its distinct
  stems, in the order they first appear, and their counts: its TF-IDF row), as arrays:
  a run with a few new documents decodes the features of those only (their
  stems are enough to weigh the documents' similarity over the corpus, their
  terms and signatures to compare the documents around the new ones);

* each level's groups (members, relations, scores) and link components, and
  the cross-language links: only the components a change touches (a new item,
  a gone one, a link gained or lost) are grouped again
  (`dedup._groups_across_runs`); the others keep their groups.

Exact links and cross-language links are made again; group ids are given
again in order. The result is the same as a full dedup of the same corpus
(tests/test_dedup_state.py).

`decide` says when to run in full instead: no state in the previous run,
another dedup code or setting (`fingerprint`), documents in another order, or
more than `dedup.incremental_share` of the corpus new or edited (or of the
previous documents gone).

NumPy arrays and JSON in an .npz, no pickle; the same state writes the same bytes.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from . import run_state
from .config import DedupSettings
from .dedup import (
    RELATIONS, CorpusTexts, DedupMemo, DocStems, GroupMemo, LevelMemo, Links, Previous, SignatureTable, TextKeys,
)
from .minhash import Sketches
from .model import Document

log = logging.getLogger("pipeline")

STATE_FILE = "dedup-state.npz"
STATE_VERSION = 4
# settings that say when to reuse the previous run, not what dedup finds
NOT_SETTINGS = ("incremental_share",)
_RELATIONS = RELATIONS


@dataclass
class DedupState:
    """What the next run needs to redo only the new documents' part of this run's dedup."""

    key: str  # the dedup cache key of this run's result
    fingerprint: str  # dedup code and settings (`pipeline.flow.DedupStep.fingerprint`)
    doc_ids: list[str]
    sha256: list[str]
    paragraphs: np.ndarray  # body paragraphs per document
    sentences: np.ndarray  # body sentences per document
    memo: DedupMemo


def body_counts(documents: Sequence[Document]) -> tuple[np.ndarray, np.ndarray]:
    """Body paragraphs and body sentences of each document (what dedup compares): one pass over each
    document's paragraphs (two generator passes took 0.06 s at 10,000 articles)."""
    paragraphs = np.zeros(len(documents), dtype=np.int64)
    sentences = np.zeros(len(documents), dtype=np.int64)
    for k, d in enumerate(documents):
        n_p = n_s = 0
        for p in d.paragraphs:
            if p.kind == "body":
                n_p += 1
                n_s += len(p.sentences)
        paragraphs[k], sentences[k] = n_p, n_s
    return paragraphs, sentences


def state_of(documents: Sequence[Document], memo: DedupMemo, key: str, fingerprint: str) -> DedupState:
    paragraphs, sentences = memo.texts.body_counts()
    return DedupState(key, fingerprint, [d.doc_id for d in documents], [d.sha256 for d in documents],
                      paragraphs, sentences, memo)


def _links_arrays(prefix: str, links: Links) -> dict[str, np.ndarray]:
    return {f"{prefix}_a": links.a.astype(np.int64), f"{prefix}_b": links.b.astype(np.int64),
            f"{prefix}_rel": links.rel.astype(np.int8), f"{prefix}_score": links.score.astype(np.float64)}


def _links_from(z: dict[str, np.ndarray], prefix: str) -> Links:
    links = Links(z[f"{prefix}_a"], z[f"{prefix}_b"], z[f"{prefix}_rel"], z[f"{prefix}_score"])
    if not (links.a.size == links.b.size == links.rel.size == links.score.size) or (
            links.rel.size and not (0 <= int(links.rel.min()) <= int(links.rel.max()) < len(_RELATIONS)
                                    and int(links.a.min()) >= 0 and int(links.b.min()) >= 0)):
        raise ValueError(f"{prefix} links of different lengths or unknown relations")
    return links


def _top(links: Links) -> int:
    """The largest item a link names (-1: none)."""
    return max(int(links.a.max()), int(links.b.max())) if len(links) else -1


def _level_arrays(prefix: str, level: LevelMemo) -> dict[str, np.ndarray]:
    sk = level.sketches
    samples = np.sort(np.concatenate(sk.samples)) if sk.samples else np.empty(0, np.uint64)
    return {f"{prefix}_units": np.asarray(level.units, dtype=np.int64), f"{prefix}_bands": sk.band_keys,
            f"{prefix}_candidates": np.asarray(level.candidates, dtype=np.int64),
            f"{prefix}_shingles": sk.shingle_counts, f"{prefix}_samples": samples,
            f"{prefix}_sample_counts": sk.sample_counts, **_links_arrays(prefix, level.links)}


def _level_from(z: dict[str, np.ndarray], prefix: str) -> LevelMemo:
    sketches = Sketches(z[f"{prefix}_bands"], z[f"{prefix}_shingles"], [z[f"{prefix}_samples"]],
                        z[f"{prefix}_sample_counts"])
    return LevelMemo(z[f"{prefix}_units"], sketches, _links_from(z, prefix), z[f"{prefix}_candidates"])


def _keys_arrays(prefix: str, keys: TextKeys) -> dict[str, np.ndarray]:
    return {f"{prefix}_digest": keys.digest.view(np.uint8).reshape(-1, 16), f"{prefix}_key_words": keys.key_words,
            f"{prefix}_words": keys.words}


def _keys_from(z: dict[str, np.ndarray], prefix: str) -> TextKeys:
    digest = z[f"{prefix}_digest"]
    if digest.dtype != np.uint8 or digest.ndim != 2 or digest.shape[1] != 16:
        raise ValueError(f"{prefix}_digest: {digest.dtype} {digest.shape}, expected uint8 [n, 16]")
    return TextKeys(np.ascontiguousarray(digest).view("V16").ravel(), z[f"{prefix}_key_words"].astype(np.int32),
                    z[f"{prefix}_words"].astype(np.int32))


def _lists_arrays(prefix: str, lists: DocStems) -> dict[str, np.ndarray]:
    out = {f"{prefix}_vocab": np.array(json.dumps(lists.vocab, ensure_ascii=False)),
           f"{prefix}_ids": lists.ids.astype(np.int32), f"{prefix}_lengths": lists.lengths.astype(np.int64)}
    if lists.counts is not None:  # (in the smallest unsigned type that holds them: most are 1)
        top = int(lists.counts.max(initial=0))
        out[f"{prefix}_counts"] = lists.counts.astype(np.min_scalar_type(top))
    return out


def _lists_from(z: dict[str, np.ndarray], prefix: str, units: int, counted: bool = False) -> DocStems:
    lists = DocStems(json.loads(str(z[f"{prefix}_vocab"])), z[f"{prefix}_ids"], z[f"{prefix}_lengths"],
                     z[f"{prefix}_counts"] if counted else None)
    ids = lists.ids
    if lists.lengths.size != units or ids.size != int(lists.lengths.sum()) or (
            ids.size and not 0 <= int(ids.min()) <= int(ids.max()) < len(lists.vocab)) or (
            counted and (lists.counts.size != ids.size or lists.counts.dtype.kind != "u"
                         or (ids.size and int(lists.counts.min()) < 1))):
        raise ValueError(f"{prefix}: word lists of another shape")
    return lists


def _signatures_arrays(prefix: str, table: SignatureTable) -> dict[str, np.ndarray]:
    return {f"{prefix}_values": np.array(json.dumps(table.values, ensure_ascii=False)),
            f"{prefix}_ids": table.ids.astype(np.int32)}


def _signatures_from(z: dict[str, np.ndarray], prefix: str, texts: int) -> SignatureTable:
    table = SignatureTable(json.loads(str(z[f"{prefix}_values"])), z[f"{prefix}_ids"])
    ids = table.ids
    if ids.size != texts or (ids.size and not 0 <= int(ids.min()) <= int(ids.max()) < len(table.values)) or not all(
            isinstance(v, list) and len(v) == 6 for v in table.values):
        raise ValueError(f"{prefix}: signatures of another shape")
    return table


def _texts_arrays(texts: CorpusTexts) -> dict[str, np.ndarray]:
    return {**_keys_arrays("pk", texts.paragraph_keys), **_keys_arrays("sk", texts.sentence_keys),
            **_signatures_arrays("psig", texts.paragraph_signatures),
            **_signatures_arrays("ssig", texts.sentence_signatures),
            **_lists_arrays("terms", texts.terms), **_lists_arrays("stems", texts.stems)}


def _texts_from(z: dict[str, np.ndarray], paragraphs: int, sentences: int, documents: int) -> CorpusTexts:
    texts = CorpusTexts(_keys_from(z, "pk"), _keys_from(z, "sk"), _signatures_from(z, "psig", paragraphs),
                        _signatures_from(z, "ssig", sentences), _lists_from(z, "terms", sentences),
                        _lists_from(z, "stems", documents, counted=True), z["paragraphs"], z["sentences"])
    if len(texts.paragraph_keys) != paragraphs or len(texts.sentence_keys) != sentences:
        raise ValueError("text keys of another shape")
    return texts


def _groups_arrays(prefix: str, groups: GroupMemo) -> dict[str, np.ndarray]:
    return {f"{prefix}_component": groups.component, f"{prefix}_members": groups.members,
            f"{prefix}_starts": groups.starts, f"{prefix}_relations": groups.relations,
            f"{prefix}_scores": groups.scores}


def _groups_from(z: dict[str, np.ndarray], prefix: str) -> GroupMemo:
    return GroupMemo(z[f"{prefix}_component"], z[f"{prefix}_members"], z[f"{prefix}_starts"],
                     z[f"{prefix}_relations"], z[f"{prefix}_scores"])


def _groups_fit(groups: GroupMemo, items: int) -> bool:
    members, starts = groups.members, groups.starts
    return (groups.component.size == items and members.size == groups.relations.size == groups.scores.size
            and starts.size >= 1 and int(starts[0]) == 0 and int(starts[-1]) == members.size
            and bool(np.all(np.diff(starts) >= 2))
            and (members.size == 0 or (int(members.min()) >= 0 and int(members.max()) < items))
            and (items == 0 or (int(groups.component.min()) >= 0 and int(groups.component.max()) < items))
            and (groups.relations.size == 0 or int(groups.relations.max()) < len(_RELATIONS)))


def save_state(path: Path, state: DedupState) -> None:
    """Written atomically (a temporary file renamed); the same state writes the same bytes."""
    meta = {"version": STATE_VERSION, "key": state.key, "fingerprint": state.fingerprint,
            "doc_ids": state.doc_ids, "sha256": state.sha256}
    m = state.memo
    arrays = {"meta": np.array(json.dumps(meta, ensure_ascii=False)), "paragraphs": state.paragraphs,
              "sentences": state.sentences, "doc_pairs": np.asarray(m.doc_pairs, dtype=np.int64).reshape(-1, 2),
              **_level_arrays("p", m.paragraphs), **_level_arrays("s", m.sentences),
              **_links_arrays("fact", m.fact_links), **_links_arrays("across", m.across_links),
              **_groups_arrays("pg", m.paragraph_groups), **_groups_arrays("sg", m.sentence_groups),
              **_texts_arrays(m.texts)}
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:  # an .npz with fixed entry dates
        for name, array in arrays.items():
            with z.open(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(array, order="C"), allow_pickle=False)
    os.replace(tmp, path)


def state_key(path: Path) -> str | None:
    """The dedup key a saved state was made for (reads its metadata only), or None when unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
        return meta["key"] if meta.get("version") == STATE_VERSION else None
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return None


def load_state(path: Path) -> DedupState:
    """The state a run saved; ValueError (with what is wrong) when it does not read back."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            z = {k: npz[k] for k in npz.files}
        meta = json.loads(str(z["meta"]))
        if meta.get("version") != STATE_VERSION:
            raise ValueError(f"state version {meta.get('version')}, expected {STATE_VERSION}")
        memo = DedupMemo(_level_from(z, "p"), _level_from(z, "s"), z["doc_pairs"], _links_from(z, "fact"),
                         _groups_from(z, "pg"), _groups_from(z, "sg"), _links_from(z, "across"),
                         _texts_from(z, int(z["paragraphs"].sum()), int(z["sentences"].sum()), len(meta["doc_ids"])))
        state = DedupState(meta["key"], meta["fingerprint"], meta["doc_ids"], meta["sha256"], z["paragraphs"],
                           z["sentences"], memo)
    except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a dedup state ({exc})") from exc
    n = len(state.doc_ids)
    if len(state.sha256) != n or state.paragraphs.size != n or state.sentences.size != n or not all(
            _level_fits(level, int(items.sum())) and _groups_fit(groups, int(items.sum())) for level, groups, items in
            ((memo.paragraphs, memo.paragraph_groups, state.paragraphs),
             (memo.sentences, memo.sentence_groups, state.sentences))) or not all(
            _top(links) < int(state.sentences.sum())
            for links in (memo.fact_links, memo.across_links)):
        raise ValueError(f"{path}: not a dedup state (arrays of different lengths)")
    return state


def _level_fits(level: LevelMemo, items: int) -> bool:
    """The level's texts, sketches and links within its items (a state that reads back but does not fit
    is not used)."""
    units, sk, codes = level.units, level.sketches, level.candidates
    return (units.size == sk.shingle_counts.size == sk.sample_counts.size == sk.band_keys.shape[-1]
            and (units.size == 0 or int(units.max()) < items)
            and (codes.size == 0 or (int(codes[0]) >= 0 and int(codes[-1]) < units.size ** 2))
            and _top(level.links) < items)


def previous_state(previous_run: Path | None) -> tuple[DedupState | None, str]:
    """The previous run's dedup state, or None and why there is none."""
    return run_state.previous_state(previous_run, STATE_FILE, load_state, "dedup state")


@dataclass(frozen=True)
class Change:
    new: int  # new or edited documents
    gone: int  # previous documents no longer in the corpus (or edited)
    kept: int  # unchanged documents


def previous(state: DedupState, documents: Sequence[Document], fingerprint: str, settings: DedupSettings,
             counts: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[Previous | None, Change | None, str]:
    """The previous run's memo mapped onto these documents, what changed, and why not when it cannot be
    used (`Previous` None: dedup runs in full). `counts`: the documents' `body_counts`, when the caller has
    them (`dedup.body_counts`)."""
    if state.fingerprint != fingerprint:
        return None, None, "the dedup settings or code changed since the previous run"
    if not documents or not state.doc_ids:
        return None, None, "no documents in this run or in the previous one"
    row = {d: k for k, d in enumerate(state.doc_ids)}
    paragraphs, sentences = counts if counts is not None else body_counts(documents)
    docs = np.full(len(state.doc_ids), -1, dtype=np.int64)
    for k, d in enumerate(documents):
        r = row.get(d.doc_id)
        if (r is not None and state.sha256[r] == d.sha256 and state.paragraphs[r] == paragraphs[k]
                and state.sentences[r] == sentences[k]):
            docs[r] = k
    kept = int((docs >= 0).sum())
    change = Change(len(documents) - kept, len(state.doc_ids) - kept, kept)
    share = settings.incremental_share
    if share == 0:
        return None, change, "dedup.incremental_share is 0"
    if change.new > share * len(documents):
        return None, change, (f"{change.new:,} new or edited documents are more than dedup.incremental_share "
                              f"({share:g}) of {len(documents):,}")
    if change.gone > share * len(state.doc_ids):
        return None, change, (f"{change.gone:,} of the previous run's {len(state.doc_ids):,} documents are gone "
                              f"or edited (more than dedup.incremental_share, {share:g})")
    if np.any(np.diff(docs[docs >= 0]) <= 0):
        return None, change, "the documents are in another order than in the previous run"
    return Previous(state.memo, _items(docs, state.paragraphs, paragraphs),
                    _items(docs, state.sentences, sentences), docs), change, ""


def _items(docs: np.ndarray, before: np.ndarray, now: np.ndarray) -> np.ndarray:
    """Each previous item's index now (-1: its document is gone or edited), from the documents' map and
    their item counts then and now."""
    start_before = np.concatenate(([0], np.cumsum(before)))[:-1]
    start_now = np.concatenate(([0], np.cumsum(now)))[:-1]
    shift = np.where(docs >= 0, start_now[np.maximum(docs, 0)] - start_before, -1)
    out = np.arange(int(before.sum()), dtype=np.int64) + np.repeat(shift, before)
    out[np.repeat(docs < 0, before)] = -1
    return out
