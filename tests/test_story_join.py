"""Stories live across runs: new articles join the previous run's stories without regrouping everything."""

from __future__ import annotations

import logging

import numpy as np

from pipeline.cache import NullCache
from pipeline.config import Settings, StoriesSettings
from pipeline.flow import NoHooks, StoryIdsStep, corpus_steps
from pipeline.ingest import ingest
from pipeline.story_ids import save_story_state
from pipeline.story_join import STATE_FILE, load_state

from test_stories_mixed import HEATWAVE, MIXED_TEXTS, TIKTOK, write_mixed_corpus


def _run(folder, settings, run_dir, previous=None):
    """Stories (their documents in the order their brief lists them) by id, as `python -m pipeline run`
    makes them (state saved in run_dir)."""
    run_dir.mkdir(parents=True)
    docs = ingest(folder, settings.ingest).documents
    _, stories, _ = corpus_steps(docs, settings, NullCache(), NoHooks(), previous_run=previous, run_dir=run_dir)
    stories, state = StoryIdsStep().run(stories, docs, previous)
    save_story_state(run_dir / StoryIdsStep.file, state)
    return {s.story_id: s.doc_ids for s in stories}


def _messages(caplog):
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("stories: ")]


def test_new_articles_join_existing_stories_and_ids_hold(tmp_path, caplog):
    settings = Settings()
    dated = {"canicule_gard.txt": "Date: 2020-07-02\n" + MIXED_TEXTS["canicule_gard.txt"]}
    folder = write_mixed_corpus(tmp_path / "corpus", dated, omit=("canicule_agriculteurs.txt", "transfert_om.txt"))
    with caplog.at_level(logging.INFO, logger="pipeline"):
        first = _run(folder, settings, tmp_path / "run1")
    assert "stories: regrouped from scratch: no previous run" in _messages(caplog)
    assert (tmp_path / "run1" / STATE_FILE).is_file()
    heat_id = next(sid for sid, ds in first.items() if "canicule_gard" in ds)
    assert set(first[heat_id]) == HEATWAVE - {"canicule_agriculteurs"}

    # one article of the heatwave story (a day earlier), and one of an event no story is about
    dated["canicule_agriculteurs.txt"] = "Date: 2020-07-01\n" + MIXED_TEXTS["canicule_agriculteurs.txt"]
    write_mixed_corpus(folder, dated)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pipeline"):
        second = _run(folder, settings, tmp_path / "run2", tmp_path / "run1")
    assert "stories: 2 new documents placed into 8 kept (1 joined existing stories, 1 new stories; 0 gone)" \
        in _messages(caplog)
    assert not any("regrouped" in m for m in _messages(caplog))
    # joined, kept its id; the brief lists its articles by date (undated ones after, in corpus order)
    assert second[heat_id] == ("canicule_agriculteurs", "canicule_gard", "revue_regionale")
    for sid, docs in first.items():  # every other story unchanged, same id
        if sid != heat_id:
            assert second[sid] == docs
    new = [sid for sid in second if sid not in first]
    assert len(new) == 1 and second[new[0]] == ("transfert_om",)
    assert next(sid for sid, ds in second.items() if set(ds) == TIKTOK) in first

    # the state the next run reads: every document, its story, one row each
    state = load_state(tmp_path / "run2" / STATE_FILE)
    assert len(state.keys) == state.matrix.shape[0] == 10 == sum(len(d) for d in second.values())
    assert len(set(state.label.tolist())) == len(second)


def test_a_settings_change_or_too_many_new_articles_regroup_from_scratch(tmp_path, caplog):
    settings = Settings()
    folder = write_mixed_corpus(tmp_path / "corpus", omit=("canicule_agriculteurs.txt",))
    _run(folder, settings, tmp_path / "run1")
    write_mixed_corpus(folder)
    changed = settings.model_copy(update={"stories": StoriesSettings(related_threshold=0.2)})
    with caplog.at_level(logging.INFO, logger="pipeline"):
        second = _run(folder, changed, tmp_path / "run2", tmp_path / "run1")
    assert "stories: regrouped from scratch: the stories settings or code changed since the previous run" \
        in _messages(caplog)
    assert HEATWAVE in [set(ds) for ds in second.values()]

    # more new articles than stories.regroup_share of the corpus: regrouped, and said so
    strict = settings.model_copy(update={"stories": StoriesSettings(regroup_share=0.05)})
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pipeline"):
        _run(folder, strict, tmp_path / "run3", tmp_path / "run1")
    assert any(m.startswith("stories: regrouped from scratch: 1 new or edited documents are more than "
                            "stories.regroup_share (0.05)") for m in _messages(caplog))


def test_removed_and_edited_articles_keep_the_other_memberships(tmp_path, caplog):
    settings = Settings()
    folder = write_mixed_corpus(tmp_path / "corpus")
    first = _run(folder, settings, tmp_path / "run1")
    (folder / "canicule_agriculteurs.txt").unlink()
    revue = folder / "revue_regionale.txt"
    revue.write_text(revue.read_text(encoding="utf-8") + "\nMise à jour : la vigilance est maintenue.\n",
                     encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="pipeline"):
        second = _run(folder, settings, tmp_path / "run2", tmp_path / "run1")
    assert "stories: 0 new documents placed into 9 kept (0 joined existing stories, 0 new stories; 1 gone)" \
        in _messages(caplog)
    assert second == {sid: tuple(d for d in ds if d != "canicule_agriculteurs") for sid, ds in first.items()}
    state = load_state(tmp_path / "run2" / STATE_FILE)
    assert "corpus/canicule_agriculteurs.txt" not in state.keys
    assert np.all(state.df > 0) and len(state.vocab) == len(state.df) == state.matrix.shape[1]
