"""The review site: offline HTML pages where a citation shows its paragraph in French and English.

The browser tests drive Debian's chromium (scripts/setup.sh installs it)
through Playwright; they skip only where chromium is absent.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pipeline.dedup import group_of
from pipeline.render import citation_numbers
from pipeline.corpus_index import sentence_spans
from pipeline.render.review import paragraphs_for_review, render_review_page, review_jobs, write_review_site

from conftest import CORPUS
from test_schema import Tagged, build_run

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ATTR = '"><img src=x onerror=alert(1)>'
XSS_CORPUS = {
    "a.txt": (
        f"Piratage du site de la mairie {XSS_SCRIPT}\n\n"
        f"Le site officiel de la mairie de Nîmes a affiché mardi le code {XSS_SCRIPT} après une attaque informatique "
        "revendiquée par un groupe inconnu.\n\n"
        f"« Le code {XSS_ATTR} a été injecté dans notre page d'accueil pendant la nuit de lundi », a déclaré "
        "Claire Dumont, adjointe au numérique.\n"
    ),
    "b.txt": (
        f"Le site officiel de la mairie de Nîmes a affiché mardi le code {XSS_SCRIPT} après une attaque informatique "
        "revendiquée par un groupe inconnu de hackers.\n\n"
        f"Les techniciens ont retrouvé la chaîne {XSS_ATTR} dans le titre de la page d'accueil de la mairie.\n"
    ),
}


def chromium_missing() -> str | None:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return "chromium is not installed (scripts/setup.sh installs the Debian package)"
    return None


needs_chromium = pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or "")


def _english(built) -> dict[tuple[str, str, str], str]:
    """The review pages' translations, as the flow makes them: each distinct sentence once."""
    jobs = review_jobs(built.briefs, built.index, built.dedup)
    return dict(zip(jobs, Tagged().translate([text for _lang, _en, text in jobs])))


def _english_of(paragraph, english) -> str:
    """A paragraph's English as the page shows it: its sentences translated one by one, in place."""
    out, cursor = [], 0
    for s, at, end in sentence_spans(paragraph):
        out += [paragraph.text[cursor:at], english[(paragraph.lang, "en", s.text)]]
        cursor = end
    return "".join(out) + paragraph.text[cursor:]


@pytest.fixture(scope="module")
def sample_site(tmp_path_factory, settings):
    built = build_run(CORPUS, settings)
    english = _english(built)
    run_dir = tmp_path_factory.mktemp("run")
    paths = write_review_site(run_dir, built.briefs, built.index, built.dedup, english, "run-test")
    return built, english, paths


@pytest.fixture(scope="module")
def xss_site(tmp_path_factory, settings):
    corpus = tmp_path_factory.mktemp("xss") / "corpus"
    corpus.mkdir()
    for name, text in XSS_CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    # a one-sentence summary, so that the quote is a key quote rather than a summary sentence
    built = build_run(corpus, settings.model_copy(update={"summarize": settings.summarize.model_copy(update={"sentences": 1})}))
    assert any(XSS_ATTR in q.text_fr for b in built.briefs for q in b.quotes)
    paths = write_review_site(tmp_path_factory.mktemp("run"), built.briefs, built.index, built.dedup, _english(built),
                              "r")
    return built, paths


def test_paragraphs_for_review_are_the_cited_ones_and_their_duplicates(sample_site):
    built, _english, _paths = sample_site
    pids = paragraphs_for_review(built.briefs, built.index, built.dedup)
    assert len(pids) == len(set(pids))
    cited = {built.index.sentences[sid].pid for b in built.briefs for sid in citation_numbers(b)}
    assert cited <= set(pids)
    sentence_groups = group_of(built.dedup.sentence_groups)
    for sid in (sid for b in built.briefs for sid in citation_numbers(b)):
        for m in sentence_groups[sid].members if sid in sentence_groups else ():
            assert built.index.sentences[m.id].pid in pids
    assert all(built.index.paragraphs[p].lang == "fr" for p in pids)


