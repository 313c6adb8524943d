"""The GitHub REST API client the registry reads releases with (`GITHUB_API_URL` overrides the address).

Built on urllib3. What it guarantees, for every request it makes (API calls, `Link: next` pages,
asset downloads, and each hop of a redirect):

- Only `https://` URLs are fetched; plain `http://` only on loopback (127.0.0.1, ::1, localhost),
  for test stand-ins. Any other scheme (`file://`, `ftp://`, ...), a URL without a host, with
  credentials in it or with spaces, control or non-ASCII characters is refused with `RefusedURL`
  naming the URL, before anything connects.
- The token (GH_TOKEN / GITHUB_TOKEN) is sent only to the API's own scheme, host and port: an asset,
  a next page or a redirect anywhere else is requested without an Authorization header.
- Redirects are not followed by urllib3 but here, hop by hop (at most `MAX_REDIRECTS`), each hop
  checked as above; a redirect from https down to http is refused outright.
- GETs are retried (`RETRIES`) with exponential backoff on connect errors, read timeouts and
  429/5xx answers, honouring Retry-After, but never sleeping past the deadline.
- Every call has a total wall-clock deadline (`DEADLINE_SECONDS`, or $GITHUB_DEADLINE_SECONDS),
  besides the per-socket timeouts, covering retries, backoff, redirects and reading the body: one
  API answer, one download, all pages of one `pages` walk, or everything inside `RestClient.budget()`
  (the registry downloads a whole bundle in one budget). It is checked between socket reads, and a
  body still being read when it passes is cut off then, whether the server trickles or stalls.
- A download never writes more than the declared size (the release's `size`, else the
  Content-Length; the registry refuses a declared size over the file's cap, `bundle/layout.py`,
  before it asks for the bytes): a server announcing another size is refused before the body is read, a body
  running past the size is refused before a byte past it is written, a shorter one is an error,
  and on any error the partial file is deleted.
- JSON answers are read up to `MAX_JSON_BYTES`; an answer that breaks off or is not JSON is a
  RegistryError naming the URL, never a traceback. 404 is `NotFoundOnGitHub`; rate limits and
  refusals say what to do.
- `pages` follows `Link: rel="next"` for at most `MAX_PAGES` pages and refuses a next link back to
  a page already read.

HTTPS_PROXY / NO_PROXY are honoured (as urllib did), except for loopback, which is always direct.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import LocationParseError, MaxRetryError, ProtocolError, ResponseError
from urllib3.util import Retry, Timeout, parse_url

from ..errors import NotFoundOnGitHub, RefusedURL, RegistryError

if TYPE_CHECKING:
    from typing import Self

    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
USER_AGENT = "mlops-registry"
DEADLINE_SECONDS = 600.0  # total wall clock of one call or budget; $GITHUB_DEADLINE_SECONDS overrides it
CONNECT_TIMEOUT_SECONDS = 15.0
READ_TIMEOUT_SECONDS = 60.0  # the longest one socket read may wait (never longer than the deadline left)
RETRIES = 3
BACKOFF_FACTOR = 0.5  # seconds: waits 0, 1, 2, ... between attempts, unless Retry-After says otherwise
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
MAX_PAGES = 100
MAX_JSON_BYTES = 32 << 20
CHUNK = 1 << 20
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
DEFAULT_PORTS = {"https": 443, "http": 80}
READ_ERRORS = (OSError, ValueError, Urllib3Error, http.client.HTTPException)


# --- URLs ------------------------------------------------------------------------------------------


def _host(url: urllib3.util.Url) -> str:
    return (url.host or "").strip("[]").lower()


def check_url(url: str, context: str = "") -> urllib3.util.Url:
    """The parsed URL, if this client may fetch it (https, or http on loopback); else `RefusedURL`.

    Parsed by urllib3 itself, so the host checked is the host it would connect to.
    """
    where = f" ({context})" if context else ""

    def refuse(why: str) -> RefusedURL:
        return RefusedURL(f"refusing to fetch {url!r}{where}: {why}")

    if not isinstance(url, str) or not re.fullmatch(r"[!-\[\]-~]+", url):
        raise refuse("not a plain URL (empty, or with spaces, backslashes, control or non-ASCII characters)")
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise refuse("not a valid URL") from None
    scheme, host = (parsed.scheme or "").lower(), _host(parsed)
    if scheme not in DEFAULT_PORTS:
        raise refuse(f"only https:// URLs are fetched, not {scheme or 'scheme-less'} ones")
    if not host:
        raise refuse("the URL has no host")
    if parsed.auth is not None:
        raise refuse("the URL carries credentials")
    if scheme == "http" and host not in LOOPBACK_HOSTS:
        raise refuse("plain http:// is only allowed to loopback (127.0.0.1, ::1, localhost); use https://")
    return parsed


def origin(url: urllib3.util.Url) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in: where a request goes."""
    scheme = (url.scheme or "").lower()
    return scheme, _host(url), url.port or DEFAULT_PORTS.get(scheme, 0)


