"""The Ray executor on a real two-node cluster writes the same briefs as the local executor.

The cluster is a head and a second worker node, each a separate set of Ray
processes with one CPU (`ray.cluster_utils.Cluster`), so the two actors of a
`run.workers: 2` run sit on different nodes. It is always shut down. On it: whole runs against the
local executor's (the sample corpus with syndicated copies, and 2,000 articles), dedup's near-duplicate
search as a shuffle of Ray tasks against the numpy search, and dedup's document neighbours as a shuffle by
term against `top_neighbours`. The syndicated articles are built from the
sentences the repository holds (`scripts/ray_compare.py`'s `repository_bases`), so a fresh clone runs
everything here without ../shared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, apertium_missing
from test_flow import _outputs
from test_stories_mixed import write_mixed_corpus

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install '.[ray]' (scripts/setup.sh installs it)")

pytestmark = pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")


@pytest.fixture(scope="module")
def cluster_address(tmp_path_factory):
    from ray.cluster_utils import Cluster

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    cluster = Cluster(initialize_head=False)
    try:
        common = {"num_cpus": 1, "object_store_memory": 100 * 1024 * 1024}
        cluster.add_node(include_dashboard=False, **common)  # the head
        cluster.add_node(**common)  # a second node: its own raylet and worker processes
        cluster.wait_for_nodes()
        yield cluster.address
    finally:
        cluster.shutdown()


sys.path.insert(0, str(ROOT / "scripts"))
from bench_scale import build_corpus, variant  # noqa: E402
from ray_compare import REPOSITORY_VARIANTS, repository_bases  # noqa: E402


def _corpus(folder: Path) -> Path:
    """The sample corpus, the mixed-story test texts, and 18 syndicated copies of 3 wire stories."""
    write_mixed_corpus(folder)
    build_corpus(folder / "wire", 18, repository_bases()[:3], variants=6, seed=1)
    return folder


def _run(corpus: Path, out: Path, executor: str, address: str, timeout: int) -> tuple[Path, dict, str]:
    config = out.parent / f"{out.name}.yaml"
    config.write_text(yaml.safe_dump({
        "run": {"executor": executor, "workers": 2}, "translate": {"backend": "apertium"},
        "cache": {"enabled": False},
    }), encoding="utf-8")
    env = {**os.environ, "RAY_ADDRESS": address, "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--corpus", str(corpus), "--out", str(out), "--config", str(config),
         "--log-format", "json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = Path(proc.stdout.strip())
    return run_dir, json.loads((run_dir / "manifest.json").read_text(encoding="utf-8")), proc.stderr


def _same_outputs_on_ray_as_local(corpus: Path, work: Path, address: str, timeout: int = 300) -> dict:
    """Runs the corpus with the local executor and on the cluster (2 workers each), checks that every output
    file is the same (the run id blanked; dedup's state for the next run aside), returns the Ray run's manifest."""
    local_dir, local_manifest, _ = _run(corpus, work / "local", "local", address, timeout)
    ray_dir, ray_manifest, stderr = _run(corpus, work / "ray", "ray", address, timeout)

    assert ray_manifest["executor"] == {"kind": "ray", "workers": 2}  # both nodes' CPUs: one actor on each
    assert local_manifest["executor"] == {"kind": "local", "workers": 2}
    assert ray_manifest["counts"] == local_manifest["counts"]
    local, on_ray = _outputs(local_dir), _outputs(ray_dir)
    # dedup's state for the next run holds the MinHash sketches: on Ray they stay on the cluster (the
    # near-duplicate search ran there as a shuffle), so a Ray run keeps none (the next run dedups in full)
    # and says so
    assert "dedup-state.npz" in local and "dedup-state.npz" not in on_ray
    assert "no dedup state kept for the next run" in stderr
    del local["dedup-state.npz"]
    assert local and on_ray == local
    # Ray's own output stays out of the run's log: every stderr line is one of our JSON records
    for line in stderr.splitlines():
        assert isinstance(json.loads(line), dict), line
    return ray_manifest


def test_ray_cluster_writes_the_same_briefs_as_local(cluster_address, tmp_path):
    manifest = _same_outputs_on_ray_as_local(_corpus(tmp_path / "corpus"), tmp_path, cluster_address)
    assert manifest["counts"]["stories"] > 2  # several stories: the actors share the summaries
    assert manifest["cache"]["engine_calls"]["translated_texts"] > 64  # and several translation chunks


def test_ray_cluster_writes_the_same_briefs_as_local_on_2000_articles(cluster_address, tmp_path):
    """Issue 11: 2,000 articles on the two-node cluster, every output file the same as the local run's. The
    articles are 101 wire stories made of the repository's sentences and their republished variants (sentences
    dropped, swapped, reworded; other titles): dedup's shuffle has thousands of texts and large duplicate
    groups, and there are about a hundred stories to summarize, translate and render."""
    corpus = tmp_path / "corpus"
    build_corpus(corpus, 2000, repository_bases(), variants=REPOSITORY_VARIANTS, seed=1)
    manifest = _same_outputs_on_ray_as_local(corpus, tmp_path, cluster_address, timeout=600)
    assert manifest["counts"]["documents"] == 2000
    assert manifest["counts"]["stories"] > 50
    assert manifest["cache"]["engine_calls"]["translated_texts"] > 640  # more than ten translation chunks


@pytest.fixture
def on_cluster(cluster_address):
    """An executor of this process connected to the two-node cluster (disconnected after the test: the
    other tests start their own driver)."""
    from pipeline.executors.ray import RayExecutor

    try:
        yield RayExecutor(address=cluster_address, workers=2)
    finally:
        ray.shutdown()


def _syndicated_texts(bases: int, variants: int) -> list[str]:
    """Paragraphs and sentences (as dedup sends them) of syndicated variants of the repository's wire stories."""
    texts: list[str] = []
    for base in repository_bases()[:bases]:
        for number in range(variants):
            _, sentences = variant(base, number, seed=1)
            texts += [" ".join(sentences[k:k + 3]) for k in range(0, len(sentences), 3)] + sentences
    return texts