def test_site_files_are_self_contained(sample_site):
    built, _english, paths = sample_site
    assert [p.name for p in paths] == ["index.html"] + [f"{b.story_id}.html" for b in built.briefs]
    for path in paths:
        html = path.read_text(encoding="utf-8")
        assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html), path  # nothing fetched
        assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert 'href="story-001.html"' in paths[0].read_text(encoding="utf-8")


def test_corpus_text_is_escaped(xss_site):
    built, paths = xss_site
    html = "".join(p.read_text(encoding="utf-8") for p in paths)
    assert XSS_SCRIPT not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count("<script>") == len(paths) - 1  # the page script only, on brief pages


def _browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@needs_chromium
def test_citation_click_shows_paragraph_side_by_side(sample_site, tmp_path):
    from playwright.sync_api import sync_playwright

    built, english, paths = sample_site
    brief = built.briefs[0]
    page_path = paths[1]
    with sync_playwright() as p:
        browser = _browser(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("request", lambda r: problems.append(f"request: {r.url}") if not r.url.startswith(("file:", "data:")) else None)
            page.goto(page_path.as_uri())
            page.wait_for_load_state("load")
            assert page.locator("section.evidence.shown").count() == 0

            # the third citation of the first summary sentence's duplicates, or its first: check both ends
            citation = brief.summary[0].citations[-1]
            number = citation_numbers(brief)[citation.sid]
            page.locator(f'#brief a.cite[href="#ev-{number}"]').first.click()
            shown = page.locator("section.evidence.shown")
            assert shown.count() == 1 and shown.get_attribute("id") == f"ev-{number}"
            cited = shown.locator(".paragraph").first
            paragraph = built.index.paragraphs[built.index.sentences[citation.sid].pid]
            assert cited.locator("code.file").inner_text() == citation.file
            # text_content: the DOM text, the language badge ("fr", "en") first
            assert cited.locator(".original").text_content() == "fr" + paragraph.text
            assert cited.locator(".original mark").inner_text() == citation.text
            assert cited.locator(".english").text_content() == "en" + _english_of(paragraph, english)
            assert cited.locator(".english mark").inner_text() == english[("fr", "en", citation.text)]
            # side by side: the English column is to the right of the original, on the same row
            left, right = cited.locator(".original").bounding_box(), cited.locator(".english").bounding_box()
            assert right["x"] > left["x"] + left["width"] - 1 and abs(right["y"] - left["y"]) < 2
            # its duplicates in other sources are listed under it
            others = {c.file for c in brief.summary[0].citations if c.file != citation.file}
            dup_files = set(shown.locator(".paragraph code.file").all_inner_texts()[1:])
            assert others <= dup_files
            page.screenshot(path=str(tmp_path / "review-citation.png"))

            # a quote's citation works the same way
            quote_cite = brief.quotes[0].citations[0]
            page.locator(f'#brief a.cite[href="#ev-{citation_numbers(brief)[quote_cite.sid]}"]').first.click()
            assert quote_cite.text in page.locator("section.evidence.shown mark").first.inner_text()
            assert problems == []
        finally:
            browser.close()
    assert (tmp_path / "review-citation.png").stat().st_size > 10_000


@needs_chromium
def test_index_page_links_to_briefs(sample_site):
    from playwright.sync_api import sync_playwright

    built, _english, paths = sample_site
    with sync_playwright() as p:
        browser = _browser(p)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(paths[0].as_uri())
            page.click(f"text={built.briefs[0].story_id}")
            page.wait_for_load_state("load")
            assert page.url.endswith(f"{built.briefs[0].story_id}.html")
            assert page.locator("h1").inner_text() == built.briefs[0].headline_fr
            assert errors == []
        finally:
            browser.close()


@needs_chromium
def test_corpus_markup_renders_as_text_in_the_browser(xss_site, tmp_path):
    from playwright.sync_api import sync_playwright

    built, paths = xss_site
    with sync_playwright() as p:
        browser = _browser(p)
        try:
            page = browser.new_page()
            dialogs: list[str] = []
            errors: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            for path in paths:
                page.goto(path.as_uri())
                page.wait_for_load_state("load")
                for link in page.locator("#brief a.cite").all():
                    link.click()
                assert page.locator("img").count() == 0
                assert page.locator("script").count() == (0 if path.name == "index.html" else 1)
            body = page.locator("body").inner_text()
            assert XSS_SCRIPT in body and XSS_ATTR in body
            page.screenshot(path=str(tmp_path / "review-xss.png"), full_page=True)
        finally:
            browser.close()
    assert dialogs == [] and errors == []


def test_page_renders_without_english(sample_site):
    built, _english, _paths = sample_site
    html = render_review_page(built.briefs[0], built.index, built.dedup, {})
    assert "no English translation in this run" in html


WIRE = (
    "La tempête Ciaran a frappé les côtes de la Bretagne dans la nuit de mercredi à jeudi avec des rafales à "
    "180 kilomètres par heure. Plus de 780 000 foyers ont été privés d'électricité dans le Finistère selon Enedis.\n\n"
    "Les écoles de toute la région sont restées fermées jeudi par mesure de précaution, a annoncé la préfecture. "
    "Les trains entre Brest et Rennes ne circuleront pas avant vendredi matin.\n"
)


def _wire_site(folder: Path, copies: int, settings):
    """A wire story republished `copies` times under other titles (the paragraphs identical), and its pages."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    for i in range(copies):
        (corpus / f"copy{i:02d}.txt").write_text(f"Tempête en Bretagne, édition {i}\n\n{WIRE}", encoding="utf-8")
    built = build_run(corpus, settings)
    english = _english(built)
    paths = write_review_site(folder / "run", built.briefs, built.index, built.dedup, english, "r")
    return built, english, paths


def test_a_duplicate_group_is_shown_once_per_page_and_translated_once(tmp_path, settings):
    """Each summary sentence cites every copy; the copies' paragraphs are not repeated under every citation."""
    from markupsafe import escape

    shown = {}
    for copies in (3, 9):
        built, english, paths = _wire_site(tmp_path / str(copies), copies, settings)
        assert len(built.briefs) == 1
        brief, html = built.briefs[0], paths[1].read_text(encoding="utf-8")
        numbers = citation_numbers(brief)
        assert len(numbers) >= 2 * copies  # two sentences at least, each cited in every copy
        # every file the text comes from is named on the page
        assert all(f"corpus/copy{i:02d}.txt" in html for i in range(copies))
        # one paragraph view per citation (its own paragraph), plus the duplicate blocks; each block shows
        # one text for the identical copies, with the list of files
        blocks = html.count('<div class="dups"')
        in_blocks = html.count('class="paragraph"') - len(numbers)
        assert f"{copies} copies of this text:" in html
        # the paragraph's text is written once on the page, however many citations and copies show it
        lead = built.index.sentences[next(iter(numbers))]
        assert html.count(f'data-k="0">{escape(lead.text)}</span>') == 1
        shown[copies] = (len(english), blocks, in_blocks, html.count('<div class="pair'))
    # neither the translations nor the duplicate blocks grow with the number of copies
    assert shown[3] == shown[9]


def test_a_block_lists_its_first_copies_and_says_how_many_there_are(tmp_path, settings, monkeypatch):
    """A text repeated across the corpus would list every copy on every page citing it (quadratic in the
    group): a block lists the first `BLOCK_COPIES` in corpus order and says how many there are in all."""
    import pipeline.render.review as review

    monkeypatch.setattr(review, "BLOCK_COPIES", 4)
    built, _english_, paths = _wire_site(tmp_path, 9, settings)
    html = paths[1].read_text(encoding="utf-8")
    blocks = re.findall(r'<div class="dups".*?\n    </div>\n', html, flags=re.S)
    assert blocks
    for block in blocks:
        assert "9 paragraphs in 9 files (the cited one included)" in block
        assert "4 copies of this text:" in block and "lists all 9" in block
        assert [f"copy{i:02d}.txt" in block for i in range(9)] == [True] * 4 + [False] * 5  # corpus order
    # each citation still shows its own paragraph, wherever it is
    assert all(f'data-file="corpus/copy{i:02d}.txt"' in html for i in range(9))


def test_unchanged_pages_come_from_the_cache(sample_site, tmp_path):
    import dataclasses
    import sqlite3

    from pipeline.cache import Cache
    from pipeline.model import DedupResult

    built, english, _paths = sample_site
    cache = Cache(tmp_path / "cache.sqlite")
    first = write_review_site(tmp_path / "run-1", built.briefs, built.index, built.dedup, english, "run-1", cache=cache)
    assert cache.stats["review"].hits == 0 and cache.stats["review"].misses == len(built.briefs)
    second = write_review_site(tmp_path / "run-2", built.briefs, built.index, built.dedup, english, "run-2",
                               cache=cache)
    assert cache.stats["review"].hits == len(built.briefs)
    # the same pages (a brief's page does not name the run: the index and the folder do)
    for a, b in zip(first[1:], second[1:]):
        assert a.read_bytes() == b.read_bytes() and "run-2" not in b.read_text(encoding="utf-8")
    assert "run-2" in second[0].read_text(encoding="utf-8")
    # group ids are numbered across the corpus (any new article renumbers them) and not shown: no new page
    assert built.dedup.sentence_groups
    renumbered = DedupResult(*(tuple(dataclasses.replace(g, group_id=f"X{g.group_id}") for g in groups)
                               for groups in (built.dedup.paragraph_groups, built.dedup.sentence_groups)))
    write_review_site(tmp_path / "run-2b", built.briefs, built.index, renumbered, english, "run-2", cache=cache)
    assert cache.stats["review"].hits == 2 * len(built.briefs)
    # a damaged cache entry is rendered again, never written out as it is
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        db.execute("UPDATE entries SET value = '\"bm90IGEgcGFnZQ==\"' WHERE kind = 'review'")
    again = write_review_site(tmp_path / "run-4", built.briefs, built.index, built.dedup, english, "run-4", cache=cache)
    for a, b in zip(first[1:], again[1:]):
        assert a.read_bytes() == b.read_bytes()
    # a changed translation is a changed page: rendered again
    changed = {job: f"{text} (revised)" for job, text in english.items()}
    third = write_review_site(tmp_path / "run-3", built.briefs, built.index, built.dedup, changed, "run-3", cache=cache)
    assert cache.stats["review"].misses == 2 * len(built.briefs)  # (the damaged entries read as hits)
    assert "(revised)" in third[1].read_text(encoding="utf-8")


def test_a_paragraph_in_another_language_is_shown_in_french_and_english_too(tmp_path, settings):
    from markupsafe import escape
    from test_crosslingual import ENGLISH, FRENCH

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "canicule_fr.txt").write_text("\n\n".join(FRENCH) + "\n", encoding="utf-8")
    (corpus / "heatwave_en.txt").write_text("\n\n".join(ENGLISH) + "\n", encoding="utf-8")
    built = build_run(corpus, settings.model_copy(update={"ingest": settings.ingest.model_copy(
        update={"languages": ["fr", "en"]})}))
    jobs = review_jobs(built.briefs, built.index, built.dedup)
    english = _english(built)
    assert not [j for j in jobs if j[0] == j[1]]  # nothing is translated into its own language
    paths = write_review_site(tmp_path / "run", built.briefs, built.index, built.dedup, english, "r")
    html = "".join(p.read_text(encoding="utf-8") for p in paths)
    shown_en = [built.index.paragraphs[pid] for pid in paragraphs_for_review(built.briefs, built.index, built.dedup)
                if built.index.paragraphs[pid].lang == "en"]
    assert shown_en, "the pages show an English source"
    assert '<div class="french" lang="fr"><span class="lang">fr</span>' in html
    for p in shown_en:
        for s in p.sentences:
            assert ("en", "fr", s.text) in jobs and ("en", "en", s.text) not in jobs
            assert str(escape(english[("en", "fr", s.text)])) in html


