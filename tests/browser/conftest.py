"""Real JupyterLab in real Chromium: one Lab server per session, a fresh page per test.

The Lab runs on 127.0.0.1 with a random port and token, fresh config/runtime/settings
folders (news and update checks off, notebook windowing off so every cell renders), and the
demo repository served beside it (``BIOSHARE_LOCAL_URL`` in its kernels' environment).
Chromium is Debian's (``/usr/bin/chromium``, installed by ``make test``), driven by
Playwright with ``executable_path``; never a downloaded browser. Without Chromium the tests
skip on a developer box and fail in CI (``CI`` set).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_harness import CHROME_ARGS, CHROMIUM, IDLE, PANEL, Lab
from lab_harness import jupyter_lab as running_lab

NOTEBOOKS = Path(__file__).parent / "notebooks"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-results" / "browser"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"{CHROMIUM} is missing: CI must run the browser tests")
    skip = pytest.mark.skip(reason=f"{CHROMIUM} not found (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def demo_repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from bioshare.demo import build_demo
    from bioshare.server import BackgroundServer

    data = tmp_path_factory.mktemp("browser-demo")
    build_demo(data)
    with BackgroundServer(data) as server:
        yield server.url, data


@pytest.fixture(scope="session")
def jupyter_lab(
    tmp_path_factory: pytest.TempPathFactory, demo_repository: tuple[str, Path]
) -> Iterator[Lab]:
    url, data = demo_repository
    env = {
        "BIOSHARE_LOCAL_URL": url,
        "BIOSHARE_LOCAL_ROOT": str(data),
        "BIOSHARE_DEMO_DATA": str(data),
    }
    with running_lab(tmp_path_factory.mktemp("lab"), env) as lab:
        yield lab


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Chromium for one test module. Playwright's sync API runs an event loop in this
    thread while it lives: ending it with the module lets later tests use asyncio.run."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser page; its screenshot is kept in test-results/browser/."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.route("https://**", lambda route: route.abort())  # nothing leaves the machine
    page = context.new_page()
    page.set_default_timeout(60_000)
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)  # 2 busy cores: conditions, not sleeps, with room
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = request.node.name.replace("[", "_").replace("]", "")
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        finally:
            context.close()


@pytest.fixture
def notebook(jupyter_lab: Lab, page: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Open a test notebook in Lab, wait for its kernel, run all cells; yields its panel."""

    def open_and_run(name: str) -> Any:
        dest = f"{request.node.name.replace('[', '_').replace(']', '')}-{name}"
        shutil.copy(NOTEBOOKS / name, jupyter_lab.root / dest)
        page.goto(jupyter_lab.url(dest))
        jupyter_lab.wait_kernel_idle(dest)
        page.wait_for_selector(IDLE)
        # fire and forget: a command's promise has no timeout; wait on the page instead
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        return page.locator(PANEL)

    yield open_and_run
    jupyter_lab.shutdown_kernels()  # 2 cores: never leave kernels running between tests
