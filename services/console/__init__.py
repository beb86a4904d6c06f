"""The examiner console: web pages where trained people review a search's candidates side by side.

Shape: `__main__` (wiring), `settings` (ConsoleSettings), `web` (the WSGI application: routing, sessions,
CSRF, security headers, error pages), `sessions` (server-side sessions holding the API key), `api` (the
public gRPC API, called with the signed-in person's key), `pages` and `images` (what each page shows),
`templates/` and `static/` (served by the console itself: no third-party assets).
"""