def test_cited_mode_translates_only_the_marked_sentences_and_says_so(sample_site, tmp_path):
    """output.review_english: cited: every cited sentence (and its copies) in English; the other sentences
    of the paragraphs shown are not sent to the translator and are shown in their language, with a note."""
    from markupsafe import escape

    from pipeline.render.review import KEPT_NOTE

    built, english, _paths = sample_site
    every = review_jobs(built.briefs, built.index, built.dedup)
    cited = review_jobs(built.briefs, built.index, built.dedup, english="cited")
    marked = {built.index.sentences[sid].text for b in built.briefs for sid in citation_numbers(b)}
    assert set(cited) < set(every)  # fewer sentences to translate...
    assert {("fr", "en", t) for t in marked} <= set(cited)  # ...but every cited one
    paths = write_review_site(tmp_path / "run", built.briefs, built.index, built.dedup,
                              {j: english[j] for j in cited}, "r", english="cited")
    html = "".join(p.read_text(encoding="utf-8") for p in paths[1:])
    for text in marked:
        assert f">{escape(english[('fr', 'en', text)])}</span>" in html
    left = [j[2] for j in every if j not in set(cited)]
    assert left and all(f'<span class="kept">{escape(t)}</span>' in html for t in left)
    assert f' <span class="note">({KEPT_NOTE})</span>' in html and "no English translation" not in html