def _next_link(header: str | None, base: str) -> str | None:
    """The rel="next" URL of a Link header (`<url>; rel="next", <url>; rel="last"`), resolved against `base`."""
    for match in re.finditer(r"<([^>]*)>([^<]*)", header or ""):
        rel = re.search(r'\brel\s*=\s*"?([^";,]*)', match.group(2))
        if rel and "next" in rel.group(1).lower().split():
            return urllib.parse.urljoin(base, match.group(1).strip())
    return None


def describe(error: object) -> str:
    """An exception as a short reason: the cause of a retry or connection error, without object reprs."""
    if isinstance(error, MaxRetryError) and error.reason is not None:
        return describe(error.reason)
    if isinstance(error, ProtocolError) and len(error.args) == 2 and isinstance(error.args[1], BaseException):
        return f"{str(error.args[0]).rstrip('.')}: {describe(error.args[1])}"
    text = re.sub(r"^(<[^>]*>|\w+\(host=[^)]*\)): ", "", str(error))  # not the connection object's repr
    return text or type(error).__name__


# --- the deadline and retries ----------------------------------------------------------------------


class Deadline:
    """A point in (monotonic) time by which a call, or a sequence of calls, must be done."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def error(self, what: str) -> RegistryError:
        return RegistryError(
            f"{what}: not done within the {self.seconds:g} s deadline (GITHUB_DEADLINE_SECONDS); "
            "try again, or raise the deadline on a slow network"
        )

    def check(self, what: str) -> None:
        if self.expired():
            raise self.error(what)


class _Retry(Retry):
    """urllib3's Retry, that gives up (and hands back the last answer) rather than wait past the deadline."""

    deadline_at: float = float("inf")

    def new(self, **kw: Any) -> Self:
        fresh = super().new(**kw)
        fresh.deadline_at = self.deadline_at
        return fresh

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        fresh = super().increment(method, url, response, error, _pool, _stacktrace)
        wait = fresh.get_retry_after(response) if response is not None else None
        if not wait:
            wait = fresh.get_backoff_time()
        if time.monotonic() + wait >= self.deadline_at:
            # with raise_on_status=False the pool answers the last response (a 429 stays a rate limit)
            reason = error or ResponseError(f"retrying in {wait:g} s would pass the deadline")
            raise MaxRetryError(_pool, url, reason) from error  # type: ignore[arg-type]
        return fresh


# --- reading bodies ----------------------------------------------------------------------------------


class _BrokeOff(Exception):
    def __init__(self, received: int, error: BaseException) -> None:
        super().__init__(received, error)
        self.received, self.error = received, error


class _TooLarge(Exception):
    pass


def _pump(
    read: Callable[[int], bytes], write: Callable[[bytes], Any], limit: int | None, deadline: Deadline | None, what: str
) -> int:
    """Copy until EOF; never passes more than `limit` bytes to `write` (raises `_TooLarge` first)."""
    received = 0
    while True:
        if deadline is not None:
            deadline.check(what)
        want = CHUNK if limit is None else min(CHUNK, limit - received + 1)  # one byte past the limit tells
        try:
            chunk = read(want)
        except READ_ERRORS as error:
            if deadline is not None:
                deadline.check(what)
            raise _BrokeOff(received, error) from None
        if not chunk:
            if deadline is not None:
                deadline.check(what)  # the end came from the cut-off at the deadline
            return received
        if limit is not None and received + len(chunk) > limit:
            raise _TooLarge
        write(chunk)
        received += len(chunk)


