"""A reviewer's day in real Chromium: review, sign off, reload, a new run with one more article, review again, export.

The pipeline really runs (pipeline.runner.run, Apertium), the server is the
real one (uvicorn on 127.0.0.1), and Playwright drives Debian's chromium
(never `playwright install`). Screenshots go to the test's tmp folder, and
also to $PIPELINE_SCREENS_DIR when set.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.config import Settings
from pipeline.review import item_key
from pipeline.review.server import create_app
from pipeline.runner import RunOptions, run

from conftest import CORPUS, apertium_missing
from test_review_page import CHROMIUM, CHROMIUM_ARGS, chromium_missing

pytestmark = [
    pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or ""),
    pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or ""),
]

FIRST = sorted(CORPUS.glob("*.txt"))[:3]
ADDED = sorted(CORPUS.glob("*.txt"))[3]


def pipeline_run(corpus: Path, out: Path) -> Path:
    report = run(RunOptions(settings=Settings(), config_path=Path("test"), corpus=corpus, out=out))
    assert report.exit_code == 0 and report.run_dir is not None, report.message
    return report.run_dir


def only_story(run_dir: Path) -> str:
    """The id of the run's one story (the sample articles tell one story)."""
    (brief,) = (run_dir / "briefs").glob("*.json")
    return brief.stem


def keys_of(run_dir: Path, story_id: str) -> dict[str, str]:
    """item key -> French text, of the story in the run."""
    brief = json.loads((run_dir / "briefs" / f"{story_id}.json").read_text(encoding="utf-8"))
    return {item_key(story_id, kind, e["fr"], e["citations"]): e["fr"]
            for kind, entries in (("sentence", brief["summary"]), ("quote", brief["quotes"])) for e in entries}


