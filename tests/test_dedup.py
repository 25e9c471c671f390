
import pytest

from pipeline.config import DedupSettings, IngestSettings
from pipeline.dedup import dedup, group_of
from pipeline.ingest import LanguageIdentifier, ingest_text

LANGID = LanguageIdentifier(["fr", "en"])


def make_doc(doc_id, *paragraphs):
    return ingest_text("\n\n".join(paragraphs), doc_id=doc_id, path=f"corpus/{doc_id}.txt", sha256="0",
                       encoding="utf-8", settings=IngestSettings(), langid=LANGID)


BASE = ("Microsoft a confirmé dimanche qu'il poursuivait les discussions en vue de racheter les activités "
        "américaines de TikTok, l'application chinoise de partage de vidéos.")


def test_exact_and_near_paragraphs_grouped():
    a = make_doc("a", BASE, "Une autre phrase sans rapport avec le reste de cet article de presse.")
    b = make_doc("b", BASE.replace("dimanche", "dimanche soir"), "Le temps sera beau demain sur toute la région parisienne.")
    c = make_doc("c", BASE)
    result = dedup([a, b, c], DedupSettings())
    groups = group_of(result.paragraph_groups)
    g = groups["a:p1"]
    assert {m.id for m in g.members} == {"a:p1", "b:p1", "c:p1"}
    # the most complete text is canonical; the others are near copies of it
    assert g.canonical == "b:p1"
    members = {m.id: m for m in g.members}
    assert members["a:p1"].relation == "near" and 0.7 <= members["a:p1"].score < 1.0
    assert members["c:p1"].relation == "near"
    assert "a:p2" not in groups


def test_contained_paragraph():
    long = BASE + " La Maison Blanche a fixé une date limite au 15 septembre pour conclure un accord."
    result = dedup([make_doc("a", long), make_doc("b", BASE)], DedupSettings())
    g = group_of(result.paragraph_groups)["b:p1"]
    assert g.canonical == "a:p1"
    assert {m.id: m.relation for m in g.members}["b:p1"] == "contained"


def test_number_or_name_change_stays_apart():
    s1 = "TikTok revendique une base de 100 millions d'utilisateurs aux États-Unis selon la société chinoise."
    s2 = "TikTok revendique une base de 1 milliard d'utilisateurs aux États-Unis selon la société chinoise."
    n1 = "Le patron de Microsoft Satya Nadella a eu une longue conversation téléphonique avec le président dimanche."
    n2 = "Le patron de Microsoft Donald Trump a eu une longue conversation téléphonique avec le président dimanche."
    result = dedup([make_doc("a", s1, n1), make_doc("b", s2, n2)], DedupSettings())
    assert result.paragraph_groups == ()
    assert result.sentence_groups == ()


def test_short_texts_merge_only_when_equal():
    result = dedup([make_doc("a", "Microsoft rachète TikTok."), make_doc("b", "Microsoft rachète TikTok US.")], DedupSettings())
    assert result.paragraph_groups == () and result.sentence_groups == ()


def test_sample_corpus_shared_statement_collapses(sample, settings):
    result = dedup(sample.documents, settings.dedup)
    groups = group_of(result.sentence_groups)
    # The Microsoft statement on keeping American users' data in the US, quoted by 001 and reported by 004
    g = groups["001_71b03b7a4a2965fd:p7.s1"]
    members = {m.id for m in g.members}
    assert "004_0f845232afc981bf:p10.s1" in members
    assert len({m.split(":")[0] for m in members}) >= 2
    # and "invite other American investors ... minority" is reported by four articles, 003 in other words
    # ("Le groupe est également ouvert à d'autres investisseurs qui participent en tant que partenaires minoritaires")
    g = groups["000_d4928d0422af127b:p4.s4"]
    assert {m.id.split(":")[0][:3] for m in g.members} == {"000", "001", "003", "004"}


def test_sample_different_valuations_not_merged(sample, settings):
    groups = group_of(dedup(sample.documents, settings.dedup).sentence_groups)
    a = "002_7a8ce329a5818a70:p10.s2"  # "entre 50 et 100 milliards"
    assert a not in groups or "004_0f845232afc981bf:p24.s2" not in {m.id for m in groups[a].members}


