"""JupyterLab and Chromium for browser tests and benchmarks, on 127.0.0.1 only.

Lab gets a random port and token and fresh config, runtime, settings and workspace folders
(news and update checks off, notebook windowing off so that every cell renders). Chromium is
Debian's, launched by Playwright with ``executable_path``: never a downloaded browser.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["CHROME_ARGS", "CHROMIUM", "IDLE", "PANEL", "Lab", "free_port", "jupyter_lab"]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
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


class Lab:
    """A running JupyterLab: its base URL, token and root folder."""

    def __init__(self, base: str, token: str, root: Path) -> None:
        self.base, self.token, self.root = base, token, root

    def api(self, path: str) -> Any:
        headers = {"Authorization": f"token {self.token}"}
        request = urllib.request.Request(f"{self.base}{path}", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/{notebook}?reset&token={self.token}"

    def wait_ready(self, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.api("/api/status")
                return
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("jupyter lab did not start; see lab.log") from None
                time.sleep(0.2)

    def wait_kernel_idle(self, notebook: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for session in self.api("/api/sessions"):
                if session["path"] == notebook and session["kernel"]["execution_state"] == "idle":
                    return
            time.sleep(0.25)
        raise TimeoutError(f"no idle kernel for {notebook} within {timeout} s")

    def shutdown_kernels(self) -> None:
        for session in self.api("/api/sessions"):
            request = urllib.request.Request(
                f"{self.base}/api/sessions/{session['id']}",
                method="DELETE",
                headers={"Authorization": f"token {self.token}"},
            )
            urllib.request.urlopen(request, timeout=10).close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(folder: Path) -> None:
    apputils = folder / "@jupyterlab" / "apputils-extension"
    apputils.mkdir(parents=True)
    (apputils / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    notebook = folder / "@jupyterlab" / "notebook-extension"
    notebook.mkdir(parents=True)
    (notebook / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')


def _lab_command(port: int, token: str, root: Path) -> list[str]:
    command = [
        sys.executable,
        *("-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}"),
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
    return command


@contextmanager
def jupyter_lab(base: Path, env: dict[str, str] | None = None) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 with fresh folders under ``base`` and ``env`` added to its
    environment (its kernels inherit it); stopped with SIGTERM, which stops its kernels."""
    root, settings = base / "root", base / "settings"
    root.mkdir()
    _settings(settings)
    environment = {
        **os.environ,
        **(env or {}),
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
    }
    port, token = free_port(), secrets.token_hex(16)
    with (base / "lab.log").open("w") as log:
        command = _lab_command(port, token, root)
        process = subprocess.Popen(
            command, env=environment, stdout=log, stderr=subprocess.STDOUT, cwd=root
        )
        try:
            lab = Lab(f"http://127.0.0.1:{port}", token, root)
            lab.wait_ready(process)
            yield lab
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
