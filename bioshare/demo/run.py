"""`bioshare demo`: build the demo repository, serve it, open JupyterLab on the tour."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from bioshare import config

__all__ = ["run_demo"]


def run_demo(
    *,
    data: Path | None = None,
    port: int = 8765,
    lab_port: int = 8888,
    notebook: Path = Path("notebooks/00-tour.ipynb"),
    build_only: bool = False,
    lab: bool = True,
) -> int:
    """Build the demo data, serve it with `bioshare serve` and start JupyterLab.

    Everything runs offline on 127.0.0.1; no account is needed. Returns when JupyterLab
    (or, with ``lab=False``, the server) is stopped with Ctrl-C.
    """
    from bioshare.demo.datasets import build_demo
    from bioshare.server import BackgroundServer

    data = Path(data) if data is not None else config.cache_dir() / "demo"
    print(f"Building the demo datasets in {data} ...", flush=True)
    build_demo(data)
    if build_only:
        print(f"Demo data ready in {data}")
        return 0
    with BackgroundServer(data, port=_free_port(port)) as server:
        print(f"Demo repository: {server.url}/api/datasets", flush=True)
        print("  registered as 'local': try `bioshare search mitosis`", flush=True)
        env = {**os.environ, "BIOSHARE_LOCAL_URL": server.url}
        with (
            config.registered_service("local", server.url),
            config.registered_service("local_root", str(Path(data).resolve())),
        ):
            if not lab:
                print("Press Ctrl-C to stop.", flush=True)
                _wait_forever()
                return 0
            return _run_lab(notebook, _free_port(lab_port), env)


def _run_lab(notebook: Path, port: int, env: dict[str, str]) -> int:
    token = secrets.token_hex(16)
    root = notebook.parent if notebook.exists() else Path.cwd()
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
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    page = f"lab/tree/{notebook.name}" if notebook.exists() else "lab"
    print(f"JupyterLab: http://127.0.0.1:{port}/{page}?token={token}", flush=True)
    process = subprocess.Popen(command, env=env)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # stop JupyterLab with us
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _free_port(preferred: int) -> int:
    """The preferred port when it is free, else any free port."""
    for candidate in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free TCP port on 127.0.0.1")


def _wait_forever() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
