"""The flow of steps: one composition for run, eval and tests; output independent of the pool size."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.evaluate import summarize_document
from pipeline.flow import summarize_documents
from pipeline.runner import RunOptions, run

from conftest import apertium_missing
from test_stories_mixed import write_mixed_corpus


def _outputs(run_dir: Path) -> dict[str, str]:
    """Every brief and review file, with the run id (which differs between runs) blanked out."""
    files = {}
    for path in sorted(run_dir.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            data = path.read_bytes().replace(run_dir.name.encode(), b"<run>")  # stories-grouping.npz is binary
            files[str(path.relative_to(run_dir))] = hashlib.sha256(data).hexdigest()
    return files


@pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")
def test_one_and_two_workers_write_identical_briefs(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.flow.TRANSLATE_CHUNK", 4)  # many chunks: the workers share the translation
    monkeypatch.setattr("pipeline.flow.TRANSLATE_IN_PROCESS", 0)  # (even a few texts)
    monkeypatch.setattr("pipeline.ingest.INGEST_SLICE", 2)  # and the files to analyse
    monkeypatch.setattr("pipeline.render.review.PAGES_PER_ITEM", 1)  # and the review pages to render
    corpus = write_mixed_corpus(tmp_path / "corpus")
    outputs = {}
    for workers in (1, 2):
        settings = Settings.model_validate({"run": {"workers": workers}, "translate": {"backend": "apertium"},
                                            "cache": {"enabled": False}})
        report = run(RunOptions(settings=settings, config_path=Path("test"), corpus=corpus,
                                out=tmp_path / f"out{workers}"))
        assert report.exit_code == 0, report.message
        assert report.manifest["executor"] == {"kind": "local", "workers": workers}
        assert report.manifest["counts"]["stories"] > 1  # several stories: the pool really splits the work
        outputs[workers] = _outputs(report.run_dir)
    assert outputs[1] and outputs[1] == outputs[2]


def test_eval_summarizes_through_the_flow(sample):
    settings = Settings()
    doc = sample.documents[0]
    through_flow = summarize_documents([doc], settings)[0].summary
    assert summarize_document(doc, settings) == through_flow
    assert through_flow.sentences


def test_new_articles_cost_dedup_only_their_own_per_document_work(sample, tmp_path, monkeypatch):
    """Dedup's per-document work is cached by document content: a run with one more article computes
    only that article's, on the pool, and finds the same groups as a run from scratch."""
    from pipeline import dedup as dedup_module, dedup_features
    from pipeline.cache import Cache
    from pipeline.executors.local import LocalExecutor
    from pipeline.flow import NoHooks, corpus_steps

    settings = Settings()
    documents = list(sample.documents)
    assert len(documents) > 3
    cache = Cache(tmp_path / "cache.sqlite")
    corpus_steps(documents[:-1], settings, cache, NoHooks(), LocalExecutor(2))

    computed: list[str] = []
    real = dedup_features.document_features

    def counted(doc, words=None):
        computed.append(doc.doc_id)
        return real(doc, words)

    monkeypatch.setattr(dedup_features, "document_features", counted)
    again, _, cached = corpus_steps(documents, settings, cache, NoHooks(), LocalExecutor(1))
    assert not cached and computed == [documents[-1].doc_id]
    assert again == dedup_module.dedup(documents, settings.dedup)


