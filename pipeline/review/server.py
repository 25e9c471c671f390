"""The review server: Starlette, served by uvicorn on 127.0.0.1 (`python -m pipeline review`).

Routes (everything reads the run `<out>/latest` points at, on each request):
- `GET /`: the briefs, with what is left to review and their sign-off;
- `GET /brief/<story>`: a brief, everything its static review page shows
  (the cited paragraphs in French and English side by side on citation
  click), with approve / reject / edit / comment per summary sentence and
  quote, the changes since the previous run, and the sign-off;
- `POST /api/<story>`: one action (JSON body: action, reviewer, key, and
  reason / fr, en / text); answers the re-rendered sentence and sign-off;
- `GET /run/<path>`: a file of the run folder (briefs, manifest), nothing
  outside it;
- `GET /static/<name>`: the page's CSS and scripts.

Safety: every POST needs the page's CSRF token (header `X-CSRF-Token`) and a
JSON body; only the host names the server answers for are accepted (no DNS
rebinding); every page is rendered by Jinja2 with autoescaping and sent with
a Content Security Policy that allows nothing but this server.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..render.review import REVIEW_DIR
from .state import ItemState, ReviewError, latest_run, run_states, story_state, act
from .store import ReviewStore, open_store

log = logging.getLogger("pipeline")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store"}
STATIC = {"review.css": ("templates/review.css", "text/css"),
          "review.js": ("templates/review.js", "text/javascript"),
          "server.css": ("templates/server_review.css", "text/css"),
          "server.js": ("templates/server_review.js", "text/javascript")}
RUN_FILE_TYPES = {".json": "application/json", ".md": "text/plain; charset=utf-8", ".html": "text/html; charset=utf-8"}
MAX_BODY = 64 * 1024


def _environment() -> Environment:
    return Environment(loader=PackageLoader("pipeline.render", "templates"), undefined=StrictUndefined,
                       autoescape=True, trim_blocks=True, lstrip_blocks=True)


def evidence_html(run_dir: Path, story_id: str) -> Markup | None:
    """The evidence panel of the run's static review page (`<aside id="evidence">`), as written by the runner.

    The static page was rendered by our own template with autoescaping, so
    its markup is safe to embed: corpus text in it is already escaped.
    """
    page = run_dir / REVIEW_DIR / f"{story_id}.html"
    try:
        html = page.read_text(encoding="utf-8")
    except OSError:
        return None
    start, end = html.find('<aside id="evidence"'), html.find("</aside>")
    if start < 0 or end < start:
        return None
    return Markup(html[start:end + len("</aside>")])


def safe_run_file(run_dir: Path, relative: str) -> Path | None:
    """The file `relative` names inside `run_dir`, or None when it is not a file there (`..`, absolute, links out)."""
    if not relative or "\x00" in relative or "\\" in relative or relative.startswith("/") or ":" in relative:
        return None
    root = run_dir.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target


def _lang_label(status: str) -> str:
    return {"to review": "à relire · to review", "approved": "approuvé · approved", "rejected": "rejeté · rejected",
            "edited": "modifié · edited"}[status]


class ReviewApp:
    def __init__(self, out: Path, allowed_hosts: list[str]) -> None:
        self.out = Path(out)
        self.store: ReviewStore = open_store(self.out)
        self.csrf = secrets.token_urlsafe(32)
        self.env = _environment()
        self.env.globals.update(csrf=self.csrf, status_label=_lang_label)
        self.app = Starlette(
            routes=[Route("/", self.index), Route("/brief/{story_id}", self.brief),
                    Route("/api/{story_id}", self.action, methods=["POST"]),
                    Route("/run/{path:path}", self.run_file), Route("/static/{name}", self.static)],
            middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)],
            exception_handlers={404: self.not_found},
        )

    def _html(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = self.env.get_template(template).render(warnings=self.store.warnings, **context)
        return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)

    def _error(self, message: str, status: int) -> HTMLResponse:
        return self._html("server_error.html.j2", status=status, message=message)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        return self._error("Not found.", 404)

    async def index(self, request: Request) -> Response:
        try:
            run = latest_run(self.out)
        except ReviewError as exc:
            return self._error(str(exc), 404)
        return self._html("server_index.html.j2", run=run, states=run_states(run, self.store))

    async def brief(self, request: Request) -> Response:
        story_id = request.path_params["story_id"]
        try:
            run = latest_run(self.out)
            state = story_state(run, self.store, story_id)
        except ReviewError as exc:
            return self._error(str(exc), 404)
        return self._html("server_brief.html.j2", run=run, state=state, evidence=evidence_html(run.run_dir, story_id),
                          n_docs=len(state.brief.get("sources", ())))

    async def action(self, request: Request) -> Response:
        token = request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(token.encode(), self.csrf.encode()):
            return JSONResponse({"error": "missing or wrong CSRF token: reload the page"}, 403, headers=SECURITY_HEADERS)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"error": "send JSON"}, 415, headers=SECURITY_HEADERS)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "request too large"}, 413, headers=SECURITY_HEADERS)
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError:
            return JSONResponse({"error": "the body is not a JSON object"}, 400, headers=SECURITY_HEADERS)
        story_id = request.path_params["story_id"]
        try:
            run = latest_run(self.out)
            state = act(run, self.store, story_id, str(data.get("action", "")), data.get("reviewer"), data,
                        key=data.get("key"))
        except ReviewError as exc:
            return JSONResponse({"error": str(exc)}, 400, headers=SECURITY_HEADERS)
        item: ItemState | None = next((i for i in state.items if i.key == data.get("key")), None)
        n_docs = len(state.brief.get("sources", ()))
        return JSONResponse({
            "item_html": self.env.get_template("server_item.html.j2").render(item=item, n_docs=n_docs) if item else "",
            "signoff_html": self.env.get_template("server_signoff.html.j2").render(state=state),
        }, headers=SECURITY_HEADERS)

    async def run_file(self, request: Request) -> Response:
        try:
            run = latest_run(self.out)
        except ReviewError as exc:
            return self._error(str(exc), 404)
        path = safe_run_file(run.run_dir, request.path_params["path"])
        if path is None:
            return self._error("Not found in this run's folder.", 404)
        media = RUN_FILE_TYPES.get(path.suffix, "text/plain; charset=utf-8")
        headers = SECURITY_HEADERS if path.suffix != ".html" else {"X-Content-Type-Options": "nosniff"}
        return FileResponse(path, media_type=media, headers=headers)

    async def static(self, request: Request) -> Response:
        entry = STATIC.get(request.path_params["name"])
        if entry is None:
            return self._error("Not found.", 404)
        text = resources.files("pipeline.render").joinpath(entry[0]).read_text(encoding="utf-8")
        return Response(text, media_type=entry[1], headers=SECURITY_HEADERS)


def create_app(out: Path, host: str = "127.0.0.1") -> Starlette:
    hosts = sorted({"127.0.0.1", "localhost", host})
    return ReviewApp(out, hosts).app


def serve(out: Path, host: str, port: int) -> None:
    """Serve until interrupted (Ctrl-C)."""
    import uvicorn

    app = create_app(out, host)
    log.info("review server for %s: http://%s:%d/ (Ctrl-C to stop)", out, host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