def _copy_to_file(
    read: Callable[[int], bytes],
    target: Path,
    expected_size: int | None,
    what: str,
    deadline: Deadline | None,
    limit: int | None = None,
) -> None:
    bound = expected_size if expected_size is not None else limit
    try:
        with target.open("wb") as out:
            try:
                written = _pump(read, out.write, bound, deadline, what)
            except _BrokeOff as broke:
                raise RegistryError(
                    f"{what}: the download broke off after {broke.received} bytes ({describe(broke.error)}); try again"
                ) from None
            except _TooLarge:
                said = "declared" if expected_size is not None else "it may hold"
                raise RegistryError(
                    f"{what}: the download is larger than the {bound} bytes {said}; refused "
                    f"(nothing past the {'declared size' if expected_size is not None else 'limit'} was written)"
                ) from None
        if expected_size is not None and written != expected_size:
            raise RegistryError(f"{what}: the download is truncated ({written} of {expected_size} bytes); try again")
    except BaseException:
        target.unlink(missing_ok=True)  # a partial file is never left as if complete
        raise


def copy_stream(source: BinaryIO, target: Path, expected_size: int | None, what: str, limit: int | None = None) -> None:
    """Copy a file-like download to `target` in chunks, never writing more than `expected_size` bytes
    (or, when the size is unknown, more than `limit`).

    A short, long or broken download is a RegistryError and leaves no `target` behind.
    """
    if expected_size is not None and limit is not None and expected_size > limit:
        raise RegistryError(f"{what}: {expected_size:,} bytes, more than the {limit:,} bytes it may hold; refused")
    _copy_to_file(source.read, target, expected_size, what, None, limit)


def _declared(size: object, what: str) -> int | None:
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise RegistryError(f"{what}: the declared size {size!r} is not a byte count")
    return size


# --- the client ---------------------------------------------------------------------------------------


def _deadline_seconds() -> float:
    raw = os.environ.get("GITHUB_DEADLINE_SECONDS")
    if not raw:
        return DEADLINE_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise RegistryError(f"GITHUB_DEADLINE_SECONDS={raw!r}: use a positive number of seconds")
    return seconds