def _write_stories_sharing_a_sentence(folder: Path) -> Path:
    """Two stories (a council vote, a football match), two articles each; one sentence in an article of each."""
    shared = ("Le préfet de région a annoncé mardi soir de nouvelles mesures de sécurité pour tous les grands "
              "rassemblements publics.")
    articles = {
        "a1": ("Lyon : le conseil municipal vote le budget des transports",
               "Le conseil municipal de Lyon a adopté lundi un budget de 120 millions d'euros pour les transports en "
               "commun. La majorité a voté pour, l'opposition s'est abstenue.",
               f"{shared} Le maire Grégory Doucet a salué « une étape décisive pour la ville ». Les travaux du nouveau "
               "tramway commenceront en septembre."),
        "a2": ("Transports à Lyon : un budget de 120 millions adopté",
               "Les élus lyonnais ont adopté lundi un budget de 120 millions d'euros consacré aux transports en commun. "
               "L'opposition s'est abstenue lors du vote.",
               "Le maire Grégory Doucet a salué « une étape décisive pour la ville ». Le chantier du nouveau tramway "
               "débutera en septembre prochain."),
        "b1": ("Football : l'Olympique de Marseille s'impose face à Nantes",
               "L'Olympique de Marseille a battu le FC Nantes trois buts à un dimanche au stade Vélodrome. L'attaquant "
               "Pierre-Emerick Aubameyang a inscrit un doublé.",
               f"{shared} L'entraîneur Gennaro Gattuso s'est dit « fier de ses joueurs ». Marseille remonte à la "
               "deuxième place du championnat."),
        "b2": ("Ligue 1 : Marseille domine Nantes au Vélodrome",
               "Marseille a dominé Nantes trois buts à un dimanche soir au stade Vélodrome. Pierre-Emerick Aubameyang "
               "a marqué deux fois.",
               "L'entraîneur Gennaro Gattuso s'est dit « fier de ses joueurs ». L'OM occupe désormais la deuxième place "
               "de la Ligue 1."),
    }
    folder.mkdir(parents=True)
    for name, (title, *paragraphs) in articles.items():
        (folder / f"{name}.txt").write_text("\n\n".join([title, *paragraphs]) + "\n", encoding="utf-8")
    return folder


def _two_stories_sharing_a_sentence(tmp_path: Path):
    """(settings, documents, index, stories, groups by document, a worker's StoryContext) of two stories that
    share a sentence."""
    from pipeline.corpus_index import CorpusIndex
    from pipeline.flow import NoHooks, StoryContext, _null_cache, corpus_steps, groups_by_document
    from pipeline.ingest import ingest
    from pipeline.summarize import make_summarizer

    settings = Settings()
    documents = ingest(_write_stories_sharing_a_sentence(tmp_path / "corpus"), settings.ingest).documents
    index = CorpusIndex.build(documents)
    dedup_result, stories, _ = corpus_steps(documents, settings, _null_cache(), NoHooks())
    by_doc = groups_by_document(dedup_result, index)
    return settings, documents, index, stories, by_doc, StoryContext(settings, make_summarizer(settings.summarize))


def test_a_story_sent_with_its_slice_of_the_corpus_is_summarised_as_with_the_whole_corpus(tmp_path):
    """Workers get each story's documents and, of other stories' documents, only the sentences in its
    duplicate groups (with their citations): the same summary, quotes and translation plan as from the
    whole corpus, also after the trip to a worker (pickled)."""
    import pickle

    from pipeline.corpus_index import SliceParts
    from pipeline.flow import StoryInput, _summarize_story, story_input

    settings, documents, index, stories, by_doc, ctx = _two_stories_sharing_a_sentence(tmp_path)
    assert len(stories) == 2
    for story in stories:
        item = story_input(story, None, index, by_doc)
        assert {s.sid.split(":")[0] for s, _, _ in item.parts.others} - set(story.doc_ids)  # the other story's copy
        assert {d.doc_id for d in item.parts.documents} == set(story.doc_ids)
        whole = StoryInput(story, None, SliceParts(tuple(documents), ()), item.groups)
        sent = pickle.loads(pickle.dumps(item))
        assert _summarize_story(ctx, sent) == _summarize_story(ctx, whole)


def test_a_story_summary_key_leaves_out_only_what_the_summary_never_reads(tmp_path):
    """A new article near a story changes the story's related documents, not its summary: the key stays (no
    summary made again); its paragraphs are read: the key moves with them."""
    import dataclasses

    from pipeline.flow import SummarizeStep, _summarize_story, docs_by_group, story_input
    from pipeline.model import DupGroup, DupMember, RelatedDocument

    settings, _, index, stories, by_doc, ctx = _two_stories_sharing_a_sentence(tmp_path)
    step = SummarizeStep()
    fixed, group_docs = step.fixed(settings), docs_by_group(by_doc)
    story, other = stories
    near = dataclasses.replace(story, related=(RelatedDocument(other.doc_ids[0], other.story_id, 0.5, "near"),))
    assert near.related != story.related
    key = step.key(story, index, by_doc, fixed, group_docs)
    assert step.key(near, index, by_doc, fixed, group_docs) == key
    assert _summarize_story(ctx, story_input(near, None, index, by_doc)) == \
        _summarize_story(ctx, story_input(story, None, index, by_doc))
    fewer = dataclasses.replace(story, paragraph_ids=story.paragraph_ids[:-1])
    assert step.key(fewer, index, by_doc, fixed, group_docs) != key
    # a paragraph of the other story repeating one of this story's: summaries read no paragraph group
    mine, theirs = (index.documents[s.doc_ids[0]].paragraphs[0].pid for s in (story, other))
    repeated = DupGroup("p-new", "paragraph", mine, (DupMember(mine, "exact", 1.0), DupMember(theirs, "exact", 1.0)))
    more = {d: list(gs) for d, gs in by_doc.items()}
    for d in (story.doc_ids[0], other.doc_ids[0]):
        more.setdefault(d, []).append(repeated)
    assert step.key(story, index, more, fixed, docs_by_group(more)) == key
    assert story_input(story, None, index, more) == story_input(story, None, index, by_doc)