def test_run_pages_are_cached_by_engine_and_only_when_complete(sample_site, tmp_path):
    """In a run, a cached page is reused without looking its translations up (its key names the engine);
    a page with a sentence left untranslated is never cached, so the next run translates it again."""
    from pipeline.cache import Cache
    from pipeline.render.review import build_review_site

    built, english, _paths = sample_site
    cache = Cache(tmp_path / "cache.sqlite")
    asked: list[int] = []

    def translate(jobs, drop=0):
        asked.append(len(jobs))
        return {j: english[j] for j in jobs[drop:]}

    def site(name, fn):
        return build_review_site(tmp_path / name, built.briefs, built.index, built.dedup, name, translate=fn,
                                 direction_key=lambda source, target: f"engine {source}->{target}", cache=cache)

    site("r1", lambda jobs: translate(jobs, drop=1))  # one sentence failed
    assert asked[-1] > 0 and cache.stats["review"].misses == len(built.briefs)
    full = site("r2", translate)  # tried again: nothing was cached from r1
    assert len(asked) == 2 and asked[-1] == asked[0]
    assert "no English translation in this run" not in full[1].read_text(encoding="utf-8")
    again = site("r3", translate)  # complete pages are reused, no translation asked for
    assert len(asked) == 2 and cache.stats["review"].hits == len(built.briefs)
    assert again[1].read_bytes() == full[1].read_bytes()


