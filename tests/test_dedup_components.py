"""`dedup._components` (numpy hooking and pointer jumping) names each item's link component by its
smallest item, exactly as scipy's `connected_components` did (the function it replaced, kept here as the
reference): on random graphs, on shapes that need many rounds, and on the links of a real dedup."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from pipeline import dedup
from pipeline.config import DedupSettings, IngestSettings
from pipeline.dedup import _components
from pipeline.ingest import LanguageIdentifier, ingest_text

from conftest import CORPUS


def reference(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The previous `_components` (scipy.sparse.csgraph), word for word."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(n, n))
    labels = connected_components(graph, directed=False)[1]
    first = np.full(labels.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n))
    return first[labels]


def check(n: int, a, b) -> None:
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    got = _components(n, a, b)
    assert got.dtype == np.int64
    assert np.array_equal(got, reference(n, a, b))


@pytest.mark.parametrize("seed", range(40))
def test_random_graphs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    m = int(rng.integers(0, 3 * n))
    a, b = rng.integers(0, n, m), rng.integers(0, n, m)  # self-links and repeated links included
    check(n, a, b)
    check(n, a[a < b], b[a < b])  # as dedup passes them: smaller end first


def test_no_links_and_no_items():
    check(5, [], [])
    check(1, [0], [0])
    assert _components(0, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)).size == 0


@pytest.mark.parametrize("shape", ["chain", "reversed chain", "shuffled chain", "star", "zigzag", "two chains"])
def test_shapes_that_take_many_rounds(shape):
    n = 5000
    rng = np.random.default_rng(1)
    if shape == "chain":
        order = np.arange(n)
    elif shape == "reversed chain":
        order = np.arange(n)[::-1]
    elif shape == "shuffled chain":
        order = rng.permutation(n)
    elif shape == "zigzag":  # 1, 3, 2, 5, 4, ...: a local minimum every other item
        order = np.arange(n).reshape(-1, 2)[:, ::-1].ravel()
    elif shape == "two chains":
        order = np.concatenate((rng.permutation(np.arange(0, n, 2)), rng.permutation(np.arange(1, n, 2))))
    else:
        check(n, np.full(n - 1, n - 1), np.arange(n - 1))  # the largest item in the middle
        return
    a, b = order[:-1], order[1:]
    if shape == "two chains":
        a, b = np.delete(a, n // 2 - 1), np.delete(b, n // 2 - 1)
    check(n, a, b)
    check(n, b, a)


def test_the_links_of_a_real_dedup():
    """The sentence and paragraph links of a dedup of the sample corpus (with republished copies) group
    the same with both."""
    langid = LanguageIdentifier(["fr", "en"])
    docs = []
    for k, path in enumerate(sorted(CORPUS.glob("*.txt"))):
        text = path.read_text(encoding="utf-8")
        for v, body in enumerate((text, text.replace(" le ", " ce ", 2), "\n\n".join(text.split("\n\n")[::-1]))):
            docs.append(ingest_text(body, doc_id=f"{k}_{v}", path=f"corpus/{k}_{v}.txt",
                                    sha256=hashlib.sha256(body.encode()).hexdigest(), encoding="utf-8",
                                    settings=IngestSettings(), langid=langid))
    paragraphs, sentences, *_ = dedup._body_items(docs)
    settings = DedupSettings(crosslingual="none")
    seen = 0
    for items in (paragraphs, sentences):
        links, _ = dedup._shingle_links(items, settings)
        a, b, _ = dedup._link_arrays(links)
        assert a.size
        check(len(items), a, b)
        seen += int((reference(len(items), a, b) != np.arange(len(items))).sum())
    assert seen  # some items were grouped


def test_dedup_never_imports_csgraph():
    """What the replacement is for: a dedup imports no scipy.sparse.csgraph (its import, with
    scipy.sparse.linalg, cost 0.17 s per process in a +1% run at 10,000 articles)."""
    import subprocess
    import sys

    code = ("import sys; from pipeline.dedup import _components; import numpy as np; "
            "_components(3, np.array([0]), np.array([2])); print('scipy.sparse.csgraph' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
