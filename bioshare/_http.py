"""One retrying HTTP client for every REST API bioshare talks to (httpx, sync and async).

Retries timeouts, dropped connections and 429/502/503/504 with exponential back-off,
honouring ``Retry-After`` and ``X-RateLimit-Reset``; never retries a 4xx that cannot
succeed. Errors name the URL (without query secrets) and carry the server's message, read
from ``message``, ``messages`` or JSON:API ``errors``. Credentials (an ``Authorization``
header, session cookies) go to the base URL's host only: cookies follow a redirect on that
host (httpx drops a raw ``Cookie`` header on every redirect, hence the client's jar), and
both are dropped when a redirect leaves it.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import ssl
import time
from collections.abc import Mapping
from functools import cache
from http.cookiejar import Cookie, CookieJar
from typing import Any
from urllib.parse import urlsplit

import httpx

from bioshare import config
from bioshare.errors import AccessDeniedError, RemoteAccessError

__all__ = ["ApiClient", "ApiError", "error_message"]

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_MAX_WAIT = 60.0
_RAISE: Any = object()  # `get_json`'s ``empty`` default: an empty body is invalid JSON


class ApiError(RemoteAccessError):
    """An API answered with an error status; ``status`` and ``url`` say which."""

    def __init__(self, message: str, *, status: int | None = None, url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class ApiClient:
    """A small JSON API client around `httpx` with retries and clear errors.

    Parameters
    ----------
    base_url
        The service's base URL; paths given to the methods are joined to it.
    name
        The service's name for messages ("IDR", "Zenodo").
    timeout
        Seconds per request (``BIOSHARE_TIMEOUT`` by default).
    retries
        Retries of transient failures (``BIOSHARE_RETRIES`` by default).
    headers
        Extra headers sent with every request (for example ``Authorization``).
    cookies
        Cookies (name to value, e.g. a session id) sent to the base URL's host only, also
        after a redirect on that host, and only over https when the base URL is https.
    """

    def __init__(
        self,
        base_url: str,
        *,
        name: str = "",
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float = 0.25,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name or base_url
        self.timeout = config.timeout() if timeout is None else timeout
        self.retries = config.retries() if retries is None else retries
        self.backoff = backoff
        self._headers = dict(headers or {})
        self._cookies = dict(cookies or {})

    def __repr__(self) -> str:  # never shows headers nor cookies: they may hold tokens
        return f"ApiClient({self.base_url!r})"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (absolute URLs are returned unchanged)."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    # -- sync ---------------------------------------------------------------------------------

    def get_json(
        self, path: str, params: Mapping[str, Any] | None = None, *, empty: Any = _RAISE
    ) -> Any:
        """GET ``path`` and decode its JSON body.

        ``empty``, when given, is returned for an empty body or HTTP 204 (how some APIs
        answer "no match"); otherwise such a body is invalid JSON, like any other.
        """
        return _decode(self.request("GET", path, params=params), self.name, empty)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request with retries; raise `ApiError` for an error status.

        ``content`` may be a callable returning the body (an iterable of bytes): it is
        called again for every attempt, so that a streamed upload can be retried.
        """
        url = self.url(path)
        body = kwargs.pop("content", None)
        with self._client() as client:
            for attempt in range(self.retries + 1):
                content = body() if callable(body) else body
                try:
                    response = client.request(
                        method,
                        url,
                        content=content,
                        follow_redirects=self._follows(method),
                        **kwargs,
                    )
                except _TRANSIENT as exc:
                    if attempt == self.retries:
                        raise self._network_error(url, exc, attempt) from exc
                    time.sleep(self._delay(attempt, None))
                    continue
                if response.status_code in RETRY_STATUS and attempt < self.retries:
                    time.sleep(self._delay(attempt, response))
                    continue
                return self._check(response)
        raise AssertionError("unreachable")

    def _follows(self, method: str) -> bool:
        """Reads follow redirects; a write is never re-sent elsewhere (nor turned into GET)."""
        return method.upper() in ("GET", "HEAD", "OPTIONS")

    # -- async --------------------------------------------------------------------------------

    async def aget_json(
        self, path: str, params: Mapping[str, Any] | None = None, *, empty: Any = _RAISE
    ) -> Any:
        """Async twin of `get_json`."""
        return _decode(await self.arequest("GET", path, params=params), self.name, empty)

    async def arequest(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Async twin of `request`."""
        url = self.url(path)
        async with self._async_client() as client:
            for attempt in range(self.retries + 1):
                try:
                    response = await client.request(
                        method, url, follow_redirects=self._follows(method), **kwargs
                    )
                except _TRANSIENT as exc:
                    if attempt == self.retries:
                        raise self._network_error(url, exc, attempt) from exc
                    await asyncio.sleep(self._delay(attempt, None))
                    continue
                if response.status_code in RETRY_STATUS and attempt < self.retries:
                    await asyncio.sleep(self._delay(attempt, response))
                    continue
                return self._check(response)
        raise AssertionError("unreachable")

    # -- shared -------------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        return httpx.Client(
            verify=_ssl_context(),
            headers=self._headers,
            cookies=_cookie_jar(self.base_url, self._cookies),
            timeout=self.timeout,
            follow_redirects=True,
            event_hooks={"request": [_drop_auth_across_hosts(self.base_url)]},
        )

    def _async_client(self) -> httpx.AsyncClient:
        check = _drop_auth_across_hosts(self.base_url)

        async def hook(request: httpx.Request) -> None:
            check(request)

        return httpx.AsyncClient(
            verify=_ssl_context(),
            headers=self._headers,
            cookies=_cookie_jar(self.base_url, self._cookies),
            timeout=self.timeout,
            follow_redirects=True,
            event_hooks={"request": [hook]},
        )

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            wait = _server_wait(response)
            if wait is not None:
                return min(wait, _MAX_WAIT)
        return self.backoff * (2**attempt) * (1 + random.random())

    def _network_error(self, url: str, exc: Exception, attempt: int) -> ApiError:
        return ApiError(
            f"{self.name}: could not reach {_safe(url)} after {attempt + 1} attempt(s): "
            f"{type(exc).__name__}",
            url=_safe(url),
        )

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.is_redirect:
            request = response.request
            target = _safe(response.headers.get("Location", "?"))
            raise ApiError(
                f"{self.name}: the server redirected {request.method} {_safe(str(request.url))} "
                f"to {target}; bioshare does not re-send a write elsewhere: use that address "
                "as the service URL",
                status=response.status_code,
                url=_safe(str(request.url)),
            )
        if response.status_code < 400:
            return response
        url = _safe(str(response.request.url))
        message = error_message(response)
        status = response.status_code
        text = f"{self.name}: HTTP {status} from {response.request.method} {url}: {message}"
        if status in (401, 403):
            raise AccessDeniedError(text, status=status, url=url)
        raise ApiError(text, status=status, url=url)


def error_message(response: httpx.Response) -> str:
    """The server's own explanation: ``message``, ``messages``, or JSON:API ``errors``."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:300]
    parts: list[str] = []
    if body.get("message"):
        parts.append(str(body["message"]))
    for item in body.get("messages") or []:
        parts.append(str(item.get("message", item)) if isinstance(item, dict) else str(item))
    detail = body.get("detail")  # FastAPI: a string, or validation errors with "loc"
    if isinstance(detail, str):
        parts.append(detail)
    for item in detail if isinstance(detail, list) else []:
        if isinstance(item, dict):
            where = ".".join(str(part) for part in item.get("loc") or [])
            parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            field = error.get("field") or (error.get("source") or {}).get("pointer")
            text = error.get("message") or error.get("title") or error.get("messages")
            if isinstance(text, list):  # InvenioRDM: {"field", "messages": [...]}
                text = " ".join(str(t) for t in text)
            parts.append(f"{field}: {text}" if field else str(text))
    return "; ".join(parts) or response.reason_phrase


def _decode(response: httpx.Response, name: str, empty: Any = _RAISE) -> Any:
    if empty is not _RAISE and (response.status_code == 204 or not response.content.strip()):
        return empty
    try:
        return response.json()
    except ValueError as exc:
        raise ApiError(
            f"{name}: {_safe(str(response.request.url))} answered with invalid JSON "
            f"({response.headers.get('content-type', 'no content type')}): {exc}",
            status=response.status_code,
            url=_safe(str(response.request.url)),
        ) from exc


def _server_wait(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (Retry-After; X-RateLimit-Reset on a 429)."""
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            when = email.utils.parsedate_to_datetime(retry_after)
            return max(0.0, when.timestamp() - time.time())
    reset = response.headers.get("X-RateLimit-Reset")
    # Zenodo sends X-RateLimit-* on every answer: the reset time means "wait" only for 429.
    if reset and response.status_code == 429:
        value = float(reset)
        return max(0.0, value - time.time()) if value > 1e9 else value
    return None


@cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every client: building one costs tens of milliseconds."""
    return ssl.create_default_context()


def _cookie_jar(base_url: str, cookies: Mapping[str, str]) -> CookieJar:
    """``cookies`` for the base URL's host alone (and only over https if the base is https).

    Unlike a ``Cookie`` header, which httpx drops on every redirect, a client's jar is
    applied again to each request of a redirect chain.
    """
    jar = CookieJar()
    if not cookies:
        return jar
    # The host as the jar names it for requests: no port, "localhost" -> "localhost.local".
    host = re.sub(r":\d+$", "", urlsplit(base_url).netloc.lower())
    domain = host if "." in host else f"{host}.local"
    secure = httpx.URL(base_url).scheme == "https"
    for name, value in cookies.items():
        jar.set_cookie(
            Cookie(
                version=0,
                name=name,
                value=value,
                port=None,
                port_specified=False,
                domain=domain,
                domain_specified=False,
                domain_initial_dot=False,
                path="/",
                path_specified=True,
                secure=secure,
                expires=None,
                discard=True,
                comment=None,
                comment_url=None,
                rest={},
            )
        )
    return jar


def _drop_auth_across_hosts(base_url: str) -> Any:
    host = httpx.URL(base_url).host

    def hook(request: httpx.Request) -> None:
        if request.url.host != host:
            request.headers.pop("Authorization", None)
            request.headers.pop("Cookie", None)  # the jar would also serve subdomains

    return hook


def _safe(url: str) -> str:
    """A URL without its query string, which may carry secrets (``access_token=``)."""
    return url.split("?", 1)[0]