def test_unchanged_pages_are_linked_from_the_previous_run(sample_site, tmp_path, caplog):
    """A run whose page has the key the previous run wrote it with links that file (no translation, no
    rendering, no bytes written); a changed page is made again; what a reviewer sees is the same."""
    import logging
    import os

    from pipeline.cache import Cache
    from pipeline.render.review import KEYS_FILE, REVIEW_DIR, build_review_site

    built, english, _paths = sample_site
    cache = Cache(tmp_path / "cache.sqlite")
    asked: list[int] = []

    briefs = _briefs(built, 3)

    def site(name, previous=None, engine="engine", briefs=briefs):
        def translate(jobs):
            asked.append(len(jobs))
            return {j: english[j] for j in jobs}

        return build_review_site(tmp_path / name, briefs, built.index, built.dedup, name, translate=translate,
                                 direction_key=lambda source, target: f"{engine} {source}->{target}", cache=cache,
                                 previous_run=previous)

    first = site("r1")
    second = site("r2", previous=tmp_path / "r1")
    assert len(asked) == 1 and cache.stats["review"].hits == 0  # neither translated nor read from the cache
    for a, b in zip(first[1:], second[1:]):
        assert os.path.samefile(a, b)
    assert "r2" in second[0].read_text(encoding="utf-8") and not os.path.samefile(first[0], second[0])
    # another engine: every page is translated and rendered again, none linked
    third = site("r3", previous=tmp_path / "r2", engine="other engine")
    assert len(asked) == 2
    for a, b in zip(first[1:], third[1:]):
        assert not os.path.samefile(a, b) and a.read_bytes() == b.read_bytes()
    # one brief fewer: the others are still linked, and the keys file lists only what this run wrote
    fourth = site("r4", previous=tmp_path / "r3", engine="other engine", briefs=briefs[1:])
    assert all(os.path.samefile(a, b) for a, b in zip(third[2:], fourth[1:]))
    assert set(json.loads((tmp_path / "r4" / REVIEW_DIR / KEYS_FILE).read_text())) == \
        {b.story_id for b in briefs[1:]}
    # a damaged keys file: said, and the pages are made again (here from the cache)
    (tmp_path / "r4" / REVIEW_DIR / KEYS_FILE).write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        fifth = site("r5", previous=tmp_path / "r4", engine="other engine", briefs=briefs[1:])
    assert KEYS_FILE in caplog.text
    assert all(not os.path.samefile(a, b) and a.read_bytes() == b.read_bytes() for a, b in zip(fourth[1:], fifth[1:]))


