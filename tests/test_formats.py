"""Every input format: what is read, what each document's source of record is, and bad input per format."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from pipeline.config import ConfigError, Settings
from pipeline.executors.local import LocalExecutor
from pipeline.ingest import format_of, ingest, normalize_line

P1 = ("Le conseil municipal de Lyon a voté jeudi soir la création de trois nouvelles lignes de tramway. "
      "Les travaux commenceront au printemps prochain et dureront quatre ans.")
P2 = ("Selon l’adjoint aux transports, «le coût total atteindra 450 millions d’euros». "
      "L’opposition dénonce un projet trop cher pour la ville.")
P3 = ("La compagnie aérienne a annoncé mardi la suppression de 1 200 postes en France. "
      "Les syndicats ont appelé à une grève dès la semaine prochaine.")
P4 = ("Le gouvernement a présenté mercredi un plan de soutien aux agriculteurs touchés par la sécheresse. "
      "Les aides seront versées avant la fin de l’été, a précisé le ministre.")

HTML_PAGE = f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8">
<title>Trois lignes de tramway pour Lyon | Le Journal</title>
<meta property="og:title" content="Trois lignes de tramway pour Lyon">
<meta property="og:site_name" content="Le Journal">
<meta name="author" content="Marie Dupont">
<meta property="article:published_time" content="2024-03-14T08:00:00+01:00">
<link rel="canonical" href="https://journal.example/lyon/tramway">
</head><body>
<nav><ul><li><a href="/">Accueil</a></li><li><a href="/politique">Politique</a></li><li><a href="/sport">Sport</a></li></ul></nav>
<article><h1>Trois lignes de tramway pour Lyon</h1>
<p>{P1}</p>
<p>{P2}</p>
<p>Les habitants pourront donner leur avis lors d’une consultation publique organisée en mai dans chaque arrondissement de la ville.</p>
</article>
<footer><p>© Le Journal 2024 — Tous droits réservés. Mentions légales. Contact.</p></footer>
</body></html>
"""

RSS = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Le Fil</title><link>https://fil.example/</link><description>Actualités</description>
<item><title>Air France supprime 1 200 postes</title><link>https://fil.example/air</link>
<guid>fil-air-1</guid><pubDate>Tue, 12 Mar 2024 10:00:00 +0000</pubDate>
<description>Résumé court.</description>
<content:encoded><![CDATA[<p>{P3}</p><p>La direction assure que les départs seront volontaires et accompagnés.</p>]]></content:encoded>
</item>
<item><title>Sécheresse : un plan pour les agriculteurs</title><link>https://fil.example/secheresse</link>
<guid>fil-sech-2</guid><pubDate>Wed, 13 Mar 2024 09:00:00 +0000</pubDate>
<description>{P4}</description>
</item>
</channel></rss>
"""


def _warc(records: list[tuple[str, str, bytes, str]]) -> bytes:
    """A gzipped WARC: (type, uri, payload, content type) per record."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for kind, uri, payload, ctype in records:
        if kind == "response":
            http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            rec = writer.create_warc_record(uri, "response", payload=io.BytesIO(payload), http_headers=http)
        else:
            rec = writer.create_warc_record(uri, kind, payload=io.BytesIO(payload),
                                            warc_content_type=ctype)
        writer.write_record(rec)
    return buf.getvalue()


