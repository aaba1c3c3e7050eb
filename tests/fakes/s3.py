"""A local S3: `moto_server` in server mode on 127.0.0.1, as a subprocess.

Usage::

    with S3Server() as s3:
        s3.create_bucket("images")
        s3.upload_dir(path_to_image_zarr, "images", "v0.5/cells.ome.zarr")
        fs = s3fs.S3FileSystem(**s3.storage_options)

Credentials are fake (``testing``) and only passed to the subprocess and to the boto3
clients made here; ``os.environ`` is never changed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["S3Server", "moto_server_command"]

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


def moto_server_command() -> Path:
    """The `moto_server` console script next to the running interpreter."""
    return Path(sys.executable).parent / "moto_server"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class S3Server:
    """A moto S3 server on 127.0.0.1 (random free port), started and stopped as a context.

    Parameters
    ----------
    startup_timeout
        Seconds to wait for the server to answer before giving up.
    """

    host = "127.0.0.1"

    def __init__(self, *, startup_timeout: float = 60.0) -> None:
        self.startup_timeout = startup_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._output: Any = None
        self._client: Any = None

    # -- life cycle -------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        if not self.port:
            raise RuntimeError("the S3 server is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def storage_options(self) -> dict[str, Any]:
        """Options for `s3fs.S3FileSystem` / zarr ``storage_options`` (a fresh dict)."""
        return {
            "key": ACCESS_KEY,
            "secret": SECRET_KEY,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": REGION},
        }

    def start(self) -> S3Server:
        if self._process is not None:
            raise RuntimeError("the S3 server is already running")
        command = moto_server_command()
        if not command.exists():
            raise FileNotFoundError(f"{command} not found; install moto[server]")
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }
        last_error = ""
        for _attempt in range(3):  # another process may take the free port meanwhile
            self.port = _free_port(self.host)
            self._output = tempfile.TemporaryFile()  # noqa: SIM115 - open while it runs
            self._process = subprocess.Popen(
                [str(command), "-H", self.host, "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=self._output,
                stderr=subprocess.STDOUT,
                env=env,
            )
            if self._wait_until_up():
                return self
            last_error = self._read_output()
            self.stop()
        raise RuntimeError(f"moto_server did not start:\n{last_error}")

    def _wait_until_up(self) -> bool:
        """Poll the server until it answers; False if it exits or the deadline passes."""
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/", timeout=1.0) as response:
                    response.read()
                return True
            except urllib.error.HTTPError:
                return True  # it answered
            except OSError:
                time.sleep(0.05)
        return False

    def _read_output(self) -> str:
        if self._output is None:
            return ""
        self._output.seek(0)
        return self._output.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._output is not None:
            self._output.close()
            self._output = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        self.port = 0

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"S3Server({self.endpoint_url if self.port else 'stopped'})"

    # -- data -------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """A boto3 S3 client for this server (fake credentials passed explicitly)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=REGION,
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY,
                config=Config(retries={"max_attempts": 2}),
            )
        return self._client

    def create_bucket(self, name: str) -> None:
        """Create bucket ``name`` (no error if it exists).

        Made with boto3 in us-east-1: s3fs ``mkdir`` sends a location constraint that
        moto rejects there.
        """
        with contextlib.suppress(self.client.exceptions.BucketAlreadyOwnedByYou):
            self.client.create_bucket(Bucket=name)

    def upload_dir(self, local_dir: str | Path, bucket: str, prefix: str = "") -> list[str]:
        """Upload every file under ``local_dir`` to ``s3://bucket/prefix/...``; return the keys."""
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise NotADirectoryError(f"not a folder: {local_dir}")
        prefix = prefix.strip("/")
        keys = []
        for path in sorted(local_dir.rglob("*")):
            if not path.is_file():
                continue
            relative = path.relative_to(local_dir).as_posix()
            key = f"{prefix}/{relative}" if prefix else relative
            self.client.upload_file(str(path), bucket, key)
            keys.append(key)
        return keys

    def reset(self) -> None:
        """Forget every bucket and object (moto's reset API)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
