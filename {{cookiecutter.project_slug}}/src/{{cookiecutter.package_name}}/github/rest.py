"""The GitHub REST API client the registry reads releases with (`GITHUB_API_URL` overrides the address).

The token goes only to the API host: a redirect to another host (GitHub's asset storage) is
followed without it. Answers are checked before use: a 404 becomes `NotFoundOnGitHub`, rate
limits and refusals say what to do, and a body that is not JSON is an error, not a traceback.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import NotFoundOnGitHub, RegistryError

DEFAULT_API_URL = "https://api.github.com"
TIMEOUT_SECONDS = 60
CHUNK = 1 << 20
NETWORK_ERRORS = (OSError, urllib.error.URLError, http.client.HTTPException, ValueError)


class _StripAuthOnRedirect(urllib.request.HTTPRedirectHandler):
    """Follow GitHub's 302 to the asset storage, without sending the token to another host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


def copy_stream(source: BinaryIO, target: Path, expected_size: int | None, what: str) -> None:
    """Copy a download to `target` in chunks; a short or broken download is a RegistryError."""
    written = 0
    with target.open("wb") as out:
        while True:
            try:
                chunk = source.read(CHUNK)
            except (OSError, urllib.error.URLError, ValueError) as error:
                raise RegistryError(
                    f"{what}: the download broke off after {written} bytes ({error}); try again"
                ) from None
            if not chunk:
                break
            out.write(chunk)
            written += len(chunk)
    if expected_size is not None and written != expected_size:
        raise RegistryError(f"{what}: the download is truncated ({written} of {expected_size} bytes); try again")


class RestClient:
    """GET requests to the GitHub REST API for one repository, with the token from GH_TOKEN / GITHUB_TOKEN."""

    def __init__(self, repo: str, token: str | None = None, api_url: str | None = None) -> None:
        self.repo = repo
        self.token = token if token is not None else os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")
        self.api_url = (api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        self._opener = urllib.request.build_opener(_StripAuthOnRedirect())

    def open(self, url: str, accept: str) -> Any:
        """The open HTTP response for `url`; a context manager."""
        headers = {"Accept": accept, "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "mlops-registry"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            return self._opener.open(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_SECONDS)
        except urllib.error.HTTPError as error:
            raise self._http_error(error, url) from None
        except NETWORK_ERRORS as error:
            reason = getattr(error, "reason", error)
            raise RegistryError(f"cannot reach {url}: {reason}. Check the network or GITHUB_API_URL.") from None

    def _http_error(self, error: urllib.error.HTTPError, url: str) -> RegistryError:
        remaining = error.headers.get("x-ratelimit-remaining")
        if error.code in (403, 429) and (remaining == "0" or error.headers.get("retry-after")):
            reset = error.headers.get("x-ratelimit-reset")
            when = time.strftime("%H:%M UTC", time.gmtime(int(reset))) if reset and reset.isdigit() else "later"
            hint = (
                "" if self.token else " Set GH_TOKEN or GITHUB_TOKEN: unauthenticated calls are limited to 60 an hour."
            )
            return RegistryError(f"GitHub API rate limit exceeded (resets at {when}).{hint}")
        if error.code in (401, 403):
            return RegistryError(
                f"GitHub refused {url} ({error.code}): check that GH_TOKEN / GITHUB_TOKEN can read {self.repo}"
            )
        if error.code == 404:
            return NotFoundOnGitHub(f"not found on GitHub: {url}")
        return RegistryError(f"GitHub answered {error.code} for {url}; try again later")

    def page(self, url: str) -> tuple[object, str | None]:
        """JSON body and the URL of the next page (from the Link header), for one API call."""
        with self.open(url, "application/vnd.github+json") as response:
            try:
                body = json.loads(response.read())
            except NETWORK_ERRORS as error:
                raise RegistryError(
                    f"GitHub's answer to {url} broke off or is not JSON ({error!r}); try again"
                ) from None
            links = response.headers.get("Link") or ""
        match = re.search(r'<([^>]+)>;\s*rel="next"', links)
        return body, match.group(1) if match else None

    def json(self, path: str) -> object:
        """The JSON body of GET <api>/<path>."""
        return self.page(f"{self.api_url}{path}")[0]

    def download(self, url: str, target: Path, declared_size: object, what: str) -> None:
        """An asset's bytes to `target`, checked against its Content-Length (or the size the release declared)."""
        with self.open(url, "application/octet-stream") as response:
            size = response.headers.get("Content-Length")
            expected = int(size) if size and size.isdigit() else declared_size
            copy_stream(response, target, expected if isinstance(expected, int) else None, what)