def test_pages_rendered_on_a_thread_while_this_one_goes_on_are_cached_when_finished(sample_site, tmp_path,
                                                                                     monkeypatch):
    """`start_review_site` with a background thread: the workers render the pages while the caller goes on; they
    are the pages rendered in line, and reach the cache and the keys file only once `finish()` is called (the
    cache is used from the caller's thread alone)."""
    import threading

    from pipeline.cache import Cache
    from pipeline.executors.local import LocalExecutor
    from pipeline.render.review import KEYS_FILE, REVIEW_DIR, build_review_site, start_review_site

    built, english, _paths = sample_site
    briefs = _briefs(built, 5)
    monkeypatch.setattr("pipeline.render.review.PAGES_PER_ITEM", 2)
    monkeypatch.setattr("pipeline.render.review.ITEMS_PER_BATCH", 2)  # three pages' batches: 2 to cache
    keys = dict(translate=lambda jobs: {j: english[j] for j in jobs},
                direction_key=lambda source, target: f"engine {source}->{target}")
    here = build_review_site(tmp_path / "here", briefs, built.index, built.dedup, "run", cache=Cache(tmp_path / "a"),
                             **keys)
    cache = Cache(tmp_path / "b")
    put_from: set[str] = set()
    real_put = cache.put_many
    monkeypatch.setattr(cache, "put_many", lambda *a, **k: (put_from.add(threading.current_thread().name),
                                                             real_put(*a, **k))[1])
    with LocalExecutor(2).session(None) as session:
        finish = start_review_site(tmp_path / "there", briefs, built.index, built.dedup, "run", cache=cache,
                                   pages_map=session.map, background=True, **keys)
        assert not (tmp_path / "there" / REVIEW_DIR / KEYS_FILE).exists()
        there = finish()
    assert [p.read_bytes() for p in there] == [p.read_bytes() for p in here]
    assert put_from == {threading.current_thread().name}
    assert len(json.loads((tmp_path / "there" / REVIEW_DIR / KEYS_FILE).read_text())) == len(briefs)
    again = build_review_site(tmp_path / "again", briefs, built.index, built.dedup, "run", cache=cache, **keys)
    assert cache.stats["review"].hits == len(briefs) and again[1].read_bytes() == here[1].read_bytes()

    def broken(fn, items):
        raise RuntimeError("a worker failed")

    finish = start_review_site(tmp_path / "broken", briefs, built.index, built.dedup, "run",
                               cache=Cache(tmp_path / "c"), pages_map=broken, background=True, **keys)
    with pytest.raises(RuntimeError, match="a worker failed"):  # raised in the caller's thread, by finish()
        finish()


