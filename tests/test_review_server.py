"""The review server (pipeline.review): decisions stored by sentence identity, carried over, signed off, exported; safe.

Runs are written by hand (briefs/*.json as the runner writes them), so these
tests need no engine; tests/test_review_server_browser.py drives the real
thing in Chromium.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pipeline.__main__ import main
from pipeline.changes import Changes
from pipeline.model import Quote
from pipeline.render import brief_to_dict, json_text
from pipeline.review import item_key, latest_run, open_store, run_states, story_state
from pipeline.review.server import create_app, safe_run_file
from pipeline.review.state import ReviewError, act
from pipeline.review.store import ReviewStore

from test_changes import A, B, C, brief, cite, sentence, write_run

XSS = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'


def story(*sentences, quote: str | None = None, files=("corpus/a.txt",)):
    b = brief("story-001", list(sentences), list(files))
    if quote:
        b = replace(b, quotes=(Quote(text_fr=quote, citations=(cite("corpus/a.txt", 9, f"« {quote} »"),),
                                     speaker="Claire Dumont", attribution=", a dit Claire Dumont", text_en="EN " + quote),))
    return b


Q = "Nous rouvrirons la piscine avant l'été, quoi qu'il arrive"


@pytest.fixture
def out(tmp_path):
    write_run(tmp_path, "20260101T000000Z", [story(sentence(A, "EN A"), sentence(B, "EN B"), quote=Q)])
    return tmp_path


def keys(out: Path) -> list[str]:
    return [i.key for i in story_state(latest_run(out), open_store(out), "story-001").items]


def test_identity_is_what_it_says_and_cites_not_its_position():
    c1, c2 = cite("corpus/a.txt", 1, A), cite("corpus/b.txt", 4, A)
    assert item_key("story-001", "sentence", A, [vars(c1), vars(c2)]) == \
        item_key("story-001", "sentence", " " + A.replace(" ", "  "), [vars(c2), vars(c1)])
    base = item_key("story-001", "sentence", A, [vars(c1)])
    assert base != item_key("story-002", "sentence", A, [vars(c1)])
    assert base != item_key("story-001", "quote", A, [vars(c1)])
    assert base != item_key("story-001", "sentence", A + " Non.", [vars(c1)])
    assert base != item_key("story-001", "sentence", A, [vars(c1), vars(c2)])
    assert base != item_key("story-001", "sentence", A, [{**vars(c1), "line_end": 2}])


def test_decisions_persist_and_carry_over_to_unchanged_sentences(out):
    run = latest_run(out)
    k_a, k_b, k_q = keys(out)
    act(run, open_store(out), "story-001", "approve", "Anne", {}, key=k_a)
    act(run, open_store(out), "story-001", "reject", "Bruno", {"reason": "hors sujet"}, key=k_b)
    act(run, open_store(out), "story-001", "edit", "Anne", {"fr": Q, "en": "We will reopen the pool before summer"},
        key=k_q)
    act(run, open_store(out), "story-001", "comment", "Bruno", {"text": "vérifier la date"}, key=k_q)
    state = act(run, open_store(out), "story-001", "sign_off", "Anne", {})
    assert state.signed_off is not None and state.signed_off.reviewer == "Anne"

    # a new store object on the same file (another process, another day): everything is there
    items = story_state(run, ReviewStore(out / "review.sqlite"), "story-001").items
    assert [(i.status, i.decided_by) for i in items] == [("approved", "Anne"), ("rejected", "Bruno"), ("edited", "Anne")]
    assert items[1].reason == "hors sujet"
    assert items[2].final_en == "We will reopen the pool before summer" and items[2].en == "EN " + Q  # original kept
    assert items[2].edited_fr is None and items[2].edited_by == "Anne"
    assert [c.text for c in items[2].comments] == ["vérifier la date"]

    # the next run: same brief, unchanged -> decisions and sign-off carry over
    write_run(out, "20260102T000000Z", [story(sentence(A, "EN A"), sentence(B, "EN B"), quote=Q)])
    state = story_state(latest_run(out), open_store(out), "story-001")
    assert [i.status for i in state.items] == ["approved", "rejected", "edited"]
    assert state.signed_off is not None and state.signed_off.run_id == "20260101T000000Z"

    # the run after: A gets a new citation, C is new, B is gone, the quote's English changed (edited: kept)
    write_run(out, "20260103T000000Z", [story(sentence(A, "EN A", cite("corpus/a.txt", 1, A), cite("corpus/b.txt", 2, A)),
                                              sentence(C, "EN C"), quote=Q, files=("corpus/a.txt", "corpus/b.txt"))])
    state = story_state(latest_run(out), open_store(out), "story-001")
    assert [i.status for i in state.items] == ["to review", "to review", "edited"]
    assert state.signed_off is None
    assert state.sign_off_lost and "2 new or changed sentences to review" in state.sign_off_lost \
        and "2 sentences removed or changed" in state.sign_off_lost and "Anne" in state.sign_off_lost
    assert state.changes is not None and state.changes.new_articles == ("corpus/b.txt",)
    assert state.changes.removed_sentences == (B,) and state.changes.new_sentences == (C,)


def test_changed_english_sends_an_approval_back_to_review(out):
    k_a = keys(out)[0]
    act(latest_run(out), open_store(out), "story-001", "approve", "Anne", {}, key=k_a)
    write_run(out, "20260102T000000Z", [story(sentence(A, "EN A, better"), sentence(B, "EN B"), quote=Q)])
    item = story_state(latest_run(out), open_store(out), "story-001").items[0]
    assert item.key == k_a and item.status == "to review"
    assert item.note and "English translation changed since Anne approved it" in item.note and "EN A" in item.note


def test_sign_off_needs_every_sentence_decided_and_a_later_decision_undoes_it(out):
    run = latest_run(out)
    k_a, k_b, k_q = keys(out)
    with pytest.raises(ReviewError, match="3 sentences still to review"):
        act(run, open_store(out), "story-001", "sign_off", "Anne", {})
    for k in (k_a, k_b, k_q):
        act(run, open_store(out), "story-001", "approve", "Anne", {}, key=k)
    assert act(run, open_store(out), "story-001", "sign_off", "Anne", {}).signed_off is not None
    act(run, open_store(out), "story-001", "comment", "Bruno", {"text": "ok"}, key=k_a)  # a comment changes nothing
    assert story_state(run, open_store(out), "story-001").signed_off is not None
    state = act(run, open_store(out), "story-001", "reject", "Bruno", {"reason": "faux"}, key=k_a)
    assert state.signed_off is None and "a decision was changed after it" in (state.sign_off_lost or "")


@pytest.mark.parametrize("action, fields, message", [
    ("reject", {"reason": "  "}, "reason for rejecting is empty"),
    ("edit", {"fr": A, "en": "EN A"}, "nothing was changed"),
    ("edit", {"fr": "", "en": "x"}, "French wording is empty"),
    ("comment", {}, "comment is empty"),
    ("vote", {}, "unknown action"),
])
def test_bad_requests_say_why_and_store_nothing(out, action, fields, message):
    with pytest.raises(ReviewError, match=message):
        act(latest_run(out), open_store(out), "story-001", action, "Anne", fields, key=keys(out)[0])
    with pytest.raises(ReviewError, match="reviewer name is empty"):
        act(latest_run(out), open_store(out), "story-001", "approve", " ", {}, key=keys(out)[0])
    with pytest.raises(ReviewError, match="no longer in story"):
        act(latest_run(out), open_store(out), "story-001", "approve", "Anne", {}, key="0" * 32)
    assert open_store(out).events() == []


def test_two_reviewers_at_once_lose_nothing(out):
    run, k_a = latest_run(out), keys(out)[0]
    errors: list[BaseException] = []

    def reviewer(name: str, action: str, fields: dict) -> None:
        store = open_store(out)  # each its own connection, as each server request
        try:
            for _ in range(25):
                act(run, store, "story-001", action, name, fields, key=k_a)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reviewer, args=("Anne", "approve", {})),
               threading.Thread(target=reviewer, args=("Bruno", "reject", {"reason": "non"}))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = open_store(out).events("story-001")
    assert sorted((e.reviewer, e.action) for e in events) == [("Anne", "approve")] * 25 + [("Bruno", "reject")] * 25
    item = story_state(run, open_store(out), "story-001").items[0]
    last = events[-1]
    assert item.decided_by == last.reviewer and item.status == ("approved" if last.action == "approve" else "rejected")
    assert len(item.history) == 50


def test_damaged_review_file_is_moved_aside_with_a_warning(out, caplog):
    (out / "review.sqlite").write_bytes(b"this is not a database" * 100)
    with caplog.at_level("WARNING", logger="pipeline"):
        store = open_store(out)
    assert store.warnings and "moved it to" in store.warnings[0]
    assert "could not be read" in caplog.text
    assert len(list(out.glob("review.sqlite.damaged-*"))) == 1
    act(latest_run(out), store, "story-001", "approve", "Anne", {}, key=keys(out)[0])
    client = TestClient(create_app(out), base_url="http://127.0.0.1")
    (out / "review.sqlite").write_bytes(b"\x00garbage" * 500)
    client = TestClient(create_app(out), base_url="http://127.0.0.1")
    page = client.get("/brief/story-001")
    assert page.status_code == 200 and "could not be read" in page.text
    assert sqlite3.connect(out / "review.sqlite").execute("SELECT count(*) FROM history").fetchone() == (0,)


def csrf(page_html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page_html)
    assert match
    return match.group(1)


def test_state_changes_need_the_csrf_token(out):
    client = TestClient(create_app(out), base_url="http://127.0.0.1")
    token = csrf(client.get("/brief/story-001").text)
    body = {"action": "approve", "reviewer": "Anne", "key": keys(out)[0]}
    assert client.post("/api/story-001", json=body).status_code == 403
    assert client.post("/api/story-001", json=body, headers={"X-CSRF-Token": "x" + token}).status_code == 403
    other = TestClient(create_app(out), base_url="http://127.0.0.1")  # another server's token is no good either
    assert other.post("/api/story-001", json=body, headers={"X-CSRF-Token": token}).status_code == 403
    assert client.post("/api/story-001", content=json.dumps(body), headers={"X-CSRF-Token": token,
                                                                         "Content-Type": "text/plain"}).status_code == 415
    assert open_store(out).events() == []
    ok = client.post("/api/story-001", json=body, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200 and "approuvé · approved" in ok.json()["item_html"]
    bad = client.post("/api/story-001", json={**body, "action": "reject"}, headers={"X-CSRF-Token": token})
    assert bad.status_code == 400 and "reason for rejecting is empty" in bad.json()["error"]
    assert client.get("/api/story-001").status_code == 405
    # a page asked for under another host name (DNS rebinding) is refused
    assert TestClient(create_app(out), base_url="http://evil.example").get("/").status_code == 400


def test_nothing_outside_the_run_folder_is_served(out, tmp_path_factory):
    run_dir = latest_run(out).run_dir
    secret = tmp_path_factory.mktemp("secret") / "secret.txt"
    secret.write_text("secret", encoding="utf-8")
    (run_dir / "briefs" / "link.txt").symlink_to(secret)
    (out / "review-notes.txt").write_text("outside the run", encoding="utf-8")
    for bad in ["../review-notes.txt", "briefs/../../review-notes.txt", "../20251231T000000Z/briefs/story-001.json",
                str(secret), "/etc/passwd", "//etc/passwd", "briefs/link.txt", "briefs", "", "C:\\x", "..\\x",
                "briefs/story-001.json\x00.md", "%2e%2e/review-notes.txt"]:
        assert safe_run_file(run_dir, bad) is None, bad
    assert safe_run_file(run_dir, "briefs/story-001.json") == run_dir / "briefs" / "story-001.json"

    # and over HTTP, raw paths as a client could send them (http.client sends them as written)
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(create_app(out), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]

        def get(path: str) -> tuple[int, bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()

        assert get("/run/briefs/story-001.json")[0] == 200
        for path in ["/run/../review-notes.txt", "/run/briefs/../../review-notes.txt", "/run/%2e%2e/review-notes.txt",
                     "/run/%2E%2E%2Freview-notes.txt", "/run/..%2f..%2fetc%2fpasswd", "/run//etc/passwd",
                     "/run/%2Fetc%2Fpasswd", f"/run/{secret}", "/run/briefs/link.txt", "/static/..%2f..%2frunner.py",
                     "/static/../../runner.py", "/brief/..%2f..%2fetc%2fpasswd", "/brief/story-001%00"]:
            status, body = get(path)
            assert status in (400, 404), (path, status)
            assert b"outside the run" not in body and b"secret" not in body and b"root:" not in body, path
    finally:
        server.should_exit = True
        thread.join(10)


def test_corpus_text_file_names_and_reviewer_input_are_escaped(tmp_path):
    write_run(tmp_path, "20260101T000000Z", [story(sentence(f"Le code {XSS} a été affiché.", f"EN {XSS}",
                                                            cite(f"corpus/{XSS}.txt", 1, "x")),
                                                   files=(f"corpus/{XSS}.txt",))])
    client = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    page = client.get("/brief/story-001")
    token = csrf(page.text)
    k = keys(tmp_path)[0]
    for action, fields in (("comment", {"text": XSS}), ("edit", {"fr": XSS, "en": XSS}), ("reject", {"reason": XSS})):
        r = client.post("/api/story-001", json={"action": action, "reviewer": XSS, "key": k, **fields},
                        headers={"X-CSRF-Token": token})
        assert r.status_code == 200, r.text
        assert "<script>" not in r.json()["item_html"] and "<img" not in r.json()["item_html"]
    for html in (client.get("/brief/story-001").text, client.get("/").text):
        assert "<script>alert" not in html and "<img src=x" not in html
    assert client.get("/brief/story-001").text.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    assert page.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")


def sign_all(out: Path) -> None:
    run = latest_run(out)
    k_a, k_b, k_q = keys(out)
    act(run, open_store(out), "story-001", "edit", "Anne", {"fr": A, "en": "The council passed the budget."}, key=k_a)
    act(run, open_store(out), "story-001", "reject", "Anne", {"reason": "déjà publié hier"}, key=k_b)
    act(run, open_store(out), "story-001", "approve", "Bruno", {}, key=k_q)
    act(run, open_store(out), "story-001", "sign_off", "Anne Martin", {})


def test_export_signed_off_briefs(out, tmp_path):
    write_run(out, "20260102T000000Z", [story(sentence(A, "EN A"), sentence(B, "EN B"), quote=Q),
                                        replace(story(sentence(C, "EN C")), story_id="story-002")])
    sign_all(out)
    to = tmp_path / "export"
    assert main(["review", "--out", str(out), "export", "--to", str(to), "--signed-off-only"]) == 0
    assert sorted(p.name for p in to.iterdir()) == ["story-001.json", "story-001.md"]
    data = json.loads((to / "story-001.json").read_text(encoding="utf-8"))
    assert data["review"]["signed_off"] and data["review"]["signed_off_by"] == "Anne Martin"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", data["review"]["signed_off_at"])
    s1, s2 = data["summary"]
    assert s1["en"] == "The council passed the budget." and s1["original"]["en"] == "EN A" and s1["edited_by"] == "Anne"
    assert s1["decision"] == "edited" and s1["citations"][0]["file"] == "corpus/a.txt"
    assert s2["decision"] == "rejected" and s2["reason"] == "déjà publié hier"
    assert data["quotes"][0]["decided_by"] == "Bruno" and data["quotes"][0]["speaker"] == "Claire Dumont"
    md = (to / "story-001.md").read_text(encoding="utf-8")
    assert "**Signed off by Anne Martin** on " in md
    published = md.split("## Review")[0]
    assert "The council passed the budget. [1] — *✎ edited by Anne" in published
    assert B not in published  # rejected: left out of what is published ...
    assert f"- {B} — *déjà publié hier* (Anne, " in md  # ... and listed with its reason
    # without --signed-off-only: every brief, the unsigned one says so
    assert main(["review", "--out", str(out), "export", "--to", str(tmp_path / "all")]) == 0
    assert "**Not signed off**" in (tmp_path / "all" / "story-002.md").read_text(encoding="utf-8")


def test_cli_without_a_run_says_what_to_do(tmp_path, capsys):
    assert main(["review", "--out", str(tmp_path), "export", "--to", str(tmp_path / "x")]) == 2
    assert main(["review", "--out", str(tmp_path)]) == 2
    assert "run `python -m pipeline run --out" in capsys.readouterr().err


def test_index_lists_briefs_with_review_progress(out):
    sign_all(out)
    html = TestClient(create_app(out), base_url="http://127.0.0.1").get("/").text
    assert '<a href="/brief/story-001">story-001</a>' in html and "✔ Anne Martin" in html
    states = run_states(latest_run(out), open_store(out))
    assert [s.story_id for s in states] == ["story-001"] and states[0].to_review == 0


def test_review_command_serves_the_latest_run_on_localhost(out):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "review", "--out", str(out), "--port", str(port)],
                            stderr=subprocess.PIPE, text=True)
    try:
        page = None
        for _ in range(200):  # up to ~20 s for the interpreter to start on a busy machine
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/brief/story-001", timeout=5).read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.1)
        assert page is not None and "Sign off this brief" in page and A in page
        # bound to 127.0.0.1 only: another address of this machine does not answer
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
                other = probe.getsockname()[0]
            except OSError:  # no network interface but loopback: nothing else to check
                other = "127.0.0.1"
        if other != "127.0.0.1":
            with pytest.raises(OSError):
                socket.create_connection((other, port), timeout=2).close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_brief_page_shows_what_the_static_page_shows(out):
    from markupsafe import escape

    html = TestClient(create_app(out), base_url="http://127.0.0.1").get("/brief/story-001").text
    for shown in ("Budget voté", "Budget passed", A, "EN A", str(escape(Q)), str(escape("EN " + Q)), "<strong>Claire Dumont</strong>",
                  "attributed from: “, a dit Claire Dumont”", "reported by 1 of 1 source", "<code>corpus/a.txt</code>",
                  "<strong>translator</strong>: t", 'href="#ev-1"'):
        assert shown in html, shown
    # this hand-written run has no static review page: the page says the evidence cannot be shown
    assert "the cited paragraphs cannot be shown" in html


def test_a_brief_linked_from_the_previous_run_shows_as_unchanged(out):
    """A run keeps an unchanged story's brief file from the previous run (it names the run that wrote it,
    `updated_in`, and what changed in that run): the review shows the story as unchanged since the previous run,
    not the changes of the run that wrote the file."""
    now = story(sentence(A, "EN A"), sentence(C, "EN C"), quote=Q)
    second = write_run(out, "20260102T000000Z", [now])
    written = Changes(previous_run="20260101T000000Z", new_story=False, new_sentences=(C,), removed_sentences=(B,))
    (second / "briefs" / "story-001.json").write_text(json_text(brief_to_dict(now, second.name, written)),
                                                       encoding="utf-8")
    assert story_state(latest_run(out), open_store(out), "story-001").changes == written
    third = write_run(out, "20260103T000000Z", [])
    os.link(second / "briefs" / "story-001.json", third / "briefs" / "story-001.json")
    changes = story_state(latest_run(out), open_store(out), "story-001").changes
    assert changes == Changes(previous_run=second.name, new_story=False) and changes.unchanged
