"""The shared API client against a local echo service: cookies, redirects, refusals, bodies."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from fakes.service import FakeService, json_error

from bioshare._http import ApiClient, ApiError, _cookie_jar
from bioshare.errors import AccessDeniedError

SECRET = "0123456789ABCDEF"
FAST: dict[str, Any] = {"timeout": 2.0, "retries": 1, "backoff": 0.01}


class Echo(FakeService):
    """Echoes the credentials it got; redirects on demand; refuses; answers empty bodies."""

    name = "echo"

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/echo", self._echo)
        app.router.add_get("/moved", self._moved)
        app.router.add_get("/away", self._away)
        app.router.add_get("/deny/{status}", self._deny)
        app.router.add_get("/none", self._none)
        app.router.add_get("/blank", self._blank)

    async def _echo(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "cookie": request.headers.get("Cookie"),
                "authorization": request.headers.get("Authorization"),
            }
        )

    async def _moved(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/echo")

    async def _away(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def _deny(self, request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        return json_error(status, "Your session has expired")

    async def _none(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _blank(self, request: web.Request) -> web.Response:
        return web.Response(status=200, body=b"  \n", content_type="application/json")


@pytest.fixture(scope="module")
def server() -> Iterator[Echo]:
    with Echo() as echo:
        yield echo


@pytest.fixture
def echo(server: Echo) -> Echo:
    server.clear_faults()
    server.clear_log()
    return server


def _client(echo: Echo, **kwargs: Any) -> ApiClient:
    return ApiClient(echo.url, name="echo", **FAST, **kwargs)


# -- cookies -----------------------------------------------------------------------------------


def test_cookies_follow_a_redirect_on_the_same_host(echo: Echo) -> None:
    client = _client(echo, cookies={"JSESSIONID": SECRET})
    assert client.get_json("/moved")["cookie"] == f"JSESSIONID={SECRET}"
    moved, served = echo.log
    assert (moved.path, moved.status, served.path, served.status) == ("/moved", 302, "/echo", 200)
    assert moved.headers.get("Cookie") == served.headers.get("Cookie") == f"JSESSIONID={SECRET}"


def test_async_cookies_follow_a_redirect_on_the_same_host(echo: Echo) -> None:
    client = _client(echo, cookies={"JSESSIONID": SECRET, "lang": "en"})
    body = asyncio.run(client.aget_json("/moved"))
    assert sorted(body["cookie"].split("; ")) == [f"JSESSIONID={SECRET}", "lang=en"]


def test_cookies_follow_a_redirect_to_another_port_of_the_host(echo: Echo) -> None:
    with Echo() as other:  # like http -> https: same host, other port
        client = _client(echo, cookies={"JSESSIONID": SECRET})
        body = client.get_json(f"/away?to={other.url}/echo")
        assert body["cookie"] == f"JSESSIONID={SECRET}"


def test_credentials_never_follow_a_redirect_to_another_host(echo: Echo) -> None:
    with Echo() as other:
        elsewhere = f"http://localhost:{other.port}/echo"  # another host name, same machine
        client = _client(
            echo, cookies={"JSESSIONID": SECRET}, headers={"Authorization": f"Bearer {SECRET}"}
        )
        body = client.get_json(f"/away?to={elsewhere}")
        assert body == {"cookie": None, "authorization": None}
        assert asyncio.run(client.aget_json(f"/away?to={elsewhere}")) == body
        assert len(other.log) == 2
        assert all(SECRET not in str(r.headers) for r in other.log)
    assert all(f"JSESSIONID={SECRET}" in r.headers.get("Cookie", "") for r in echo.log)


def test_cookies_of_an_https_base_never_travel_over_http() -> None:
    with httpx.Client(cookies=_cookie_jar("https://xnat.example.org", {"S": SECRET})) as client:
        assert client.build_request("GET", "https://xnat.example.org/a").headers["Cookie"] == (
            f"S={SECRET}"
        )
        assert "Cookie" not in client.build_request("GET", "http://xnat.example.org/a").headers
        assert "Cookie" not in client.build_request("GET", "https://example.org/a").headers


def test_cookies_never_show(echo: Echo) -> None:
    client = _client(echo, cookies={"JSESSIONID": SECRET})
    assert SECRET not in repr(client)
    with pytest.raises(AccessDeniedError) as info:
        client.get_json("/deny/401")
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_refusals_carry_their_status_and_url(echo: Echo, status: int) -> None:
    client = _client(echo)
    with pytest.raises(AccessDeniedError) as info:
        client.get_json(f"/deny/{status}", {"token": SECRET})
    assert info.value.status == status
    assert info.value.url == f"{echo.url}/deny/{status}"
    assert str(info.value) == (
        f"echo: HTTP {status} from GET {echo.url}/deny/{status}: Your session has expired"
    )
    assert len(echo.requests_to(f"/deny/{status}")) == 1  # never retried


def test_async_refusals_carry_their_status(echo: Echo) -> None:
    with pytest.raises(AccessDeniedError) as info:
        asyncio.run(_client(echo).aget_json("/deny/401"))
    assert info.value.status == 401


# -- bodies ------------------------------------------------------------------------------------


def test_an_empty_body_is_invalid_json_unless_a_value_is_given(echo: Echo) -> None:
    client = _client(echo)
    for path, status in (("/none", 204), ("/blank", 200)):
        with pytest.raises(ApiError, match=rf"echo: {echo.url}{path} answered with invalid JSON"):
            client.get_json(path)
        assert client.get_json(path, empty=[]) == []
        assert asyncio.run(client.aget_json(path, empty={})) == {}
        with pytest.raises(ApiError) as info:
            asyncio.run(client.aget_json(path))
        assert info.value.status == status
    assert client.get_json("/echo", empty=[]) == {"cookie": None, "authorization": None}