def test_pages_rendered_on_workers_are_the_pages_rendered_here(sample_site, tmp_path, monkeypatch):
    """Pages are rendered on the executor's workers, a few per item: the same bytes as in this process."""
    from pipeline.executors.local import LocalExecutor

    built, english, _paths = sample_site
    briefs = _briefs(built, 5)
    monkeypatch.setattr("pipeline.render.review.PAGES_PER_ITEM", 2)  # three items: both workers render...
    monkeypatch.setattr("pipeline.render.review.ITEMS_PER_BATCH", 2)  # ...in two batches
    here = write_review_site(tmp_path / "here", briefs, built.index, built.dedup, english, "run-test")
    with LocalExecutor(2).session(None) as session:
        pooled = write_review_site(tmp_path / "run", briefs, built.index, built.dedup, english, "run-test",
                                   pages_map=session.map)
    assert [p.read_bytes() for p in pooled] == [p.read_bytes() for p in here]


def _briefs(built, n):
    """The sample's brief under n story ids (the sample corpus makes one story)."""
    import dataclasses

    return [dataclasses.replace(built.briefs[0], story_id=f"story-{k:03d}") for k in range(n)]


def test_sentence_spans_are_where_the_text_is(settings):
    """A sentence repeated in its paragraph is given its own place, whether the sentences were made by
    ingest (spans of the paragraph's text) or whole (found in order): citations quote what they point at."""
    from pipeline.model import Paragraph, Sentence

    text = "Il pleut. Il pleut. Le vent souffle."
    spans = [("Il pleut.", 0, 9), ("Il pleut.", 10, 19), ("Le vent souffle.", 20, 36)]
    by_span = [Sentence.span(f"d:p1.s{k}", "d:p1", text, at, end, 1, 1, at, end)
               for k, (_, at, end) in enumerate(spans, 1)]
    whole = [Sentence(f"d:p1.s{k}", "d:p1", t, 1, 1) for k, (t, _, _) in enumerate(spans, 1)]
    for sentences in (by_span, whole):
        paragraph = Paragraph("d:p1", "d", 1, text, 1, 1, "fr", "body", tuple(sentences))
        got = [(s.text, at, end) for s, at, end in sentence_spans(paragraph)]
        assert got == spans
        assert all(text[at:end] == t for t, at, end in got)


