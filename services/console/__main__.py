"""Entrypoint: `python -m console`.

Explicit wiring: the web pages (an HTTP worker of the service) call ingest's public gRPC API with the
signed-in person's API key; the gRPC port serves only health. The console holds no credential of its own:
not the internal service token, not an object-store key.
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from console import images, pages
from console.api import LineupApi
from console.sessions import SessionStore
from console.settings import ConsoleSettings
from console.web import ConsoleApp, Handler
from lineup.auth import HealthOnlyAuthenticator
from lineup.grpcserver import ServiceServer
from lineup.httpserver import BoundedThreads, HttpWorker, ReadDeadline
from lineup.service import run_service

GET, POST = ("GET",), ("POST",)
#: endpoint -> (path, methods, handler); endpoints named image* answer a signed-out browser with 401, not a redirect
ROUTES: dict[str, tuple[str, tuple[str, ...], Handler]] = {
    "home": ("/", GET, pages.home),
    "signin": ("/signin", ("GET", "POST"), pages.signin),
    "signout": ("/signout", POST, pages.signout),
    "cases": ("/cases", GET, pages.cases),
    "new_search": ("/searches/new", ("GET", "POST"), pages.new_search),
    "search": ("/searches/<search_id>", GET, pages.search_review),
    "decide": ("/searches/<search_id>/decisions", POST, pages.decide),
    "image_probe": ("/searches/<search_id>/probe.png", GET, images.probe_photo),
    "image_probe_face": ("/searches/<search_id>/probe/<int:index>.png", GET, images.probe_face),
    "image_candidate": ("/searches/<search_id>/candidates/<face_id>", GET, images.candidate),
    "audit": ("/audit", GET, pages.audit),
}


class _QuietHandler(ReadDeadline, WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Request lines would carry search ids and filters into stderr; the audit trail records the calls."""


class _Server(BoundedThreads, WSGIServer):
    pass


def build(settings: ConsoleSettings) -> ServiceServer:
    api = LineupApi(settings.ingest_url, settings.call_timeout_s, settings.ingest_tls_ca_file)
    sessions = SessionStore(settings.session_idle_s, settings.session_max_s, settings.max_sessions,
                            settings.max_sessions_per_agency)
    app = ConsoleApp(settings, api, sessions, ROUTES)
    httpd = _Server((settings.http_host, settings.http_port), _QuietHandler)
    httpd.limit_threads(settings.http_max_threads)
    httpd.set_app(app)
    http = HttpWorker(httpd, "examiner console")
    return ServiceServer(settings=settings, register=lambda server: [], authenticator=HealthOnlyAuthenticator(),
                         workers=[http], closers=[http.close, api.close])


def main() -> int:
    return run_service(ConsoleSettings, build)


if __name__ == "__main__":
    raise SystemExit(main())