def test_a_summary_key_names_the_code_that_makes_and_caches_summaries():
    """Editing the worker function, what a story's input holds or how summaries are cached (all in
    pipeline.flow) makes every summary again: the step's code fingerprint covers their module."""
    from pipeline.flow import SummarizeStep, _encoded_text, _summarize_story, _summarized, story_input

    for fn in (_summarize_story, _summarized, story_input, _encoded_text):
        assert fn.__module__ in SummarizeStep.code


def test_a_cached_story_text_reads_back_equal_and_keeps_citations_as_sentence_ids(tmp_path):
    """The summary cache keeps a citation as its sentence id where the index cites that sentence alike (made
    again from the index when read back), whole otherwise; what is read back equals what was made."""
    import dataclasses
    import json

    from pipeline.flow import _decoded_text, _encoded_text, _summarize_story, _summarized, story_input

    _, _, index, stories, by_doc, ctx = _two_stories_sharing_a_sentence(tmp_path)
    for story in stories:
        text = _summarize_story(ctx, story_input(story, None, index, by_doc))
        cited = [c for s in text.summary.sentences for c in s.citations]
        assert len(cited) > 1
        # a worker encodes the entry against the story's slice: the same entry as against the whole index
        assert _summarized(ctx, story_input(story, None, index, by_doc)) == (text, _encoded_text(text, index))
        value = json.loads(json.dumps(_encoded_text(text, index)))
        assert [c for s in value["summary"]["sentences"] for c in s["citations"]] == [c.sid for c in cited]
        assert _decoded_text(story, value, index) == text
        # a citation the index would not make alike is kept whole
        odd = dataclasses.replace(cited[0], prefix="elsewhere")
        first = dataclasses.replace(text.summary.sentences[0], citations=(odd, *text.summary.sentences[0].citations[1:]))
        changed = dataclasses.replace(text, summary=dataclasses.replace(
            text.summary, sentences=(first, *text.summary.sentences[1:])))
        value = json.loads(json.dumps(_encoded_text(changed, index)))
        assert value["summary"]["sentences"][0]["citations"][0]["prefix"] == "elsewhere"
        assert _decoded_text(story, value, index) == changed


def test_a_batch_of_stories_shares_its_source_texts_and_reads_back_the_same(tmp_path):
    """A batch's stories share one dict of documents' source texts (each made once for the batch, not once per
    story citing it): their inputs and cached texts read back equal to those made story by story."""
    import json

    from pipeline.flow import _decoded_text, _encoded_text, _summarize_story, story_input

    _, _, index, stories, by_doc, ctx = _two_stories_sharing_a_sentence(tmp_path)
    shared: dict = {}
    for story in stories:
        alone = story_input(story, None, index, by_doc)
        assert story_input(story, None, index, by_doc, shared) == alone
    assert shared and all(shared[d] == _cited(index.documents[d]) for d in shared)  # the other story's copy
    shared = {}
    for story in stories:
        text = _summarize_story(ctx, story_input(story, None, index, by_doc))
        value = json.loads(json.dumps(_encoded_text(text, index)))
        assert _decoded_text(story, value, index, shared) == text == _decoded_text(story, value, index)
    assert shared and all(shared[d] == _cited(index.documents[d]) for d in shared)


def _cited(doc):
    """What `CorpusIndex.cite` keeps of a document for its citations."""
    from pipeline.corpus_index import DocumentCited

    return DocumentCited(doc.source_text, doc.path, doc.url)