# The page's evidence, blocks and stored texts as the template wrote them in Jinja (autoescaped) before
# they were written in Python (`_evidence_html`, `_blocks_html`, `_texts_html`): the reference they must equal.
_REFERENCE_LOOPS = """\
{% for e in evidence %}
  <section class="evidence" id="ev-{{ e.number }}" data-file="{{ e.file }}"{% if e.block %} data-block="{{ e.block }}"{% endif %}>
    <h3>[{{ e.number }}] <code class="file">{{ e.file }}</code>, paragraph {{ e.paragraph }}, {{ e.lines }}</h3>
    <div class="cited-sentence">Cited sentence: <mark>{{ e.text }}</mark></div>
{{ slot(e.cited) }}
{% if e.block %}
    <h4 class="dups-link"><a href="#{{ e.block }}">Same text in other sources</a></h4>
{% else %}
    <h4>No duplicate of this text in other sources</h4>
{% endif %}
  </section>
{% endfor %}
=====
{% for b in blocks %}
    <div class="dups" id="{{ b.id }}">
      <h4>The same text in the corpus: {{ b.n_paragraphs }} paragraph{{ 's' if b.n_paragraphs != 1 else '' }} in {{ b.n_files }} file{{ 's' if b.n_files != 1 else '' }} (the cited one included), {{ b.slots | length }} distinct text{{ 's' if b.slots | length != 1 else '' }}{% if b.n_shown < b.n_paragraphs %} in the first {{ b.n_shown }}{% endif %}</h4>
{% if b.n_shown < b.n_paragraphs %}
      <p class="more">The first {{ b.n_shown }} paragraphs in corpus order are listed here; <code>dedup.json</code> lists all {{ b.n_paragraphs }}.</p>
{% endif %}
{% for s in b.slots %}
{{ slot(s) }}
{% endfor %}
    </div>
{% endfor %}
=====
{% for t in texts %}
    <div class="pair{% if t.lang != 'fr' %} three{% endif %}" id="{{ t.id }}">
      <div class="original" lang="{{ t.lang }}"><span class="lang">{{ t.lang }}</span>{{ units(t.original) }}</div>
{% if t.lang != 'fr' %}
      <div class="french" lang="fr"><span class="lang">fr</span>{{ translation(t.french, t.french_note) }}</div>
{% endif %}
      <div class="english" lang="en"><span class="lang">en</span>{{ translation(t.english, t.english_note) }}</div>
    </div>
{% endfor %}
=====
{% for s in items %}{% for c in s.citations %}<a class="cite" href="#ev-{{ numbers[c.sid] }}" title="{{ c.file }}, paragraph {{ c.paragraph }}">{{ numbers[c.sid] }}</a>{% endfor %}|{% endfor %}
"""


def test_escaping_written_in_python_is_markupsafes():
    from markupsafe import escape

    from pipeline.render.review import _esc

    from markupsafe import Markup

    class Name(str):
        pass

    for text in [XSS_SCRIPT, XSS_ATTR, "l'été & « guillemets » \"x\" <b>", "", "&amp;", 12, 0, -3, "\u2028\x00",
                 "'\"&<>" * 3, Markup("<b>x</b>"), Name("<i>"), True, 2.5, None]:
        assert _esc(text) == str(escape(text)) and type(_esc(text)) is str


@pytest.mark.parametrize("site", ["sample_site", "xss_site"])
def test_page_parts_written_in_python_are_what_the_template_wrote(site, request):
    """The evidence sections, duplicate blocks, stored texts and citation links of every page, written in
    Python, are byte for byte what the template's autoescaped Jinja loops wrote."""
    from jinja2 import Environment
    from markupsafe import Markup

    from pipeline.render.review import (_Lookups, _blocks_html, _cites_html, _evidence_html, _page, _slot_html,
                                        _texts_html, _translation_html, _units_html)

    built, *rest = request.getfixturevalue(site)
    english = rest[0] if site == "sample_site" else _english(built)
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    loops = [env.from_string(t) for t in _REFERENCE_LOOPS.split("=====\n")]
    helpers = {"slot": lambda s: Markup(_slot_html(s)), "units": lambda u: Markup(_units_html(u)),
               "translation": lambda u, n: Markup(_translation_html(u, n))}
    lookups = _Lookups.build(built.index, built.dedup)
    checked = 0
    for brief in built.briefs:
        data = _page(brief, built.index, lookups, english, "all").data(brief)
        assert _evidence_html(data["evidence"]) == loops[0].render(**data, **helpers)
        assert _blocks_html(data["blocks"]) == loops[1].render(**data, **helpers)
        assert _texts_html(data["texts"]) == loops[2].render(**data, **helpers)
        items = [*brief.summary, *brief.quotes]
        assert "".join(_cites_html(s, data["numbers"]) + "|" for s in items) == \
            loops[3].render(items=items, numbers=data["numbers"])
        checked += len(data["evidence"]) + len(data["blocks"])
    assert checked