class RestClient:
    """GET requests to the GitHub REST API for one repository, with the token from GH_TOKEN / GITHUB_TOKEN."""

    def __init__(
        self, repo: str, token: str | None = None, api_url: str | None = None, deadline: float | None = None
    ) -> None:
        self.repo = repo
        self.token = token if token is not None else os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")
        self.api_url = (api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        self.deadline_seconds = deadline if deadline is not None else _deadline_seconds()
        try:
            self._api_origin: tuple[str, str, int] | None = origin(parse_url(self.api_url))
        except LocationParseError:
            self._api_origin = None  # every request to it is refused by check_url, naming the URL
        self._budgets = threading.local()  # each thread's enclosing budget, if any
        self._direct = urllib3.PoolManager(num_pools=4)
        self._proxied: dict[str, urllib3.ProxyManager] = {}

    # deadlines

    @contextlib.contextmanager
    def budget(self, seconds: float | None = None) -> Iterator[Deadline]:
        """Every call inside shares one deadline (`seconds`, else the client's; never past an enclosing one)."""
        outer: Deadline | None = getattr(self._budgets, "current", None)
        deadline = Deadline(seconds if seconds is not None else self.deadline_seconds)
        self._budgets.current = outer if outer is not None and outer.at < deadline.at else deadline
        try:
            yield self._budgets.current
        finally:
            self._budgets.current = outer

    def _deadline(self) -> Deadline:
        """The enclosing budget's deadline, else a fresh one for this call."""
        current: Deadline | None = getattr(self._budgets, "current", None)
        return current if current is not None else Deadline(self.deadline_seconds)

    # requests

    def _manager(self, url: urllib3.util.Url) -> urllib3.PoolManager:
        """Direct, or through the proxy urllib would use for this URL (never for loopback)."""
        scheme, host, _ = origin(url)
        proxy = urllib.request.getproxies().get(scheme)
        if not proxy or host in LOOPBACK_HOSTS or urllib.request.proxy_bypass(host):
            return self._direct
        if proxy not in self._proxied:
            parsed = parse_url(proxy)
            headers = urllib3.make_headers(proxy_basic_auth=urllib.parse.unquote(parsed.auth)) if parsed.auth else None
            self._proxied[proxy] = urllib3.ProxyManager(proxy, num_pools=4, proxy_headers=headers)
        return self._proxied[proxy]

    def _send(self, url: str, parsed: urllib3.util.Url, accept: str, deadline: Deadline) -> BaseHTTPResponse:
        """One hop: GET `url` (already checked) with retries, redirects not followed, the body not read yet."""
        headers = {"Accept": accept, "X-GitHub-Api-Version": API_VERSION, "User-Agent": USER_AGENT}
        if self.token and origin(parsed) == self._api_origin:
            headers["Authorization"] = f"Bearer {self.token}"
        retries = _Retry(
            total=RETRIES,
            connect=RETRIES,
            read=RETRIES,
            status=RETRIES,
            other=0,
            redirect=False,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=BACKOFF_FACTOR,
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        retries.deadline_at = deadline.at
        left = max(deadline.remaining(), 0.001)
        timeout = Timeout(connect=min(CONNECT_TIMEOUT_SECONDS, left), read=min(READ_TIMEOUT_SECONDS, left))
        try:
            return self._manager(parsed).request(
                "GET", url, headers=headers, retries=retries, redirect=False, timeout=timeout, preload_content=False
            )
        except MaxRetryError as error:
            reason: object = error.reason
        except READ_ERRORS as error:
            reason = error
        deadline.check(url)
        raise RegistryError(f"cannot reach {url}: {describe(reason)}. Check the network or GITHUB_API_URL.")

    def _reachable(self, parsed: urllib3.util.Url, url: str) -> urllib3.util.Url:
        """`parsed`, unless it points at this machine while the API does not: an asset URL, next link or
        redirect from a remote API must not reach services on the consumer's own loopback interface."""
        api_local = self._api_origin is not None and self._api_origin[1] in LOOPBACK_HOSTS
        if _host(parsed) in LOOPBACK_HOSTS and not api_local:
            raise RefusedURL(f"refusing to fetch {url!r}: a loopback address, while the API ({self.api_url}) is not")
        return parsed

    def _get(self, url: str, accept: str, deadline: Deadline, context: str = "") -> tuple[BaseHTTPResponse, str]:
        """The 2xx response to GET `url` and the URL it came from, redirects followed and checked hop by hop."""
        first = url
        parsed = self._reachable(check_url(url, context), url)
        for _ in range(MAX_REDIRECTS + 1):
            deadline.check(first)
            response = self._send(url, parsed, accept, deadline)
            if response.status in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                _discard(response)
                if not location:
                    raise RegistryError(f"{url} answered {response.status} without a Location to go to")
                target = urllib.parse.urljoin(url, location.strip())
                hop = self._reachable(check_url(target, f"redirected to from {url}"), target)
                if parsed.scheme == "https" and hop.scheme != "https":
                    raise RefusedURL(f"refusing the redirect from {url} to {target}: a downgrade from https to http")
                url, parsed = target, hop
                continue
            if not 200 <= response.status < 300:
                _discard(response)
                raise self._status_error(response, url)
            return response, url
        raise RegistryError(f"{first}: more than {MAX_REDIRECTS} redirects; refused")

    def _status_error(self, response: BaseHTTPResponse, url: str) -> RegistryError:
        status, headers = response.status, response.headers
        if status in (403, 429) and (headers.get("x-ratelimit-remaining") == "0" or headers.get("retry-after")):
            reset = headers.get("x-ratelimit-reset") or ""
            when = time.strftime("at %H:%M UTC", time.gmtime(int(reset))) if reset.isdigit() else "later"
            retry_after = headers.get("retry-after") or ""
            if retry_after.isdigit():
                when = f"in {retry_after} s"
            hint = (
                "" if self.token else " Set GH_TOKEN or GITHUB_TOKEN: unauthenticated calls are limited to 60 an hour."
            )
            return RegistryError(f"GitHub API rate limit exceeded (resets {when}).{hint}")
        if status in (401, 403):
            return RegistryError(
                f"GitHub refused {url} ({status}): check that GH_TOKEN / GITHUB_TOKEN can read {self.repo}"
            )
        if status == 404:
            return NotFoundOnGitHub(f"not found on GitHub: {url}")
        return RegistryError(f"GitHub answered {status} for {url}; try again later")

    # the public calls

    def _page(self, url: str, deadline: Deadline, context: str = "") -> tuple[object, str | None]:
        response, final = self._get(url, "application/vnd.github+json", deadline, context)
        body, done = bytearray(), False
        try:
            with _cut_off_at(deadline, response):
                _pump(_reader(response, True), body.extend, MAX_JSON_BYTES, deadline, url)
            done = True
        except _BrokeOff as broke:
            raise RegistryError(
                f"GitHub's answer to {url} broke off after {broke.received} bytes ({describe(broke.error)}); try again"
            ) from None
        except _TooLarge:
            raise RegistryError(f"GitHub's answer to {url} is larger than {MAX_JSON_BYTES} bytes; refused") from None
        finally:
            _discard(response, done)
        try:
            data = json.loads(bytes(body))
        except (ValueError, RecursionError) as error:
            start = bytes(body[:60]).decode("utf-8", "replace")
            raise RegistryError(f"GitHub's answer to {url} is not JSON ({error}; it starts {start!r})") from None
        return data, _next_link(response.headers.get("Link"), final)

    def page(self, url: str) -> tuple[object, str | None]:
        """JSON body and the URL of the next page (from the Link header), for one API call."""
        return self._page(url, self._deadline())

    def pages(self, url: str) -> Iterator[object]:
        """The JSON body of `url` and of each page its `Link: rel="next"` leads to, all under one deadline.

        At most MAX_PAGES pages; a next link back to a page already read is refused (it would never end).
        """
        deadline, context, first = self._deadline(), "", url
        seen: list[str] = []  # every page read, in order; also their count, which MAX_PAGES caps
        next_url: str | None = url
        while next_url is not None:
            if next_url in seen:
                raise RegistryError(f"the next page link after {url} leads back to {next_url}, already read; refused")
            if len(seen) >= MAX_PAGES:
                raise RegistryError(f"{first}: more than {MAX_PAGES} pages of answers; refused")
            seen.append(next_url)
            body, following = self._page(next_url, deadline, context)
            context, url = f"the next page after {next_url}", next_url
            yield body
            next_url = following

    def json(self, path: str) -> object:
        """The JSON body of GET <api>/<path>."""
        return self.page(f"{self.api_url}{path}")[0]

    def download(self, url: str, target: Path, declared_size: object, what: str) -> None:
        """An asset's bytes to `target`, never more than its declared size (else its Content-Length)."""
        declared = _declared(declared_size, what)
        deadline = self._deadline()
        response, final = self._get(url, "application/octet-stream", deadline, f"the asset {what}")
        done = False
        try:
            announced = response.headers.get("Content-Length")
            length = int(announced) if announced is not None and announced.strip().isdigit() else None
            if announced is not None and length is None:
                raise RegistryError(f"{what}: {final} announces a Content-Length of {announced!r}; refused")
            if declared is not None and length is not None and length != declared:
                raise RegistryError(
                    f"{what}: {final} announces {length} bytes but the release declares {declared}; refused"
                )
            expected = declared if declared is not None else length
            if expected is None:
                raise RegistryError(f"{what}: neither the release nor {final} says how large it is; refused")
            with _cut_off_at(deadline, response):
                _copy_to_file(_reader(response, False), target, expected, what, deadline)
            done = True
        finally:
            _discard(response, done)


def _discard(response: BaseHTTPResponse, read_to_the_end: bool = False) -> None:
    """Give the connection back to the pool; one with a body left unread is closed first (the pool reconnects)."""
    with contextlib.suppress(*READ_ERRORS):
        if not read_to_the_end:
            response.close()
        response.release_conn()


def _reader(response: BaseHTTPResponse, decode_content: bool) -> Callable[[int], bytes]:
    """A read that returns what one socket read gets, so the deadline is checked between socket reads
    even against a server that trickles; urllib3 older than 2.3 has no read1 (a read may then gather several)."""
    read1 = getattr(response, "read1", None)
    if read1 is None:
        return lambda n: response.read(n, decode_content=decode_content)
    return lambda n: read1(n, decode_content=decode_content)


@contextlib.contextmanager
def _cut_off_at(deadline: Deadline, response: BaseHTTPResponse) -> Iterator[None]:
    """Shut the response's socket for reading when the deadline passes, so a read blocked on a server
    that stalls mid-body ends then, not a socket timeout later (a no-op where urllib3 cannot)."""

    def cut() -> None:
        with contextlib.suppress(Exception):  # already released, or urllib3 older than 2.3
            response.shutdown()

    timer = threading.Timer(max(deadline.remaining(), 0.0), cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