def test_similar_pairs_shuffled_on_the_cluster_are_those_of_the_driver(on_cluster):
    """Dedup's corpus-wide near-duplicate search as Ray tasks (sketches partitioned by LSH bucket and by
    containment sample, pairs verified by tasks) finds exactly the pairs `find_similar_pairs` finds here."""
    from pipeline.minhash import find_similar_pairs

    texts = _syndicated_texts(bases=60, variants=6)
    texts += ["", "trop court", texts[0]]  # no word; fewer words than a shingle; an exact copy
    for window in (None, 16):
        here = find_similar_pairs(texts, bucket_window=window)
        assert on_cluster.similar_pairs(texts, bucket_window=window) == here
        assert len(here) > 1000
        assert any(p.jaccard < 0.7 for p in here)  # pairs from the containment index, not the LSH
    assert on_cluster.similar_pairs(texts[:1]) == []


def test_unreachable_cluster_is_a_failed_run_with_the_reason(tmp_path):
    import socket

    from pipeline.config import Settings
    from pipeline.runner import RunOptions, run

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings.model_validate({"run": {"executor": "ray"}, "ray": {"address": f"127.0.0.1:{port}"},
                                        "translate": {"backend": "apertium"}, "cache": {"enabled": False}})
    report = run(RunOptions(settings=settings, config_path=Path("test"), corpus=ROOT / "corpus", out=tmp_path / "out"))
    assert report.exit_code == 4
    assert f"127.0.0.1:{port}" in report.message and "run.executor: local" in report.message
    assert not (tmp_path / "out" / "latest").exists()


def test_document_neighbours_shuffled_on_the_cluster_are_those_of_the_driver(on_cluster):
    """Dedup's document neighbours (each document's best `neighbours` by a sparse product of its heaviest terms)
    as a shuffle by term across Ray tasks: exactly the pairs `top_neighbours` finds here, with syndicated copies
    (many equal products: ties), documents with no term, and labels (the cross-lingual case)."""
    from pipeline.dedup import DOC_NEIGHBOURS, DOC_TERMS, top_neighbours
    from pipeline.textsim import tfidf

    documents = []
    for base in repository_bases()[:40]:
        for number in (0, 1, 0, 2, 3, 0, 4):  # with exact copies: equal products, ties for the last places
            title, sentences = variant(base, number, seed=1)
            documents.append(" ".join([title, *sentences]).lower().split())
    documents += [[], ["seul"]]  # no term; a term no other document has
    vectors = tfidf(documents).vectors
    labels = ["fr" if k % 3 else "en" for k in range(len(vectors))]
    for neighbours, terms, by in ((DOC_NEIGHBOURS, DOC_TERMS, None), (3, 8, None), (5, DOC_TERMS, labels)):
        here = top_neighbours(vectors, neighbours, terms, by)
        assert on_cluster.top_neighbours(vectors, neighbours, terms, by) == here
        assert len(here) > len(vectors)
    assert on_cluster.top_neighbours(vectors[:1], DOC_NEIGHBOURS, DOC_TERMS) == []


def test_same_fact_blocks_as_tasks_on_the_cluster_give_the_links_found_here(on_cluster, tmp_path, monkeypatch):
    """Dedup's same-fact comparisons as Ray tasks, one per block of document pairs (its documents' sentences
    through the object store, the links back): the links found here, in the same order, and the same groups."""
    from test_same_fact_blocks import same_fact_in_blocks, syndicated_documents

    documents = syndicated_documents(tmp_path / "syndicated")
    here, links, _ = same_fact_in_blocks(documents, None, monkeypatch)
    result, found, blocks = same_fact_in_blocks(documents, on_cluster.map_blocks, monkeypatch)
    assert blocks > 8 and len(links) > 20
    assert found == links
    assert result == here
