"""Real JupyterLab in real Chromium: one Lab server per session, a fresh page per test.

The Lab runs on 127.0.0.1 with a random port and token, fresh config/runtime/settings
folders (news and update checks off, notebook windowing off so every cell renders), and the
demo repository served beside it (``BIOSHARE_LOCAL_URL`` in its kernels' environment).
Chromium is Debian's (``/usr/bin/chromium``, installed by ``make test``), driven by
Playwright with ``executable_path``; never a downloaded browser. Without Chromium the tests
skip on a developer box and fail in CI (``CI`` set).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
NOTEBOOKS = Path(__file__).parent / "notebooks"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-results" / "browser"
CHROME_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IDLE = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status='idle']"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"{CHROMIUM} is missing: CI must run the browser tests")
    skip = pytest.mark.skip(reason=f"{CHROMIUM} not found (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    """A running JupyterLab: its base URL, token and root folder."""

    base: str
    token: str
    root: Path

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(
            f"{self.base}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
            return json.loads(body) if body else None

    def url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/{notebook}?reset&token={self.token}"

    def wait_kernel_idle(self, notebook: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for session in self.api("/api/sessions"):
                idle = session["kernel"]["execution_state"] == "idle"
                if session["path"] == notebook and idle:
                    return
            time.sleep(0.25)
        raise TimeoutError(f"no idle kernel for {notebook} within {timeout} s")

    def shutdown_kernels(self) -> None:
        for session in self.api("/api/sessions"):
            self.api(f"/api/sessions/{session['id']}", method="DELETE")


def _settings(folder: Path) -> None:
    apputils = folder / "@jupyterlab" / "apputils-extension"
    apputils.mkdir(parents=True)
    (apputils / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    notebook = folder / "@jupyterlab" / "notebook-extension"
    notebook.mkdir(parents=True)
    (notebook / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')


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
    base = tmp_path_factory.mktemp("lab")
    root, settings = base / "root", base / "settings"
    root.mkdir()
    _settings(settings)
    url, data = demo_repository
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "BIOSHARE_LOCAL_URL": url,
        "BIOSHARE_LOCAL_ROOT": str(data),
        "BIOSHARE_DEMO_DATA": str(data),
    }
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--LabApp.expose_app_in_browser=True",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log_path = base / "lab.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
        lab = Lab(f"http://127.0.0.1:{port}", token, root)
        try:
            _wait_ready(lab, process, log_path)
            yield lab
        finally:
            process.send_signal(signal.SIGTERM)  # jupyter_server stops its kernels on SIGTERM
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(lab: Lab, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            lab.api("/api/status")
            return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited early:\n{log.read_text()[-2000:]}"
                ) from None
            if time.monotonic() > deadline:
                tail = log.read_text()[-2000:]
                raise TimeoutError(f"jupyter lab not ready after 90 s:\n{tail}") from None
            time.sleep(0.2)


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
