"""A stand-in for the GitHub REST API's releases endpoints, on loopback, for the registry tests.

It answers only what the registry client is documented to call, in the documented shapes:
`GET /repos/{owner}/{repo}`, `.../releases/latest`, `.../releases/tags/{tag}`, `.../releases`
(paged: `per_page` at most 100, default 30, a `Link: rel="next"` header), and
`.../releases/assets/{id}` with `Accept: application/octet-stream`, which answers 302 to a
second server standing in for the asset storage host. Other repositories are 404, as GitHub
answers for a repository that does not exist or that the token cannot read. Anything else gets a 500 and is
recorded in `unexpected`, which the tests assert is empty: a client change cannot pass silently.

With `folder`, the releases are read on every request from `<folder>/<tag>/release.json` and
`<folder>/<tag>/assets/` (as the template's `gh` stand-in writes them), newest `created` last.

Faults a test can switch on, each as a real server would misbehave:
`rate_limited` (403 with x-ratelimit-remaining: 0), `break_json` (API answers break off halfway),
`truncate` (asset names whose download breaks off halfway), `slow_storage` (seconds the storage host
waits before it answers), `oversize` (asset name -> bytes sent after
the asset, with a Content-Length that counts them), `unsized` (assets sent without a Content-Length,
ended by closing the connection), `asset_urls` (asset name -> the `url` the release JSON gives it),
`next_link` (the `Link: rel="next"` URL every releases page answers with), `edit_release` /
`edit_list` (functions turning a release / a page of releases into the JSON actually answered) and
`raw_body` (bytes every API call answers with, status 200, instead of JSON).

`LoopbackServer` is a bare server for the client's own tests: it records every request and answers
each with a function of the test's.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class GitHubStandIn:
    def __init__(self, owner_repo: str, folder: Path | None = None) -> None:
        self.repo = owner_repo
        self.folder = folder
        self.releases: dict[str, dict[str, bytes]] = {}  # tag -> asset name -> bytes
        self.latest: str | None = None
        self.rate_limited = False
        self.truncate: set[str] = set()  # asset names whose download breaks off halfway
        self.break_json = False  # API answers break off halfway
        self.oversize: dict[str, bytes] = {}  # asset name -> bytes sent after it (Content-Length counts them)
        self.unsized = False  # assets are sent without a Content-Length
        self.slow_storage = 0.0  # seconds the storage host waits before answering (cut short by close)
        self._closing = threading.Event()
        self.asset_urls: dict[str, str] = {}  # asset name -> the url the release JSON gives it
        self.next_link: str | None = None  # the rel="next" URL every releases page answers with
        self.edit_release: Callable[[dict], object] | None = None  # a release -> the JSON answered
        self.edit_list: Callable[[list], object] | None = None  # a page of releases -> the JSON answered
        self.raw_body: bytes | None = None  # every API answer's body instead of JSON
        self.unexpected: list[str] = []
        self.requests: list[tuple[str, dict]] = []  # (path, headers) seen by the API host
        self.storage_requests: list[tuple[str, dict]] = []  # (path, headers) seen by the storage host
        self._ids: dict[int, tuple[str, str]] = {}
        self.api = self._serve(self._api_handler())
        self.storage = self._serve(self._storage_handler())
        self.api_url = f"http://127.0.0.1:{self.api.server_address[1]}"
        # a different host name for the storage server, as GitHub's assets live on another host
        self.storage_url = f"http://localhost:{self.storage.server_address[1]}"

    def publish(self, tag: str, folder: Path, *, latest: bool = True, skip: tuple[str, ...] = ()) -> None:
        self.releases[tag] = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name not in skip}
        if latest:
            self.latest = tag

    def _sync(self) -> None:
        """Reload the releases from `folder` (when given), oldest first; the newest is the latest."""
        if self.folder is None:
            return
        found = []
        for record in self.folder.glob("*/release.json"):
            release = json.loads(record.read_text(encoding="utf-8"))
            assets = record.parent / "assets"
            found.append(
                (release["created"], release["tag"], {n: (assets / n).read_bytes() for n in release["assets"]})
            )
        self.releases = {tag: assets for _, tag, assets in sorted(found)}
        self.latest = next(reversed(self.releases), None)

    def close(self) -> None:
        self._closing.set()
        for server in (self.api, self.storage):
            server.shutdown()
            server.server_close()

    def _serve(self, handler) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True).start()
        return server

    def _assets(self, tag: str) -> list[dict]:
        assets = []
        for name, data in self.releases[tag].items():
            asset_id = len(self._ids) + 1
            for known_id, known in self._ids.items():
                if known == (tag, name):
                    asset_id = known_id
            self._ids[asset_id] = (tag, name)
            assets.append(
                {
                    "id": asset_id,
                    "name": name,
                    "size": len(data),
                    "content_type": "application/octet-stream",
                    "url": self.asset_urls.get(name, f"{self.api_url}/repos/{self.repo}/releases/assets/{asset_id}"),
                    "browser_download_url": f"https://github.com/{self.repo}/releases/download/{tag}/{name}",
                }
            )
        return assets

    def _release(self, tag: str) -> dict:
        return {"tag_name": tag, "name": tag, "draft": False, "prerelease": False, "assets": self._assets(tag)}

    def _answered_release(self, tag: str) -> object:
        release = self._release(tag)
        return self.edit_release(release) if self.edit_release else release

    def _api_handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _json(self, status: int, body: object, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                if standin.raw_body is not None and status == 200:
                    data = standin.raw_body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if standin.break_json and status == 200:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.wfile.write(data)

            def do_GET(self):
                standin.requests.append((self.path, dict(self.headers)))
                standin._sync()
                prefix = f"/repos/{standin.repo}/releases"
                if standin.rate_limited:
                    return self._json(
                        403,
                        {"message": "API rate limit exceeded for 127.0.0.1."},
                        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1767225600"},
                    )
                if self.headers.get("X-GitHub-Api-Version") != "2022-11-28":
                    return self._unexpected("missing X-GitHub-Api-Version header")
                if not self.path.startswith(f"/repos/{standin.repo}/") and self.path != f"/repos/{standin.repo}":
                    if self.path.startswith("/repos/"):
                        return self._json(404, {"message": "Not Found"})
                    return self._unexpected("no such endpoint")
                if self.path == f"/repos/{standin.repo}":
                    return self._json(200, {"full_name": standin.repo, "private": False})
                if self.path == f"{prefix}/latest":
                    if standin.latest is None:
                        return self._json(404, {"message": "Not Found"})
                    return self._json(200, standin._answered_release(standin.latest))
                if self.path.startswith(f"{prefix}/tags/"):
                    tag = self.path.removeprefix(f"{prefix}/tags/")
                    if tag not in standin.releases:
                        return self._json(404, {"message": "Not Found"})
                    return self._json(200, standin._answered_release(tag))
                if self.path.startswith(f"{prefix}?"):
                    return self._page(prefix)
                if self.path.startswith(f"{prefix}/assets/"):
                    if self.headers.get("Accept") != "application/octet-stream":
                        return self._unexpected("asset requested without Accept: application/octet-stream")
                    asset_id = int(self.path.rsplit("/", 1)[1])
                    self.send_response(302)
                    self.send_header("Location", f"{standin.storage_url}/blob/{asset_id}?sig=signed")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return self._unexpected("no such endpoint")

            def _page(self, prefix: str) -> None:
                query = dict(part.split("=", 1) for part in self.path.split("?", 1)[1].split("&"))
                if set(query) - {"per_page", "page"}:
                    return self._unexpected(f"unknown query parameters {sorted(query)}")
                per_page, page = min(int(query.get("per_page", 30)), 100), int(query.get("page", 1))
                tags = list(reversed(list(standin.releases)))  # newest first, as GitHub lists them
                chunk = tags[(page - 1) * per_page : page * per_page]
                headers = {}
                if page * per_page < len(tags):
                    headers["Link"] = f'<{standin.api_url}{prefix}?per_page={per_page}&page={page + 1}>; rel="next"'
                if standin.next_link is not None:
                    headers["Link"] = f'<{standin.next_link}>; rel="next"'
                releases = [standin._release(t) for t in chunk]
                return self._json(200, standin.edit_list(releases) if standin.edit_list else releases, headers)

            def _unexpected(self, why: str) -> None:
                standin.unexpected.append(f"GET {self.path}: {why}")
                self._json(500, {"message": f"stand-in does not understand: {why}"})

        return Handler

    def _storage_handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                standin.storage_requests.append((self.path, dict(self.headers)))
                if standin.slow_storage and standin._closing.wait(standin.slow_storage):
                    return
                path, _, query = self.path.partition("?")
                if not path.startswith("/blob/") or query != "sig=signed":
                    standin.unexpected.append(f"storage GET {self.path}")
                    self.send_response(500)
                    self.end_headers()
                    return
                tag, name = standin._ids[int(path.removeprefix("/blob/"))]
                data = standin.releases[tag][name] + standin.oversize.get(name, b"")
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if not standin.unsized:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if name in standin.truncate:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # the network fails halfway
                    return
                self.wfile.write(data)

        return Handler


class LoopbackServer:
    """An HTTP(S) server on 127.0.0.1 that records each GET (path, headers) and answers it with `respond(handler)`.

    `respond` writes the answer with `answer(handler, ...)` or by hand (to misbehave); `handler.loopback` is
    this server, whose `stopping` is set on close, so a handler that hangs on purpose can wait on it.
    """

    def __init__(self, respond: Callable[[BaseHTTPRequestHandler], None], tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.stopping = threading.Event()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            loopback = recorder  # for `respond`: the requests so far, `stopping`

            def log_message(self, *args):
                pass

            def do_GET(self):
                recorder.requests.append((self.path, dict(self.headers)))
                respond(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True).start()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.server_address[1]}"

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def close(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def answer(handler: BaseHTTPRequestHandler, status: int = 200, body: bytes | object = b"", **headers: str) -> None:
    """Send a whole answer: `body` as is if bytes, else as JSON; header names with `_` for `-`."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    if not isinstance(body, bytes):
        handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for key, value in headers.items():
        handler.send_header(key.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(data)
