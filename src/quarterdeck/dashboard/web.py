"""The dashboard's HTTP face: one FastAPI app, HTML pages and their JSON twins.

Every page is a GET with a URL that can be shared; ``?format=json`` gives the same data
as JSON, and ``?fragment=1`` only the page's content, which a live page fetches and
swaps in when its event stream (``/events?path=PAGE``, see :mod:`.live`) says that
something it shows has changed. Each action (sync, suspend, resume, rollback) is a POST
carrying the session's CSRF token in its form; a GET never changes anything. Unknown
objects get a 404 page, refused ones a 403 page, and an unknown or refused session the
sign-in page with the reason.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from quarterdeck.dashboard import live
from quarterdeck.dashboard.access import Access, Session, SignInError
from quarterdeck.dashboard.live_stream import Hub, events
from quarterdeck.dashboard.pages import Forbidden, NotFound, Pages

COOKIE = "qd_session"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _wants_json(request: Request) -> bool:
    return request.query_params.get("format") == "json"


def _safe_next(target: str) -> str:
    """Only a path on this site (no `//host`, no scheme) may be a redirect target."""
    plain = target.startswith("/") and not target.startswith(("//", "/\\"))
    return target if plain and "\\" not in target else "/"


def create_app(pages: Pages, access: Access, hub: Hub) -> FastAPI:
    app = FastAPI(title="quarterdeck", docs_url=None, redoc_url=None, openapi_url=None)

    def render(request: Request, template: str, data: dict[str, Any], status: int = 200,
               session: Session | None = None, is_live: bool = False) -> Response:
        if _wants_json(request):
            return JSONResponse(data, status_code=status)
        context = {**data, "user": session.user.name if session else "",
                   "csrf": session.csrf if session else "", "path": request.url.path,
                   "live": is_live, "fragment": request.query_params.get("fragment") == "1"}
        return TEMPLATES.TemplateResponse(request, template, context, status_code=status)

    def sign_in_page(request: Request, reason: str, status: int = 401) -> Response:
        data = {"error": reason, "next": _safe_next(request.url.path)}
        return render(request, "signin.html", data, status)

    def problem(request: Request, status: int, message: str,
                session: Session | None = None) -> Response:
        return render(request, "error.html", {"error": message, "status": status}, status,
                      session)

    def page(request: Request, template: str, build: Callable[[Session], dict[str, Any]]
             ) -> Response:
        """Run `build` for the signed-in user and render it; the sign-in page without a
        live session, 403/404 pages for Forbidden/NotFound."""
        try:
            session = access.session(request.cookies.get(COOKIE, ""))
        except SignInError as err:
            return sign_in_page(request, str(err))
        try:
            data = build(session)
        except Forbidden as err:
            return problem(request, 403, str(err), session)
        except NotFound as err:
            return problem(request, 404, str(err), session)
        return render(request, template, data, session=session, is_live=True)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return problem(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        return problem(request, 500, f"internal error: {type(exc).__name__}")

    @app.get("/events")
    async def event_stream(request: Request, path: str = "/") -> Response:
        """The live page `path`'s changes as server-sent events, for the signed-in user."""
        sid = request.cookies.get(COOKIE, "")
        try:
            session = await asyncio.to_thread(access.session, sid)
        except SignInError as err:
            return problem(request, 401, str(err))
        want = live.interest(path)
        if want is None:
            return problem(request, 404, f"no live page at {path[:200]}", session)
        stream = hub.open()  # before the answer starts: `ready` means subscribed

        def visible(changes: set[live.Change]) -> list[live.Change] | None:
            try:
                user = access.session(sid).user
            except SignInError:
                return None
            return pages.visible_changes(user, want, changes)

        return StreamingResponse(events(hub, stream, visible, gone=request.is_disconnected),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    @app.get("/signin")
    def signin_form(request: Request, next: str = "/") -> Response:
        return render(request, "signin.html", {"error": "", "next": _safe_next(next)})

    @app.post("/signin")
    def signin(request: Request, token: Annotated[str, Form()] = "",
               next: Annotated[str, Form()] = "/") -> Response:
        try:
            sid = access.sign_in(token)
        except SignInError as err:
            return render(request, "signin.html", {"error": str(err), "next": _safe_next(next)},
                          401)
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", path="/")
        return response

    @app.post("/signout")
    def signout(request: Request) -> Response:
        access.sign_out(request.cookies.get(COOKIE, ""))
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/")
    def overview(request: Request) -> Response:
        return page(request, "overview.html", lambda s: pages.overview(s.user))

    @app.get("/applications")
    def applications(request: Request) -> Response:
        return page(request, "applications.html", lambda s: pages.applications(s.user))

    @app.get("/applications/{namespace}/{name}")
    def application(request: Request, namespace: str, name: str) -> Response:
        done = request.query_params.get("done", "")[:200]  # what the last button did
        return page(request, "application.html",
                    lambda s: {**pages.application(s.user, namespace, name), "done": done})

    def action(request: Request, namespace: str, name: str, csrf: str,
               act: Callable[[Session], str]) -> Response:
        """A button: a POST with the session's CSRF token, checked before anything."""
        try:
            session = access.session(request.cookies.get(COOKIE, ""))
        except SignInError as err:
            return problem(request, 401, str(err))
        if not csrf or not hmac.compare_digest(csrf, session.csrf):
            return problem(request, 403, "missing or wrong CSRF token: action refused", session)
        try:
            done = act(session)
        except Forbidden as err:
            return problem(request, 403, str(err), session)
        except NotFound as err:
            return problem(request, 404, str(err), session)
        if _wants_json(request):
            return JSONResponse({"done": done})
        return RedirectResponse(f"/applications/{namespace}/{name}?done={quote(done)}",
                                status_code=303)

    @app.post("/applications/{namespace}/{name}/sync")
    def sync(request: Request, namespace: str, name: str,
             csrf: Annotated[str, Form()] = "") -> Response:
        return action(request, namespace, name, csrf,
                      lambda s: f"sync requested {pages.sync(s.user, namespace, name)}")

    @app.post("/applications/{namespace}/{name}/suspend")
    def suspend(request: Request, namespace: str, name: str,
                csrf: Annotated[str, Form()] = "") -> Response:
        return action(request, namespace, name, csrf,
                      lambda s: pages.set_suspended(s.user, namespace, name, True))

    @app.post("/applications/{namespace}/{name}/resume")
    def resume(request: Request, namespace: str, name: str,
               csrf: Annotated[str, Form()] = "") -> Response:
        return action(request, namespace, name, csrf,
                      lambda s: pages.set_suspended(s.user, namespace, name, False))

    @app.post("/applications/{namespace}/{name}/rollback")
    def rollback(request: Request, namespace: str, name: str,
                 csrf: Annotated[str, Form()] = "",
                 revision: Annotated[str, Form()] = "") -> Response:
        return action(request, namespace, name, csrf,
                      lambda s: pages.rollback(s.user, namespace, name, revision))

    @app.get("/queues")
    def queues(request: Request) -> Response:
        return page(request, "queues.html", lambda s: pages.queues(s.user))

    @app.get("/queues/{name}")
    def queue(request: Request, name: str) -> Response:
        return page(request, "queues.html",
                    lambda s: pages.queue(s.user, name))

    @app.get("/gpus")
    def gpu_page(request: Request) -> Response:
        return page(request, "gpus.html", lambda s: pages.gpus(s.user))

    @app.get("/showback")
    def showback(request: Request, window: str = "today") -> Response:
        return page(request, "showback.html",
                    lambda s: pages.showback(s.user, time.time(), window))

    return app