def test_one_pool_of_workers_serves_every_session_of_a_run(tmp_path):
    """Inside run_scope the pool is forked once, at its first use; a later session's context reaches the
    same workers (pickled with its items, not inherited)."""
    from pipeline.executors.local import LocalExecutor

    executor = LocalExecutor(2)
    with executor.run_scope():
        with executor.session("first") as session:
            first = session.map(_pid_and_context, range(8))
        with executor.session({"second": list(range(3))}) as session:
            second = session.map(_pid_and_context, range(8))
    assert {c for _, c in first} == {"first"} and {repr(c) for _, c in second} == {"{'second': [0, 1, 2]}"}
    assert {p for p, _ in second} <= {p for p, _ in first} and os.getpid() not in {p for p, _ in first}


def test_the_background_worker_runs_items_in_a_process_of_its_own_and_returns_them_in_order():
    """`background` is one worker besides this process: `map_async` returns at once, `get` waits for the
    results in item order; an error raised there comes back with `get`."""
    from pipeline.executors.local import LocalExecutor

    with LocalExecutor(2).background("context") as worker:
        first = worker.map_async(_pid_context_item, range(5))
        second = worker.map_async(_pid_context_item, [7, 8])
        failed = worker.map_async(_pid_context_item, [1, -1])
        got = first.get() + second.get()
        with pytest.raises(ValueError, match="item -1"):
            failed.get()
    assert [(c, i) for _, c, i in got] == [("context", i) for i in [0, 1, 2, 3, 4, 7, 8]]
    assert len({p for p, _, _ in got}) == 1 and os.getpid() not in {p for p, _, _ in got}


def _pid_context_item(shared, item):
    if item < 0:
        raise ValueError(f"item {item}")
    return os.getpid(), shared, item


def _pid_and_context(shared, item):
    time.sleep(0.05)  # both workers take items
    return os.getpid(), shared


def test_summaries_made_on_the_workers_and_read_back_from_the_cache_are_the_same(tmp_path):
    """A story whose cached entry is missing or no longer decodes is summarised (on the workers, while the
    others are decoded here); every story's text equals what a run without the cache makes, in story order."""
    import json

    from pipeline.cache import Cache
    from pipeline.executors.local import LocalExecutor
    from pipeline.flow import FlowStats, NoHooks, summarize_stories

    settings, _, index, stories, by_doc, ctx = _two_stories_sharing_a_sentence(tmp_path)
    cache = Cache(tmp_path / "cache.sqlite")
    executor = LocalExecutor(2)

    def summarize() -> tuple[list, int]:
        stats = FlowStats()
        with executor.run_scope():
            texts = summarize_stories(stories, index, None, settings, cache, executor, ctx.summarizer, NoHooks(),
                                      stats, by_doc)
        return texts, stats.summarize_calls

    made, calls = summarize()
    assert calls == len(stories) == 2 and [t.summary.story_id for t in made] == [s.story_id for s in stories]
    assert summarize() == (made, 0)  # every entry whole: decoded, nothing summarised
    rows = cache._db.execute("SELECT key, value FROM entries WHERE kind = 'summary'").fetchall()
    assert len(rows) == 2
    key, value = rows[0]
    entry = json.loads(value)
    entry["summary"]["sentences"][0]["citations"][0] = "gone:p1.s1"  # a sentence no longer in the corpus
    cache.put("summary", key, entry)
    assert summarize() == (made, 1)  # that story only, summarised again
    cache._db.execute("DELETE FROM entries WHERE kind = 'summary'")
    assert summarize() == (made, 2)


def test_a_document_features_key_names_the_code_that_makes_them_and_not_the_corpus_wide_search():
    """One document's dedup features are keyed on the modules that make them: `pipeline.dedup_features` and
    every pipeline module it imports. A change to the corpus-wide search (`pipeline.dedup`) keeps them; the dedup
    and summary keys name both modules."""
    import ast
    from pathlib import Path

    import pipeline.dedup_features as features_module
    from pipeline.dedup_features import document_features, features_from_json, features_to_json
    from pipeline.flow import DedupStep, SummarizeStep

    source = Path(features_module.__file__).read_text()
    imported = {f"pipeline.{node.module}" for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module}
    assert imported >= {"pipeline.model", "pipeline.textsim"}
    assert imported | {"pipeline.dedup_features"} <= set(DedupStep.features_code)
    for fn in (document_features, features_to_json, features_from_json):
        assert fn.__module__ in DedupStep.features_code
    assert "pipeline.dedup" not in DedupStep.features_code
    for code in (DedupStep.code, SummarizeStep.code):
        assert {"pipeline.dedup", "pipeline.dedup_features"} <= set(code)
