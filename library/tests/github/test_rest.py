"""The GitHub REST client's guarantees, each against real loopback servers that misbehave on purpose."""

import datetime
import io
import ipaddress
import json
import ssl
import time
from pathlib import Path

import pytest
import urllib3

from modelkeel.errors import (
    NotFoundOnGitHub,
    RefusedURL,
    RegistryError,
)
from modelkeel.github import rest
from modelkeel.github.rest import (
    RestClient,
    copy_stream,
)

from ..github_standin import LoopbackServer, answer

REPO = "octo-org/churn-model"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    """Backoff is real but short in tests; no proxy from the environment; the default deadline unless a test sets one."""
    monkeypatch.setattr(rest, "BACKOFF_FACTOR", 0.01)
    monkeypatch.delenv("GITHUB_DEADLINE_SECONDS", raising=False)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def connections(monkeypatch):
    """Every TCP connection the client opens, by (host, port); still opened for real."""
    opened = []
    real = urllib3.util.connection.create_connection

    def recording(address, *args, **kwargs):
        opened.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", recording)
    return opened


def client(api: LoopbackServer | str, token: str | None = "secret-token", **kwargs) -> RestClient:
    return RestClient(REPO, token=token, api_url=api if isinstance(api, str) else api.url, **kwargs)


def authorizations(server: LoopbackServer) -> list[str | None]:
    return [headers.get("Authorization") for _, headers in server.requests]


# --- the token goes only to the API's own scheme, host and port -----------------------------------------------


def test_the_token_goes_only_to_the_api_origin(tmp_path):
    with LoopbackServer(lambda h: answer(h, body=[] if h.path.startswith("/releases") else b"0123456789")) as elsewhere:

        def api_answer(h):
            if h.path == "/releases":
                return answer(h, body=[1], Link=f'<{elsewhere.url}/releases?page=2>; rel="next"')
            if h.path == "/assets/1":  # GitHub's 302 to its storage host
                return answer(h, 302, Location=f"{elsewhere.url}/blob/1")
            if h.path == "/assets/2":  # a redirect within the API keeps the token
                return answer(h, 302, Location="/blob/2")
            return answer(h, body=b"0123456789")

        with LoopbackServer(api_answer) as api:
            github = client(api)
            assert list(github.pages(f"{api.url}/releases")) == [[1], []]
            github.download(f"{api.url}/assets/1", tmp_path / "one", 10, "one")
            github.download(f"{api.url}/assets/2", tmp_path / "two", 10, "two")
            github.download(f"{elsewhere.url}/direct", tmp_path / "three", 10, "three")
            other_host = api.url.replace("127.0.0.1", "localhost")  # same port, another host name
            github.download(f"{other_host}/direct", tmp_path / "four", 10, "four")
    assert (tmp_path / "two").read_bytes() == b"0123456789"
    assert elsewhere.paths == ["/releases?page=2", "/blob/1", "/direct"]
    assert authorizations(elsewhere) == [None, None, None], "another port is another origin: no token"
    assert api.paths == ["/releases", "/assets/1", "/assets/2", "/blob/2", "/direct"]
    assert authorizations(api) == ["Bearer secret-token"] * 4 + [None], "only the API's own host gets the token"