@pytest.fixture
def server(tmp_path):
    import uvicorn

    out = tmp_path / "out"
    srv = uvicorn.Server(uvicorn.Config(create_app(out), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    yield out, srv, thread
    srv.should_exit = True
    thread.join(10)


def shot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("PIPELINE_SCREENS_DIR"):
        Path(os.environ["PIPELINE_SCREENS_DIR"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["PIPELINE_SCREENS_DIR"]) / name)


def test_reviewer_signs_off_and_decisions_carry_over_to_the_next_run(tmp_path, server):
    from playwright.sync_api import expect, sync_playwright

    out, srv, thread = server
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in FIRST:
        shutil.copy(f, corpus / f.name)
    run1 = pipeline_run(corpus, out)
    story_id = only_story(run1)
    thread.start()
    while not srv.started:
        thread.join(0.05)
    base = f"http://127.0.0.1:{srv.servers[0].sockets[0].getsockname()[1]}"

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("request", lambda r: problems.append(f"request: {r.url}")
                    if not r.url.startswith((base + "/", "data:")) else None)

            page.goto(base + "/")
            page.click(f"text={story_id}")
            expect(page.locator("h1")).to_have_count(1)
            items = page.locator("li.item")
            n = items.count()
            assert n >= 4 and page.locator("li.status-to-review").count() == n
            expect(page.locator("#sign-off")).to_be_disabled()
            page.fill("#reviewer", "Anne Martin")

            def item(i: int):
                return page.locator("li.item").nth(i)

            # edit the English (the original stays visible) and comment, reject with a reason, approve
            original_en = item(0).locator(".text-en").inner_text()
            item(0).locator("summary").click()
            item(0).locator("textarea[name=en]").fill("Edited by a person: " + original_en)
            item(0).locator("button[data-action=edit]").click()
            expect(item(0).locator(".badge")).to_have_text("modifié · edited")
            expect(item(0).locator(".text-en")).to_have_text("Edited by a person: " + original_en)
            expect(item(0).locator(".orig-en")).to_have_text(original_en)
            expect(item(0).locator(".edited").last).to_have_text("✎ edited by Anne Martin")
            item(0).locator("summary").click()
            item(0).locator("textarea[name=text]").fill("<b>vérifier</b> la date")
            item(0).locator("button[data-action=comment]").click()
            expect(item(0).locator("ul.comments li")).to_contain_text("<b>vérifier</b> la date")
            item(1).locator("input[name=reason]").fill("déjà publié hier")
            item(1).locator("button[data-action=reject]").click()
            expect(item(1).locator(".reason")).to_have_text("reason: déjà publié hier")
            for i in range(2, n):
                item(i).locator("button[data-action=approve]").click()
                expect(item(i).locator(".badge")).to_have_text("approuvé · approved")

            # a citation still shows the cited paragraph in French and English side by side
            item(0).locator("a.cite").first.click()
            shown = page.locator("section.evidence.shown")
            expect(shown).to_have_count(1)
            left = shown.locator(".paragraph .original").first.bounding_box()
            right = shown.locator(".paragraph .english").first.bounding_box()
            assert right["x"] > left["x"] + left["width"] - 1 and abs(right["y"] - left["y"]) < 2

            page.locator("#sign-off").click()
            expect(page.locator("#signoff .signer")).to_have_text("Anne Martin")
            shot(page, tmp_path, "review-1-signed-off.png")

            # reload: everything kept
            page.reload()
            expect(page.locator("#signoff .signer")).to_have_text("Anne Martin")
            status_of = "els => Object.fromEntries(els.map(e => [e.dataset.key, e.className.split(' ').pop()]))"
            statuses = page.locator("li.item").evaluate_all(status_of)
            assert list(statuses.values()) == ["status-edited", "status-rejected"] + ["status-approved"] * (n - 2)
            expect(item(0).locator(".orig-en")).to_have_text(original_en)
            expect(item(0).locator("ul.comments li")).to_contain_text("<b>vérifier</b> la date")

            # the next run, with one article more
            shutil.copy(ADDED, corpus / ADDED.name)
            run2 = pipeline_run(corpus, out)
            assert only_story(run2) == story_id  # the same story keeps its id: runs are compared through it
            before, after = keys_of(run1, story_id), keys_of(run2, story_id)
            kept, new = [k for k in after if k in before], [k for k in after if k not in before]
            assert kept and new  # the sample corpus: some sentences stay, some are new or re-cited
            page.reload()
            expect(page.locator("li.item")).to_have_count(len(after))
            now = page.locator("li.item").evaluate_all(status_of)
            assert {k: now[k] for k in kept} == {k: statuses[k] for k in kept}  # decisions carried over
            assert {now[k] for k in new} == {"status-to-review"}
            expect(page.locator("#signoff .lost")).to_contain_text("Sign-off lost: signed off by Anne Martin")
            changes = page.locator("#changes")
            expect(changes.locator("h2")).to_have_text(f"Changes since {run1.name}")
            expect(changes.locator(".new-article")).to_have_text(f"New article: corpus/{ADDED.name}")
            written = json.loads((run2 / "briefs" / f"{story_id}.json").read_text(encoding="utf-8"))["changes"]
            assert changes.locator(".new-sentence").count() == len(written["new_sentences"])
            assert changes.locator(".removed-sentence").count() == len(written["removed_sentences"])
            assert f"## Changes in run {run2.name}, since {run1.name}" in (run2 / "briefs" / f"{story_id}.md").read_text(encoding="utf-8")
            shot(page, tmp_path, "review-2-after-new-run.png")

            # review what is new (edit the first, approve the others), sign off again, export
            first = page.locator(f'li.item[data-key="{new[0]}"]')
            first.locator("summary").click()
            first.locator("textarea[name=fr]").fill("Revu : " + first.locator(".text-fr").inner_text())
            first.locator("button[data-action=edit]").click()
            expect(first.locator(".badge")).to_have_text("modifié · edited")
            for k in new[1:]:
                page.locator(f'li.item[data-key="{k}"] button[data-action=approve]').click()
                expect(page.locator(f'li.item[data-key="{k}"] .badge')).to_have_text("approuvé · approved")
            page.locator("#sign-off").click()
            expect(page.locator("#signoff .signer")).to_have_text("Anne Martin")
            assert problems == []
        finally:
            browser.close()

    to = tmp_path / "export"
    assert main(["review", "--out", str(out), "export", "--to", str(to), "--signed-off-only"]) == 0
    data = json.loads((to / f"{story_id}.json").read_text(encoding="utf-8"))
    assert data["run_id"] == run2.name and data["review"]["signed_off_by"] == "Anne Martin"
    md = (to / f"{story_id}.md").read_text(encoding="utf-8")
    assert "**Signed off by Anne Martin**" in md and "Revu : " in md and "modifié par Anne Martin" in md
    # run 1's decisions are in the export exactly where their sentence is still in the brief
    by_status = {v: k for k, v in statuses.items()}
    assert ("déjà publié hier" in md) == (by_status["status-rejected"] in kept)
    assert ("Edited by a person: " in md) == (by_status["status-edited"] in kept)
    assert sum(1 for e in data["summary"] + data["quotes"] if e["decision"] == "edited") >= 1
    if os.environ.get("PIPELINE_SCREENS_DIR"):
        shutil.copy(to / f"{story_id}.md", Path(os.environ["PIPELINE_SCREENS_DIR"]) / "export-signed-off.md")