def build_mixed_corpus(folder: Path) -> Path:
    """A corpus with one file of every format, all readable (a known set of documents)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "note.txt").write_text(f"Tramway à Lyon\n\n{P1}\n\n{P2}\n", encoding="utf-8")
    (folder / "page.html").write_text(HTML_PAGE, encoding="utf-8")
    (folder / "page2.html.gz").write_bytes(gzip.compress(HTML_PAGE.replace("tramway", "tram").encode()))
    (folder / "fil.xml").write_text(RSS, encoding="utf-8")
    lines = [
        {"id": "a1", "title": "Grève chez Air France", "text": f"{P3}\n\nUn préavis a été déposé.", "url": "https://j.example/a1",
         "date": "2024-03-12"},
        {"id": "a2", "content": f"{P4}\n\nLes syndicats agricoles jugent ces aides insuffisantes.", "lang": "fr"},
    ]
    (folder / "export.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    (folder / "array.json").write_text(json.dumps([{"id": 7, "body": f"{P1}\n\n{P2}", "headline": "Tramway"}],
                                                  ensure_ascii=False), encoding="utf-8")
    (folder / "table.csv").write_text(
        'id,title,text,date\n1,Air France,"' + P3 + '\n\nUne réunion est prévue lundi avec la direction.",2024-03-12\n',
        encoding="utf-8")
    pq.write_table(pa.table({"id": ["s1"], "article": [P4 + "\n\nLe plan sera discuté au Sénat."],
                             "url": ["https://p.example/s1"]}), folder / "table.parquet")
    (folder / "crawl.warc.gz").write_bytes(_warc([
        ("request", "https://journal.example/lyon/tramway", b"GET /lyon/tramway HTTP/1.1\r\n\r\n", "application/http; msgtype=request"),
        ("response", "https://journal.example/lyon/tramway", HTML_PAGE.encode(), "text/html; charset=utf-8"),
        ("response", "https://journal.example/logo.png", b"\x89PNG....", "image/png"),
    ]))
    return folder


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    corpus = build_mixed_corpus(tmp_path_factory.mktemp("mixed") / "news")
    return corpus, ingest(corpus, Settings().ingest)


def test_every_format_gives_its_documents(mixed):
    _, result = mixed
    assert result.skipped == ()
    by_format: dict[str, list] = {}
    for d in result.documents:
        by_format.setdefault(d.format, []).append(d)
    assert {f: len(ds) for f, ds in by_format.items()} == {
        "txt": 1, "html": 2, "feed": 2, "jsonl": 2, "json": 1, "csv": 1, "parquet": 1, "warc": 1}
    page = next(d for d in by_format["html"] if d.path.endswith("page.html"))
    assert page.title == "Trois lignes de tramway pour Lyon" and page.url == "https://journal.example/lyon/tramway"
    assert page.date == "2024-03-14" and page.author == "Marie Dupont" and page.site_name == "Le Journal"
    assert page.extractor.startswith("trafilatura ")
    assert "Accueil" not in page.source_text and "droits réservés" not in page.source_text
    assert "Le conseil municipal de Lyon" in page.source_text
    air, dry = sorted(by_format["feed"], key=lambda d: d.record)
    assert air.url == "https://fil.example/air" and air.date == "2024-03-12" and air.notes == ()
    assert "volontaires" in air.source_text and "Résumé court" not in air.source_text
    assert dry.notes == ("feed summary only",) and dry.record == "item 2"
    a1 = next(d for d in by_format["jsonl"] if d.record == "line 1")
    assert a1.doc_id == "export.a1" and a1.url == "https://j.example/a1" and a1.title == "Grève chez Air France"
    assert next(d for d in by_format["jsonl"] if d.record == "line 2").doc_id == "export.a2"
    assert by_format["json"][0].title == "Tramway" and by_format["csv"][0].record == "row 1"
    assert by_format["parquet"][0].url == "https://p.example/s1"
    warc = by_format["warc"][0]
    assert warc.url == "https://journal.example/lyon/tramway" and warc.record.startswith("<urn:uuid:")
    assert ":" not in warc.doc_id


def test_source_offsets_quote_the_source_exactly(mixed):
    _, result = mixed
    checked = 0
    for d in result.documents:
        for p in d.paragraphs:
            assert normalize_line(d.source_text[p.char_start:p.char_end]) == p.text
            for s in p.sentences:
                exact = d.source_text[s.char_start:s.char_end]
                assert normalize_line(exact) == s.text
                lines = d.source_text[: s.char_start].count("\n") + 1
                assert lines == s.line_start
                checked += 1
    assert checked > 20


def test_txt_source_is_the_decoded_file_and_quotes_keep_typography(mixed):
    corpus, result = mixed
    note = next(d for d in result.documents if d.format == "txt")
    assert note.source_text == (corpus / "note.txt").read_text(encoding="utf-8")
    s = next(s for p in note.paragraphs for s in p.sentences if "450 millions" in s.text)
    assert note.source_text[s.char_start:s.char_end] == "Selon l’adjoint aux transports, «le coût total atteindra 450 millions d’euros»."
    assert s.text.startswith("Selon l'adjoint aux transports, « le coût")


def test_format_of_names():
    assert format_of("a.HTML.gz") == ("html", True)
    assert format_of("x.warc.gz") == ("warc", True)
    assert format_of("x.parquet.gz") == (None, True)
    assert format_of("feed.atom") == ("feed", False)


def _skips(folder: Path, **ingest_settings) -> dict[str, str]:
    settings = Settings.model_validate({"ingest": ingest_settings}).ingest if ingest_settings else Settings().ingest
    result = ingest(folder, settings)
    return {s.path.split("/", 1)[1]: s.reason for s in result.skipped}


def test_bad_input_per_format_is_skipped_with_a_reason_and_the_rest_is_read(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "good.txt").write_text(f"{P1}\n", encoding="utf-8")
    (corpus / "broken.html").write_bytes(b"<html><body><p>Unclosed <div><<<>>> \x00\x00 </td></table>")
    (corpus / "menu.html").write_text("<html><body><nav><a href='/'>Accueil</a> <a href='/x'>Sport</a></nav></body></html>")
    (corpus / "notfeed.xml").write_text("this is not xml at all, just words", encoding="utf-8")
    (corpus / "lines.jsonl").write_text(
        json.dumps({"id": "x1", "text": P3}) + "\n{not json\n" + json.dumps({"id": "x2", "text": "  "}) + "\n"
        + json.dumps({"id": "x1", "text": P4}) + "\n" + json.dumps({"id": "x3", "text": P4}) + "\n", encoding="utf-8")
    (corpus / "notgz.html.gz").write_text(HTML_PAGE, encoding="utf-8")
    (corpus / "pdf.html").write_bytes(b"%PDF-1.4 binary stuff")
    whole = _warc([("response", "https://a.example/1", HTML_PAGE.encode(), "text/html"),
                   ("response", "https://a.example/2", HTML_PAGE.replace("Lyon", "Paris").encode(), "text/html")])
    (corpus / "cut.warc.gz").write_bytes(whole[: len(whole) - 200])
    skips = _skips(corpus)
    assert "malformed HTML" in skips["broken.html"] or "no main text" in skips["broken.html"]
    assert "no main text" in skips["menu.html"]
    assert "not an RSS/Atom feed" in skips["notfeed.xml"]
    assert "line 2" in skips["lines.jsonl (line 2)"] and "not JSON" in skips["lines.jsonl (line 2)"]
    assert skips["lines.jsonl (line 3)"] == "empty text"
    assert "duplicate record id 'x1'" in skips["lines.jsonl (line 4)"]
    assert skips["notgz.html.gz"] == "named .gz but not gzip-compressed"
    assert "looks like pdf" in skips["pdf.html"]
    assert any(k.startswith("cut.warc.gz") and "truncated" in r for k, r in skips.items())
    docs = {d.doc_id for d in ingest(corpus, Settings().ingest).documents}
    assert {"good", "lines.x1", "lines.x3"} <= docs and "cut.a.example" not in docs
    assert any(d.startswith("cut.") for d in docs)  # the whole record before the cut is read


def test_csv_without_the_text_column_is_a_config_error_naming_it(tmp_path):
    (tmp_path / "t.csv").write_text("id,headline\n1,Hello\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="ingest.fields.text.*columns \\(id, headline\\)"):
        ingest(tmp_path, Settings().ingest)
    settings = Settings.model_validate({"ingest": {"fields": {"text": ["headline"]}}}).ingest
    (skip,) = ingest(tmp_path, settings).skipped  # the column is read; one short line is not an article
    assert skip.path.endswith("t.csv (row 1)") and "no article text" in skip.reason


def test_csv_text_column_from_the_config(tmp_path):
    (tmp_path / "t.csv").write_text('id,corps\n9,"' + P3 + '"\n', encoding="utf-8")
    settings = Settings.model_validate({"ingest": {"fields": {"text": ["corps"]}}}).ingest
    (doc,) = ingest(tmp_path, settings).documents
    assert doc.doc_id == "t.9" and "1 200 postes" in doc.source_text


class _DictStore:
    def __init__(self) -> None:
        self.saved: dict[tuple[str, str, str], object] = {}

    def load_many(self, keys):
        return [self.saved.get(k) for k in keys]

    def save_many(self, items):
        self.saved.update(items)


def test_unchanged_records_come_from_the_store_without_extracting_again(mixed, monkeypatch):
    corpus, first = mixed
    store = _DictStore()
    assert ingest(corpus, Settings().ingest, store=store).documents == first.documents
    assert len(store.saved) == len(first.documents)
    import trafilatura

    def no_extraction(*args, **kwargs):
        raise AssertionError("trafilatura ran on an unchanged page")

    monkeypatch.setattr(trafilatura, "bare_extraction", no_extraction)
    again = ingest(corpus, Settings().ingest, store=store)
    assert again.documents == first.documents and again.skipped == ()


def _ingested_copy(mixed, tmp_path):
    """A copy of the mixed corpus, and a store that holds each of its Documents."""
    import shutil

    copy = tmp_path / "news"
    shutil.copytree(mixed[0], copy)
    settings, store = Settings().ingest, _DictStore()
    ingest(copy, settings, store=store)
    return copy, settings, store


def test_a_few_new_records_are_analysed_on_a_worker_of_their_own_while_this_process_reads_on(mixed, tmp_path,
                                                                                             monkeypatch):
    """A run that finds most records in the store (a nightly run) hands the few others, one slice a round, to
    the executor's background worker and goes on reading: this process loads no language model, and the
    documents and skips are those of a run with neither store nor workers, in the same order."""
    import os

    from pipeline.ingest import IngestContext

    copy, settings, store = _ingested_copy(mixed, tmp_path)
    (copy / "aa-new.txt").write_text(P3 + "\n\n" + P1, encoding="utf-8")  # read first
    (copy / "zz-new.md").write_text("# Sécheresse\n\n" + P4, encoding="utf-8")  # read last
    (copy / "binary.txt").write_bytes(b"\x00\x01\x02 PK junk \xff\xfe" * 40)  # skipped on the worker
    expected = ingest(copy, settings)
    here, real = os.getpid(), IngestContext.langid

    def langid(context):
        assert os.getpid() != here, "lingua was loaded in the process that reads the corpus"
        return real(context)

    contexts = []
    background = LocalExecutor.background

    def opened(executor, shared):
        contexts.append(shared)
        return background(executor, shared)

    monkeypatch.setattr(IngestContext, "langid", langid)
    monkeypatch.setattr(LocalExecutor, "background", opened)
    monkeypatch.setattr("pipeline.ingest.INGEST_ROUND", 3)  # several rounds, one slice each
    got = ingest(copy, settings, store=store, executor=LocalExecutor(2))
    assert got == expected
    # that worker forks nothing: lingua loads its models there with its own threads, at once
    assert [c.preload for c in contexts] == [True]
    assert expected.skipped[-1].path.endswith("binary.txt")
    new = [d for d in got.documents if d.path.endswith(("aa-new.txt", "zz-new.md"))]
    assert len(new) == 2 and all(d in store.saved.values() for d in new)


def test_later_rounds_of_a_few_new_records_go_to_the_same_background_worker(mixed, tmp_path, monkeypatch):
    """Once a run's first new record went to the background worker, a later round with a few new records
    (several slices) goes there too: this process never loads lingua (a second it would not read meanwhile)
    nor forks the pool for them; the documents are those of a run with neither store nor workers."""
    import os

    from pipeline.ingest import IngestContext

    copy, settings, store = _ingested_copy(mixed, tmp_path)
    (copy / "aa-new.txt").write_text(P3 + "\n\n" + P1, encoding="utf-8")  # read first: the first round's one slice
    for k, text in enumerate((P1, P2, P3, P4)):  # read last: a round (of 3) with at least 2 of them
        (copy / f"zz{k}.txt").write_text(text + "\n\n" + P4, encoding="utf-8")
    expected = ingest(copy, settings)
    here, real = os.getpid(), IngestContext.langid

    def langid(context):
        assert os.getpid() != here, "lingua was loaded in the process that reads the corpus"
        return real(context)

    def no_pool(executor, shared, **kwargs):
        raise AssertionError("the pool was opened for a few new records")

    monkeypatch.setattr(IngestContext, "langid", langid)
    monkeypatch.setattr(LocalExecutor, "session", no_pool)
    monkeypatch.setattr("pipeline.ingest.INGEST_SLICE", 1)
    monkeypatch.setattr("pipeline.ingest.INGEST_ROUND", 3)
    assert ingest(copy, settings, store=store, executor=LocalExecutor(2)) == expected


def test_new_records_past_what_the_background_worker_takes_go_to_the_pool(mixed, tmp_path, monkeypatch):
    """Past `INGEST_BACKGROUND` records, the pool analyses the rest (lingua loaded here first); the documents
    and skips are the same, in the same order, as in a run with neither store nor workers."""
    copy, settings, store = _ingested_copy(mixed, tmp_path)
    (copy / "aa-new.txt").write_text(P3 + "\n\n" + P1, encoding="utf-8")
    for k, text in enumerate((P1, P2, P3, P4)):
        (copy / f"zz{k}.txt").write_text(text + "\n\n" + P4, encoding="utf-8")
    (copy / "zz9.txt").write_bytes(b"\x00\x01\x02 PK junk \xff\xfe" * 40)  # skipped on a worker
    expected = ingest(copy, settings)
    sessions = []
    real = LocalExecutor.session

    def session(executor, shared, **kwargs):
        sessions.append(shared)
        return real(executor, shared, **kwargs)

    monkeypatch.setattr(LocalExecutor, "session", session)
    monkeypatch.setattr("pipeline.ingest.INGEST_SLICE", 1)
    monkeypatch.setattr("pipeline.ingest.INGEST_ROUND", 3)
    monkeypatch.setattr("pipeline.ingest.INGEST_BACKGROUND", 2)
    got = ingest(copy, settings, store=store, executor=LocalExecutor(2))
    assert got == expected and len(sessions) == 1
    assert expected.skipped[-1].path.endswith("zz9.txt")


def test_once_the_pool_has_the_language_models_a_single_slice_does_not_start_another_worker(mixed, tmp_path,
                                                                                            monkeypatch):
    """Rounds with several slices to analyse go to the pool, with lingua loaded before it forks; a later round
    with one slice then runs with those models too, instead of in a background worker loading its own."""
    copy, settings, store = _ingested_copy(mixed, tmp_path)
    for name, text in (("aa1.txt", P1), ("aa2.txt", P2), ("aa3.txt", P3), ("zz.txt", P4)):  # 3 read first, 1 last
        (copy / name).write_text(text + "\n\n" + P1, encoding="utf-8")
    expected = ingest(copy, settings)

    def no_background(executor, shared):
        raise AssertionError("a background worker started after the pool")

    monkeypatch.setattr(LocalExecutor, "background", no_background)
    monkeypatch.setattr("pipeline.ingest.INGEST_SLICE", 1)
    monkeypatch.setattr("pipeline.ingest.INGEST_ROUND", 3)
    assert ingest(copy, settings, store=store, executor=LocalExecutor(2)) == expected


def test_a_pool_of_workers_gives_the_same_documents_and_skips_in_the_same_order(mixed, tmp_path, monkeypatch):
    """Records are analysed on the workers in fixed slices; the result does not depend on their number."""
    import shutil

    corpus, first = mixed
    copy = tmp_path / "news"
    shutil.copytree(corpus, copy)
    # skips found while reading (here) and while analysing (on a worker), between good records
    (copy / "bad.jsonl").write_text(
        json.dumps({"id": "a", "text": P3}) + "\nnot json\n" + json.dumps({"id": "e", "text": ""}) + "\n"
        + json.dumps({"id": "b", "text": P4}) + "\n", encoding="utf-8")
    (copy / "binary.txt").write_bytes(b"\x00\x01\x02 PK junk \xff\xfe" * 40)
    monkeypatch.setattr("pipeline.ingest.INGEST_SLICE", 1)  # many slices and rounds even for a small corpus
    monkeypatch.setattr("pipeline.ingest.INGEST_ROUND", 3)
    settings = Settings().ingest
    alone = ingest(copy, settings)
    pooled = ingest(copy, settings, executor=LocalExecutor(2))
    assert pooled == alone
    assert len(alone.documents) == len(first.documents) + 2
    reasons = [(s.path.rsplit("/", 1)[-1], s.reason) for s in alone.skipped]
    assert [r[0] for r in reasons] == ["bad.jsonl (line 2)", "bad.jsonl (line 3)", "binary.txt"]
    assert reasons[1][1].startswith("no text field")  # found on a worker


def test_a_cold_run_reads_and_stores_while_the_pool_analyses_with_a_bounded_number_of_rounds_under_way(
        mixed, tmp_path, monkeypatch):
    """On the local pool, a round's analysis is not waited for before the next round is read and looked up
    (the workers are not left idle while this process reads and stores), yet no more than
    INGEST_POOL_PENDING rounds wait for their results at once (what this process holds stays bounded); the
    documents and skips are those of a run without workers, in the same order."""
    import shutil

    from pipeline import ingest as ingest_module

    copy = tmp_path / "news"
    shutil.copytree(mixed[0], copy)
    for k in range(12):
        (copy / f"extra-{k:02d}.txt").write_text(f"Dépêche {k}\n\n" + (P1, P2, P3, P4)[k % 4], encoding="utf-8")

    class CountingStore(_DictStore):
        def __init__(self) -> None:
            super().__init__()
            self.looked_up = self.stored = self.most_under_way = 0

        def load_many(self, keys):
            self.looked_up += 1
            self.most_under_way = max(self.most_under_way, self.looked_up - self.stored)
            return super().load_many(keys)

        def save_many(self, items):
            self.stored += 1
            super().save_many(items)

    monkeypatch.setattr("pipeline.ingest.INGEST_SLICE", 1)
    monkeypatch.setattr("pipeline.ingest.INGEST_ROUND", 3)
    settings = Settings().ingest
    alone = ingest(copy, settings)
    store = CountingStore()
    pooled = ingest(copy, settings, store=store, executor=LocalExecutor(2))
    assert pooled == alone
    assert store.looked_up == store.stored >= 6
    # looked up while earlier rounds were still being analysed (the old way: never), but never too many
    assert 2 <= store.most_under_way <= ingest_module.INGEST_POOL_PENDING + 1
