"""The console's HTTP side: a WSGI application with the security every page shares.

Every response carries a strict Content-Security-Policy (only this origin's own stylesheet, script and
images; no inline code, no frames, forms post only here) and `Cache-Control: no-store` (pages and images
are investigative and biometric data). Every POST must carry the session's CSRF token and, when the browser
sends one, this origin's Origin header. Errors are pages in words a person can act on; an unexpected error
shows a reference the operator can find in the logs, never a stack trace.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from console.api import ApiError, Identity, LineupApi
from console.sessions import Session, SessionStore
from console.settings import ConsoleSettings

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".svg": "image/svg+xml"}
_STATIC_NAME = re.compile(r"[a-z0-9-]{1,40}\.(css|js|svg)")

CSP = ("default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; connect-src 'none'")


@dataclass
class Visit:
    """One request of a signed-in person: what a page handler works with."""

    request: Request
    session: Session
    api: LineupApi
    render: Callable[..., Response]
    #: the deployment's image cap (LINEUP_MAX_IMAGE_MEGAPIXELS): larger stored photos are not decoded
    max_image_pixels: int

    @property
    def me(self) -> Identity:
        assert self.session.identity is not None
        return self.session.identity

    def call(self, service: str, method: str, request: Any) -> Any:
        return self.api.call(self.session.key, service, method, request)

    def notice(self, text: str) -> None:
        self.session.notices.append(text[:2000])


Handler = Callable[..., Response]


class PageError(Exception):
    """A refusal of the console's own (bad form input, a role the page needs): shown as the page's message."""

    #: no API call was made, so there is no request id (the same attributes as ApiError, for the pages)
    request_id = ""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = status


class ConsoleApp:
    def __init__(self, settings: ConsoleSettings, api: LineupApi, sessions: SessionStore,
                 routes: dict[str, tuple[str, tuple[str, ...], Handler]]) -> None:
        self.settings = settings
        self.api = api
        self.sessions = sessions
        self.cookie = "__Host-lineup-console" if settings.cookie_secure else "lineup-console"
        self.handlers = {endpoint: handler for endpoint, (_, _, handler) in routes.items()}
        self.urls = Map([Rule("/static/<name>", endpoint="static", methods=["GET"]),
                         *(Rule(path, endpoint=endpoint, methods=list(methods))
                           for endpoint, (path, methods, _) in routes.items())], strict_slashes=False,
                        merge_slashes=False)
        self.jinja = Environment(loader=FileSystemLoader(HERE / "templates"),
                                 autoescape=select_autoescape(default=True, default_for_string=True))
        self.max_body = int(settings.max_upload_mb * 1024 * 1024) + 64 * 1024

    # -- WSGI ----------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = self.max_body
        request.max_form_memory_size = 64 * 1024  # text fields; the photo is a file part
        request.max_form_parts = 50
        response = self._respond(request)
        self._harden(response)
        return response(environ, start_response)

    def _harden(self, response: Response) -> None:
        h = response.headers
        h["Content-Security-Policy"] = CSP
        h["X-Content-Type-Options"] = "nosniff"
        h["X-Frame-Options"] = "DENY"
        h["Referrer-Policy"] = "same-origin"  # no-referrer would make Chrome send `Origin: null` on our own forms
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        h["Cross-Origin-Resource-Policy"] = "same-origin"
        h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), interest-cohort=()"
        h.setdefault("Cache-Control", "no-store")
        if self.settings.cookie_secure:
            h["Strict-Transport-Security"] = "max-age=31536000"

    def _respond(self, request: Request) -> Response:
        session = self.sessions.get(request.cookies.get(self.cookie, ""))
        try:
            endpoint, args = self.urls.bind_to_environ(request.environ).match()
            if endpoint == "static":
                return self._static(str(args["name"]))
            if request.method == "POST":
                self._check_origin(request)
                if session is None or not session.csrf_ok(str(request.form.get("csrf", ""))):
                    raise PageError("This form has expired or did not come from this console, so nothing was done. "
                                    "Reload the page and try again.", 403)
            if endpoint in ("signin", "signout"):
                return self.handlers[endpoint](self, request, session)
            if session is None or not session.signed_in:
                if request.method == "GET" and not endpoint.startswith("image"):
                    return redirect(f"/signin?next={_safe_next(request.full_path)}", 303)
                return self._refusal(request, None, 401, "Signed out", "Your session has ended. Sign in again.")
            visit = Visit(request, session, self.api, lambda t, status=200, **kw: self.page(request, session, t,
                                                                                            status=status, **kw),
                          self.settings.max_image_pixels)
            try:
                return self.handlers[endpoint](visit, **args)
            except ApiError as exc:
                if exc.signed_out:
                    self.sessions.end(session.sid)
                    return self._refusal(request, None, 401, "Signed out", exc.message, exc.request_id)
                return self._refusal(request, session, exc.http_status, "Not done", exc.message, exc.request_id)
        except PageError as exc:
            return self._refusal(request, session, exc.http_status, "Not done", exc.message)
        except RequestEntityTooLarge:
            return self._refusal(request, session, 413, "Too large", "The form is larger than the console accepts: a "
                                 f"photo of at most {self.settings.max_upload_mb:g} MB, text fields of at most 64 KB.")
        except NotFound:
            return self._refusal(request, session, 404, "Not found", "There is no such page in the console.")
        except HTTPException as exc:
            return self._refusal(request, None, exc.code or 400, "Not done",
                                 exc.description or "The request was not understood.")
        except Exception:
            ref = uuid.uuid4().hex
            log.exception("unhandled error in the console", extra={"request_id": ref})
            return self._refusal(request, None, 500, "Something went wrong",
                                 f"The console failed on its side. Tell your operator, quoting reference {ref}.")

    def _refusal(self, request: Request, session: Session | None, status: int, title: str, message: str,
                 request_id: str = "") -> Response:
        """The error page, in the signed-in person's frame when there is one."""
        shown = session if session is not None and session.signed_in else None
        return self.page(request, shown, "error.html", status=status, title=title, message=message,
                         request_id=request_id)

    def _check_origin(self, request: Request) -> None:
        """A browser names the page a POST came from; another site's page is refused even with a token."""
        origin = request.headers.get("Origin", "")
        if origin and origin != "null" and urlsplit(origin).netloc != request.host:
            raise PageError("This form was sent from another site, so nothing was done.", 403)
        if origin == "null":
            raise PageError("This form was sent from an opaque origin, so nothing was done.", 403)

    def _static(self, name: str) -> Response:
        if not _STATIC_NAME.fullmatch(name) or not (STATIC / name).is_file():
            raise NotFound()
        resp = Response((STATIC / name).read_bytes(), content_type=_STATIC_TYPES[Path(name).suffix])
        resp.headers["Cache-Control"] = "public, max-age=300"
        return resp

    def page(self, request: Request, session: Session | None, template: str, *, status: int = 200,
             **context: Any) -> Response:
        notices: list[str] = []
        if session is not None:
            notices, session.notices = session.notices, []
        html = self.jinja.get_template(template).render(
            me=session.identity if session else None, csrf=session.csrf if session else "", notices=notices,
            path=request.path, **context)
        return Response(html, status=status, content_type="text/html; charset=utf-8")

    def set_cookie(self, response: Response, session: Session | None) -> Response:
        if session is None:
            response.delete_cookie(self.cookie, path="/", secure=self.settings.cookie_secure, httponly=True,
                                   samesite="Strict")
        else:
            response.set_cookie(self.cookie, session.sid, path="/", secure=self.settings.cookie_secure, httponly=True,
                                samesite="Strict")
        return response


def _safe_next(path: str) -> str:
    """Where to go after sign-in, quoted for the query string (checked again by `local_path` when used)."""
    return quote(local_path(path.rstrip("?")), safe="")


def local_path(value: str) -> str:
    """A `next` value that is a path on this console, or the home page."""
    if not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 512 or \
            any(ord(c) < 32 for c in value):
        return "/cases"
    return value