def test_document_space_is_tfidf_bit_for_bit_with_the_same_neighbours():
    """The numpy document space gives `textsim.tfidf`'s values exactly (ties included), so the
    documents compared for same facts are the same as with the dictionaries."""
    import random

    from pipeline.dedup import DocumentSpace, _top_neighbours, top_neighbours
    from pipeline.textsim import tfidf

    rng = random.Random(1)
    words = [f"w{i}" for i in range(300)] + ["zz", "aa", "mm"]
    docs = [[rng.choice(words[:rng.randint(3, 300)]) for _ in range(rng.randint(0, 200))] for _ in range(300)]
    space = tfidf(docs)
    ours = DocumentSpace([w for d in docs for w in d], [len(d) for d in docs])
    for r, v in enumerate(space.vectors):
        row = ours.matrix[r]
        assert {ours.words[c]: x for c, x in zip(row.indices, row.data)} == v
    assert _top_neighbours(ours.top(40), 20) == top_neighbours(space.vectors, 20, 40)
    assert ours.cosine(3, 4) == pytest.approx(space.cosine(3, 4), abs=1e-12)



def test_document_space_of_counted_stems_is_the_same_and_joins_as_made_whole():
    """Documents' stems kept counted (distinct stems in order of first use, and their counts: what the
    dedup state holds) give the same document space, bit for bit, as the stems themselves; and counted
    lists joined from kept and new documents are those counted from all of them."""
    import random

    import numpy as np

    from pipeline.dedup import DocStems, DocumentSpace, _join_lists

    rng = random.Random(2)
    words = [f"w{i}" for i in range(200)]
    docs = [[rng.choice(words[:rng.randint(3, 200)]) for _ in range(rng.randint(0, 150))] for _ in range(120)]
    plain, counted = DocStems.of(docs), DocStems.of(docs, counted=True)
    assert counted.ids.size < plain.ids.size
    a = DocumentSpace(plain.ids, plain.lengths, plain.vocab)
    b = DocumentSpace(counted.ids, counted.lengths, counted.vocab, counted.counts)
    assert a.words == b.words and np.array_equal(a.values, b.values) and np.array_equal(a.columns, b.columns)
    ta, tb = a.top(40), b.top(40)
    assert (ta != tb).nnz == 0 and np.array_equal(ta.data, tb.data) and np.array_equal(ta.indices, tb.indices)
    kept = [k for k in range(len(docs)) if k % 3]  # every third document new, the others kept
    rows = np.full(len(docs), -1, dtype=np.int64)
    rows[kept] = np.arange(len(kept))
    joined = _join_lists(DocStems.of([docs[k] for k in kept], counted=True), rows,
                         [docs[k] for k in range(len(docs)) if k % 3 == 0])
    assert joined == counted

def test_row_order_is_lexsort_ties_included():
    """The documents' terms ordered by row, heaviest first, ties by rank, as `np.lexsort` orders them."""
    import numpy as np

    from pipeline.dedup import _row_order

    rng = np.random.default_rng(3)
    row = np.sort(rng.integers(0, 50, 4000))
    values = rng.integers(1, 30, 4000) / 7.0  # many ties
    rank = rng.permutation(5000)[:4000]
    assert np.array_equal(_row_order(row, values, rank), np.lexsort((rank, -values, row)))


def test_features_read_back_from_the_cache_are_the_same_and_a_bad_entry_is_refused():
    """Signatures read from the cache are decoded when first read: the same features either way, through
    the workers' pickling too; an entry of another shape is refused when read (a cache miss)."""
    import pickle

    from pipeline.dedup_features import document_features, features_from_json, features_to_json

    doc = make_doc("a", "Le ministre a annoncé lundi 3 000 emplois à Paris, a déclaré Jean Dupont.",
                   "La mesure coûtera 2,5 milliards d'euros en 2021. Elle sera votée mardi.")
    features = document_features(doc)
    back = features_from_json(features_to_json(features))
    assert back == features and pickle.loads(pickle.dumps(back)) == features
    assert back.sentences[0].signature.numbers == features.sentences[0].signature.numbers != frozenset()
    bad = features_to_json(features)
    bad["sentences"][0][2] = ["3000"]
    with pytest.raises(ValueError):
        features_from_json(bad)


def test_features_of_documents_share_their_words():
    """Features decoded from the cache or made on the workers hold each word once across documents
    (memory at 100k articles), and are the same features."""
    import json

    from pipeline.dedup_features import document_features, features_from_json, features_to_json, shared_words

    text = "Le ministre a annoncé lundi 3 000 emplois à Paris, a déclaré Jean Dupont."
    made = [document_features(make_doc(k, text, "La mesure sera votée mardi.")) for k in "ab"]
    words: dict[str, str] = {}
    back = [features_from_json(json.loads(json.dumps(features_to_json(f))), words) for f in made]
    again = shared_words(made[0], words)
    assert back == made and again == made[0]
    terms = [f.sentences[0].terms for f in (*back, again)]
    assert terms[0] and all(x is y for t in terms[1:] for x, y in zip(terms[0], t))
