"""A small OpenID Connect provider for sign-in tests: discovery, authorize, token, JWKS, logout.

`/authorize` shows one link per known user; following it redirects back with a code, and
`/token` answers with an RS256 ID token carrying the user's e-mail, name and `roles`.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "flightdeck-test"


@dataclass
class Provider:
    """The provider's state: its signing key, its users and the codes handed out."""

    users: dict[str, list[str]]
    base: str = ""
    key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(
            2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"}
        )
    )
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        email = grant["email"]
        claims = {
            "iss": self.base,
            "aud": CLIENT_ID,
            "sub": email,
            "email": email,
            "name": email.split("@")[0],
            "roles": self.users[email],
            "nonce": grant["nonce"],
            "iat": now,
            "exp": now + 600,
        }
        return jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, data: object) -> None:
            self._send(200, json.dumps(data).encode(), "application/json")

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = {name: values[0] for name, values in parse_qs(url.query).items()}
            base = provider.base
            if url.path == "/.well-known/openid-configuration":
                self._json(
                    {
                        "issuer": base,
                        "authorization_endpoint": f"{base}/authorize",
                        "token_endpoint": f"{base}/token",
                        "jwks_uri": f"{base}/jwks",
                        "end_session_endpoint": f"{base}/logout",
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "scopes_supported": ["openid", "email", "profile"],
                        "token_endpoint_auth_methods_supported": [
                            "client_secret_basic",
                            "client_secret_post",
                        ],
                    }
                )
            elif url.path == "/jwks":
                self._json({"keys": [provider.key.as_dict(private=False)]})
            elif url.path == "/authorize":
                links = []
                for email in provider.users:
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {"email": email, "nonce": query.get("nonce")}
                    target = (
                        query["redirect_uri"]
                        + "?"
                        + urlencode({"code": code, "state": query["state"]})
                    )
                    links.append(f'<p><a href="{target}">Sign in as {email}</a></p>')
                page = "<html><body><h1>Test IdP</h1>" + "".join(links) + "</body></html>"
                self._send(200, page.encode(), "text/html")
            elif url.path == "/logout":
                self._send(302, b"", "text/plain", Location=query["post_logout_redirect_uri"])
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            grant = provider.codes.pop(form.get("code", ""), None)
            if urlparse(self.path).path != "/token" or grant is None:
                self._send(400, b'{"error": "invalid_grant"}', "application/json")
                return
            self._json(
                {
                    "access_token": secrets.token_urlsafe(16),
                    "token_type": "Bearer",
                    "expires_in": 600,
                    "id_token": provider.id_token(grant),
                }
            )

    return Handler


@contextmanager
def running_provider(users: dict[str, list[str]]) -> Iterator[Provider]:
    """Serve a provider for `users` (e-mail -> roles) on a free local port."""
    provider = Provider(users)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