def _self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A TLS server context for 127.0.0.1 and the certificate file a client trusts it with."""
    pytest.importorskip("cryptography", reason="the https loopback server needs a self-signed certificate")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


def test_a_redirect_from_https_down_to_http_is_refused(tmp_path, monkeypatch):
    context, cert_file = _self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the client trusts the loopback certificate
    with LoopbackServer(lambda h: answer(h, body=b"0123456789")) as plain:

        def api_answer(h):
            if h.path == "/ok":
                return answer(h, body=dict(ok=True))
            return answer(h, 302, Location=f"{plain.url}/blob")  # http, although on loopback

        with LoopbackServer(api_answer, tls=context) as api:
            github = client(api)
            assert github.json("/ok") == dict(ok=True), "https to the loopback server works"
            with pytest.raises(RefusedURL, match=r"redirect from https://127.0.0.1:\d+/asset to http://.*downgrade"):
                github.download(f"{api.url}/asset", tmp_path / "asset", 10, "asset")
    assert authorizations(api) == ["Bearer secret-token", "Bearer secret-token"]
    assert plain.requests == [], "the http server was never asked"
    assert not (tmp_path / "asset").exists()


# --- https only, plain http only on loopback, no other scheme --------------------------------------------------


REFUSED = [
    ("http://example.com/asset", "plain http:// is only allowed to loopback"),
    ("http://10.0.0.1:8080/asset", "plain http:// is only allowed to loopback"),
    ("http://127.0.0.1.nip.io/asset", "plain http:// is only allowed to loopback"),
    ("file:///etc/passwd", "only https:// URLs are fetched, not file ones"),
    ("ftp://127.0.0.1/asset", "only https:// URLs are fetched, not ftp ones"),
    ("gopher://127.0.0.1:70/_GET", "only https:// URLs are fetched, not gopher ones"),
    ("//127.0.0.1/asset", "not scheme-less ones"),
    ("https:///asset", "no host"),
    ("https://user:password@api.github.com/asset", "carries credentials"),
    ("https://api.github.com\\@127.0.0.1/asset", "backslashes"),
    ("https://api.github.com/as set", "spaces"),
    ("https://api.github.com/\nasset", "control"),
    ("", "empty"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_urls_other_than_https_or_loopback_http_are_refused_without_connecting(url, why, tmp_path, connections):
    github = client("https://api.github.com")
    with pytest.raises(RefusedURL, match=rf"refusing to fetch .*: .*{why}"):
        github.download(url, tmp_path / "asset", 10, "asset")
    with pytest.raises(RefusedURL, match="refusing to fetch"):
        github.page(url)
    assert connections == [], "nothing was connected to"
    assert not (tmp_path / "asset").exists()


def test_loopback_http_is_allowed(connections):
    with LoopbackServer(lambda h: answer(h, body=dict(ok=True))) as api:
        assert client(api).json("/ok") == dict(ok=True)
        assert client(api.url.replace("127.0.0.1", "localhost")).json("/ok") == dict(ok=True)
    assert len(connections) == 2, "the connection recorder sees the client's connections"


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/x", "http://example.com/x"])
def test_a_redirect_to_another_scheme_or_host_is_refused(location, tmp_path, connections):
    with LoopbackServer(lambda h: answer(h, 302, Location=location)) as api:
        with pytest.raises(RefusedURL, match=rf"refusing to fetch '{location}' \(redirected to from {api.url}/a\)"):
            client(api).download(f"{api.url}/a", tmp_path / "asset", 10, "asset")
        with pytest.raises(RefusedURL, match="redirected to from"):
            client(api).json("/b")
    assert len(connections) == 2 and set(connections) == {("127.0.0.1", int(api.url.rsplit(":", 1)[1]))}


def test_a_redirect_loop_ends(tmp_path):
    with (
        LoopbackServer(lambda h: answer(h, 302, Location=h.path)) as api,
        pytest.raises(RegistryError, match=rf"more than {rest.MAX_REDIRECTS} redirects"),
    ):
        client(api).download(f"{api.url}/loop", tmp_path / "asset", 10, "asset")
    assert len(api.requests) == rest.MAX_REDIRECTS + 1


# --- pages ---------------------------------------------------------------------------------------------------


def test_a_next_link_back_to_a_page_already_read_is_refused():
    def pages(h):
        page = int(h.path.rsplit("=", 1)[1])
        following = "/releases?page=1" if page == 2 else f"/releases?page={page + 1}"
        answer(h, body=[page], Link=f'<{following}>; rel="next", </releases?page=9>; rel="last"')

    with LoopbackServer(pages) as api:
        read = []
        with pytest.raises(RegistryError, match=r"leads back to http://127.0.0.1:\d+/releases\?page=1, already read"):
            read.extend(client(api).pages(f"{api.url}/releases?page=1"))
        assert read == [[1], [2]] and len(api.requests) == 2


def test_pages_are_capped(monkeypatch):
    monkeypatch.setattr(rest, "MAX_PAGES", 5)

    def endless(h):
        page = int(h.path.rsplit("=", 1)[1])
        answer(h, body=[page], Link=f'<{h.path.split("=")[0]}={page + 1}>; rel="next"')

    with (
        LoopbackServer(endless) as api,
        pytest.raises(RegistryError, match=r"/releases\?page=1: more than 5 pages of answers; refused"),
    ):
        list(client(api).pages(f"{api.url}/releases?page=1"))
    assert len(api.requests) == 5


def test_a_next_link_to_another_scheme_is_refused():
    with (
        LoopbackServer(lambda h: answer(h, body=[], Link='<file:///etc/passwd>; rel="next"')) as api,
        pytest.raises(RefusedURL, match=r"'file:///etc/passwd' \(the next page after http://127.0.0.1:\d+/r\)"),
    ):
        list(client(api).pages(f"{api.url}/r"))


# --- downloads stop at the declared size ------------------------------------------------------------------------


def _unsized(body: bytes, pause: float = 0.0):
    """An answer without Content-Length (ended by closing the connection), sent in two parts."""

    def respond(h):
        h.send_response(200)
        h.end_headers()
        h.wfile.write(body[:10])
        h.wfile.flush()
        time.sleep(pause)
        h.wfile.write(body[10:])

    return respond


def test_a_download_announcing_more_than_declared_is_refused_before_reading(tmp_path):
    with (
        LoopbackServer(lambda h: answer(h, body=b"x" * 20)) as api,
        pytest.raises(
            RegistryError, match=r"model.onnx: http://127.0.0.1:\d+/a announces 20 bytes but the release declares 10"
        ),
    ):
        client(api).download(f"{api.url}/a", tmp_path / "model.onnx", 10, "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_a_download_sending_more_than_declared_stops_at_the_declared_size(tmp_path, monkeypatch):
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: None)  # keep the partial file to look at
    with (
        LoopbackServer(_unsized(b"0123456789" + b"x" * 5000, pause=0.05)) as api,
        pytest.raises(RegistryError, match=r"model.onnx: the download is larger than the 10 bytes declared"),
    ):
        client(api).download(f"{api.url}/a", tmp_path / "model.onnx", 10, "model.onnx")
    assert len((tmp_path / "model.onnx").read_bytes()) <= 10, "nothing past the declared size was written"


def test_a_download_larger_than_declared_leaves_no_file(tmp_path):
    with (
        LoopbackServer(_unsized(b"0123456789abc")) as api,
        pytest.raises(RegistryError, match=r"larger than the 10 bytes declared"),
    ):
        client(api).download(f"{api.url}/a", tmp_path / "model.onnx", 10, "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_a_short_download_leaves_no_file(tmp_path):
    def short(h):
        h.send_response(200)
        h.send_header("Content-Length", "10")
        h.end_headers()
        h.wfile.write(b"01234")

    with (
        LoopbackServer(short) as api,
        pytest.raises(RegistryError, match=r"model.onnx: the download (broke off after 5 bytes|is truncated)"),
    ):
        client(api).download(f"{api.url}/a", tmp_path / "model.onnx", 10, "model.onnx")
    with (
        LoopbackServer(_unsized(b"01234")) as api,
        pytest.raises(RegistryError, match=r"model.onnx: the download is truncated \(5 of 10 bytes\)"),
    ):
        client(api).download(f"{api.url}/a", tmp_path / "model.onnx", 10, "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_the_size_comes_from_the_release_else_from_content_length(tmp_path):
    with LoopbackServer(lambda h: answer(h, body=b"0123456789")) as api:
        client(api).download(f"{api.url}/a", tmp_path / "a", None, "a")
        assert (tmp_path / "a").read_bytes() == b"0123456789"
        with pytest.raises(RegistryError, match=r"a: the declared size '10' is not a number of bytes|not a byte count"):
            client(api).download(f"{api.url}/a", tmp_path / "b", "10", "a")
    with (
        LoopbackServer(_unsized(b"0123456789")) as api,
        pytest.raises(RegistryError, match=r"neither the release nor http://127.0.0.1:\d+/a says how large it is"),
    ):
        client(api).download(f"{api.url}/a", tmp_path / "c", None, "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_copy_stream_of_a_file_like_source_is_checked_against_its_size(tmp_path):
    copy_stream(io.BytesIO(b"0123456789"), tmp_path / "exact", 10, "exact")
    assert (tmp_path / "exact").read_bytes() == b"0123456789"
    copy_stream(io.BytesIO(b"0123456789"), tmp_path / "unsized", None, "unsized")
    assert (tmp_path / "unsized").read_bytes() == b"0123456789"
    with pytest.raises(RegistryError, match=r"short: the download is truncated \(10 of 11 bytes\)"):
        copy_stream(io.BytesIO(b"0123456789"), tmp_path / "short", 11, "short")
    with pytest.raises(RegistryError, match=r"long: the download is larger than the 9 bytes declared"):
        copy_stream(io.BytesIO(b"0123456789"), tmp_path / "long", 9, "long")

    class Broken(io.BytesIO):
        def read(self, n=-1):
            raise OSError("connection reset")

    with pytest.raises(RegistryError, match=r"broken: the download broke off after 0 bytes \(connection reset\)"):
        copy_stream(Broken(), tmp_path / "broken", 10, "broken")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exact", "unsized"]


# --- the deadline --------------------------------------------------------------------------------------------


def test_a_trickling_download_hits_the_deadline(tmp_path):
    def trickle(h):
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(1000):
            if h.loopback.stopping.wait(0.02):
                return
            h.wfile.write(b"x")
            h.wfile.flush()

    with LoopbackServer(trickle) as api:
        started = time.monotonic()
        with pytest.raises(RegistryError, match=r"not done within the 0.3 s deadline"):
            client(api, deadline=0.3).download(f"{api.url}/a", tmp_path / "a", 1000, "a")
        assert time.monotonic() - started < 1.5
    assert not (tmp_path / "a").exists()


def test_a_download_that_stalls_midway_hits_the_deadline_not_a_socket_timeout(tmp_path):
    def stall(h):
        h.send_response(200)
        h.send_header("Content-Length", "10")
        h.end_headers()
        h.wfile.flush()
        time.sleep(0.8)
        h.wfile.write(b"0")
        h.wfile.flush()
        h.loopback.stopping.wait(10)

    with LoopbackServer(stall) as api:
        started = time.monotonic()
        with pytest.raises(RegistryError, match=r"a: not done within the 1 s deadline"):
            client(api, deadline=1).download(f"{api.url}/a", tmp_path / "a", 10, "a")
        assert time.monotonic() - started < 1.5, "the read after the first byte waited only for the time left"


def test_a_server_that_never_answers_hits_the_deadline():
    with LoopbackServer(lambda h: h.loopback.stopping.wait(10)) as api:
        started = time.monotonic()
        with pytest.raises(RegistryError, match=r"not done within the 0.3 s deadline"):
            client(api, deadline=0.3).json("/slow")
        assert time.monotonic() - started < 1.5


def test_a_sequence_of_calls_shares_one_deadline():
    def slowish(h):
        time.sleep(0.12)
        answer(h, body=[])

    with LoopbackServer(slowish) as api:
        github = client(api, deadline=5)
        assert github.json("/one") == [] and github.json("/two") == []  # each call alone is quick enough
        with pytest.raises(RegistryError, match=r"not done within the 0.3 s deadline"), github.budget(0.3):
            for _ in range(10):
                github.json("/again")
    assert len(api.requests) < 8


def test_the_deadline_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("GITHUB_DEADLINE_SECONDS", "2.5")
    assert client("https://api.github.com").deadline_seconds == 2.5
    monkeypatch.setenv("GITHUB_DEADLINE_SECONDS", "soon")
    with pytest.raises(RegistryError, match=r"GITHUB_DEADLINE_SECONDS='soon': use a positive number of seconds"):
        client("https://api.github.com")


# --- retries -------------------------------------------------------------------------------------------------


def _failing_first(status: int, times: int = 1, **headers: str):
    def respond(h):
        if len(h.loopback.requests) <= times:
            return answer(h, status, body=dict(message="busy"), **headers)
        return answer(h, body=dict(ok=True))

    return respond


def test_a_5xx_is_retried():
    with LoopbackServer(_failing_first(503, times=2)) as api:
        assert client(api).json("/r") == dict(ok=True)
    assert len(api.requests) == 3


def test_a_5xx_that_persists_is_a_clear_error():
    with (
        LoopbackServer(_failing_first(502, times=99)) as api,
        pytest.raises(RegistryError, match=r"GitHub answered 502 for http://127.0.0.1:\d+/r; try again later"),
    ):
        client(api).json("/r")
    assert len(api.requests) == rest.RETRIES + 1


def test_retry_after_is_respected():
    with LoopbackServer(_failing_first(429, Retry_After="1")) as api:
        started = time.monotonic()
        assert client(api).json("/r") == dict(ok=True)
        assert time.monotonic() - started >= 0.9, "waited as long as Retry-After asked"
    assert len(api.requests) == 2


def test_a_retry_after_beyond_the_deadline_is_not_waited_for():
    with LoopbackServer(_failing_first(429, Retry_After="3600")) as api:
        started = time.monotonic()
        with pytest.raises(RegistryError, match=r"rate limit exceeded \(resets in 3600 s\)"):
            client(api, token=None).json("/r")
        assert time.monotonic() - started < 1
    assert len(api.requests) == 1


def test_a_404_is_not_retried():
    with (
        LoopbackServer(_failing_first(404)) as api,
        pytest.raises(NotFoundOnGitHub, match=r"not found on GitHub: http://127.0.0.1:\d+/r"),
    ):
        client(api).json("/r")
    assert len(api.requests) == 1


# --- malformed answers ---------------------------------------------------------------------------------------


def test_an_answer_that_is_not_json_names_the_url():
    with (
        LoopbackServer(lambda h: answer(h, body=b"<html>Unicorn!</html>")) as api,
        pytest.raises(RegistryError, match=r"answer to http://127.0.0.1:\d+/r is not JSON .*it starts '<html>Unicorn"),
    ):
        client(api).json("/r")


def test_json_nested_too_deep_is_a_clear_error():
    with (
        LoopbackServer(lambda h: answer(h, body=b"[" * 100_000)) as api,
        pytest.raises(RegistryError, match=r"answer to http://127.0.0.1:\d+/r is not JSON"),
    ):
        client(api).json("/r")


def test_an_oversized_json_answer_is_refused(monkeypatch):
    monkeypatch.setattr(rest, "MAX_JSON_BYTES", 100)
    with (
        LoopbackServer(lambda h: answer(h, body=list(range(100)))) as api,
        pytest.raises(RegistryError, match=r"answer to http://127.0.0.1:\d+/r is larger than 100 bytes"),
    ):
        client(api).json("/r")


def test_a_json_answer_that_breaks_off_names_the_url():
    def half(h):
        data = json.dumps(list(range(100))).encode()
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data[:50])

    with (
        LoopbackServer(half) as api,
        pytest.raises(RegistryError, match=r"answer to http://127.0.0.1:\d+/r broke off after 50 bytes"),
    ):
        client(api).json("/r")


def test_a_connection_closed_without_an_answer_names_the_url():
    with (
        LoopbackServer(lambda h: h.connection.close()) as api,
        pytest.raises(RegistryError, match=r"cannot reach http://127.0.0.1:\d+/r: .*Check the network"),
    ):
        client(api).json("/r")
    assert len(api.requests) == rest.RETRIES + 1, "retried, then given up"


def test_nothing_listening_is_a_clear_error():
    with pytest.raises(RegistryError, match=r"cannot reach http://127.0.0.1:9/r: .*refused"):
        client("http://127.0.0.1:9").json("/r")


def test_a_redirect_without_a_location_is_a_clear_error(tmp_path):
    with (
        LoopbackServer(lambda h: answer(h, 302)) as api,
        pytest.raises(RegistryError, match=r"http://127.0.0.1:\d+/a answered 302 without a Location"),
    ):
        client(api).download(f"{api.url}/a", tmp_path / "a", 1, "a")


# --- proxies -------------------------------------------------------------------------------------------------


def test_an_https_proxy_is_used_except_for_loopback_and_no_proxy(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://user:pw@proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "ghe.internal")
    github = client("https://api.github.com")
    via_proxy = github._manager(urllib3.util.parse_url("https://api.github.com/x"))
    assert isinstance(via_proxy, urllib3.ProxyManager)
    assert via_proxy.proxy_headers["proxy-authorization"].startswith("Basic ")
    assert not isinstance(github._manager(urllib3.util.parse_url("https://ghe.internal/x")), urllib3.ProxyManager)
    assert not isinstance(github._manager(urllib3.util.parse_url("http://127.0.0.1:8/x")), urllib3.ProxyManager)


def test_a_remote_api_cannot_send_the_client_to_this_machine(connections, tmp_path):
    """An asset URL (or redirect) on loopback is refused while the API itself is not on loopback: a hostile
    release cannot make the consumer fetch from its own local services."""
    remote = client("https://api.github.example")
    for url in ("http://127.0.0.1:9/assets/1", "https://localhost:9/assets/1", "http://[::1]:9/x"):
        with pytest.raises(RefusedURL, match="a loopback address, while the API"):
            remote.download(url, tmp_path / "asset", 10, "asset")
    assert not (tmp_path / "asset").exists() and connections == [], "refused before connecting"
