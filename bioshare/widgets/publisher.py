"""`Publisher`: publish a dataset from a notebook, with a dry run first and a DOI at the end.

The widget wraps `bioshare.publish`: choose a target (the local repository, Zenodo sandbox,
Zenodo or any InvenioRDM), see whether the metadata has what that target needs, check the
files (a dry run: names, sizes and md5 checksums), then publish and get the DOI, a link, a
citation and a badge.

The access token is typed into a password field whose value is never widget state: the
browser sends it only inside the ``publish`` message, and Python passes it on to
`bioshare.publish` as a local variable. It is never kept on the widget, logged, or shown in
an error, so it cannot end up in a saved notebook.

Progress: the widget shows what is certain rather than bytes sent: the publishing journal
(which files the server confirmed holding, with their checksums) for Zenodo and InvenioRDM,
and the bytes copied so far for the local repository. A file on its way to a server is
shown as ``indeterminate`` until the server confirms it (its bytes can all be sent while
the server still checks them).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from bioshare import config
from bioshare.errors import BioshareError, MetadataError
from bioshare.metadata.study import Study
from bioshare.publishing import api
from bioshare.publishing import files as sources
from bioshare.publishing.journal import Journal
from bioshare.publishing.publication import Publication, PublishPlan
from bioshare.widgets.editor import MetadataEditor

__all__ = ["TARGETS", "Publisher"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
TARGETS = {
    "local": "Local repository",
    "zenodo-sandbox": "Zenodo sandbox (for trying out)",
    "zenodo": "Zenodo (permanent DOI)",
    "invenio": "InvenioRDM (URL)",
}
POLL_SECONDS = 0.25
_MISSING = re.compile(r"needs metadata that is missing: (?P<names>.*?); fill them")

Metadata = Study | MetadataEditor | str | os.PathLike[str]


def _scrub(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` (and anything shaped like a bearer header) masked."""
    if secret:
        text = text.replace(secret, "***")
        stripped = secret.strip()
        if stripped:
            text = text.replace(stripped, "***")
    return re.sub(r"(?i)(bearer\s+)[\w.~+/=-]+", r"\1***", text)


def _label(path: str) -> str:
    """A human label for a field path of a study (``author[0].display_name`` -> ...)."""
    name = path.split("[")[0].split(".")[0]
    info = Study.model_fields.get(name)
    if info is None:
        return path
    if path == name:
        return info.title or name
    index = re.search(r"\[(\d+)\]\.(\w+)$", path)
    if index and name == "author":
        return f"author {int(index.group(1)) + 1}: name"
    return path


class _RedactTokens(logging.Filter):
    """Masks ``token`` values in logged messages (the comm's and the kernel's debug logs).

    The browser's ``publish`` message carries the token; `comm` and ipykernel log whole
    incoming messages at DEBUG level. The message itself is left alone: a redacted copy
    is logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = _redacted(record.args)
        return True


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "***" if k == "token" and isinstance(v, str) and v else _redacted(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redacted(v) for v in value)
    return value


_REDACT = _RedactTokens()


def _redact_message_logs() -> None:
    """Install the token filter on the loggers that log incoming comm messages."""
    loggers: list[Any] = [logging.getLogger("Comm")]
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        loggers.append(getattr(kernel, "log", None))
    except ImportError:  # no IPython: no kernel either
        pass
    for logger in loggers:
        if isinstance(logger, logging.Logger) and _REDACT not in logger.filters:
            logger.addFilter(_REDACT)


class Publisher(anywidget.AnyWidget):
    """Publish ``path`` with its metadata to a repository, from a notebook.

    Parameters
    ----------
    path
        An OME-Zarr, a folder of them (and other files), or a file.
    metadata
        A `bioshare.metadata.Study`, a `MetadataEditor` (its `study` is read when you
        check or publish), or a filled metadata spreadsheet.
    target
        ``"local"``, ``"zenodo-sandbox"``, ``"zenodo"`` or ``"invenio"`` (then set
        ``invenio_url``).
    invenio_url
        Base URL of the InvenioRDM instance, for ``target="invenio"``.
    local_root
        The folder the local repository serves (as for `bioshare.publish`).

    Attributes
    ----------
    validation : dict
        ``{"target", "ok", "missing": [{"path", "label"}], "invalid": [...],
        "warnings": [...], "message"}`` for the chosen target.
    manifest : list of dict
        ``{"name", "size", "md5"}`` of each file, from the last dry run.
    progress : dict
        ``{"phase", "file", "file_done", "file_total", "done", "total", "files_done",
        "files_total", "completed", "indeterminate"}``.
    state : str
        ``idle``, ``checking``, ``publishing``, ``done`` or ``error``.
    result : dict
        ``{"doi", "doi_url", "url", "record_id", "target", "title", "citation", "badge"}``.
    publication : Publication or None
        The last publication (Python only).
    plan : PublishPlan or None
        The last dry run (Python only).
    """

    _esm = STATIC / "publisher.js"
    _css = STATIC / "publisher.css"

    target = traitlets.Enum(list(TARGETS), default_value="local").tag(sync=True)
    targets = traitlets.Dict(TARGETS).tag(sync=True)
    invenio_url = traitlets.Unicode("").tag(sync=True)
    source = traitlets.Unicode("").tag(sync=True)
    validation = traitlets.Dict().tag(sync=True)
    manifest: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    progress = traitlets.Dict().tag(sync=True)
    state = traitlets.Enum(
        ["idle", "checking", "publishing", "done", "error"], default_value="idle"
    ).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    result = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        path: str | os.PathLike[str],
        metadata: Metadata,
        *,
        target: str = "local",
        invenio_url: str = "",
        local_root: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        _redact_message_logs()
        self._path = Path(path).expanduser().resolve()
        self._metadata = metadata
        self._local_root = local_root
        self._busy = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self.publication: Publication | None = None
        self.plan: PublishPlan | None = None
        super().__init__(target=target, invenio_url=invenio_url, source=str(self._path), **kwargs)
        self._following = metadata if isinstance(metadata, MetadataEditor) else None
        if self._following is not None:
            self._following.observe(self._on_metadata, names="values")
        self.revalidate()
        self.on_msg(self._on_message)

    # -- what to publish --------------------------------------------------------------------

    def current_study(self) -> Study:
        """The metadata as a `Study` now (an editor's current form, a spreadsheet read).

        Raises
        ------
        MetadataError
            The form has invalid values, or the spreadsheet cannot be read.
        """
        metadata = self._metadata
        if isinstance(metadata, MetadataEditor):
            return metadata.study
        if isinstance(metadata, Study):
            return metadata.model_copy(deep=True)
        return Study.from_spreadsheet(metadata)

    def _arguments(self) -> dict[str, Any]:
        """`bioshare.publish` arguments for the chosen target (no token)."""
        if self.target == "invenio":
            url = self.invenio_url.strip().rstrip("/")
            if not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(
                    f"InvenioRDM needs the instance's base URL (https://...), not {url!r}"
                )
            return {"target": f"invenio:{url}", "sandbox": True}
        if self.target == "local":
            return {"target": "local", "local_root": self._local_root}
        return {"target": "zenodo", "sandbox": self.target == "zenodo-sandbox"}

    # -- validation -------------------------------------------------------------------------

    @traitlets.observe("target", "invenio_url")
    def _on_target(self, change: dict[str, Any]) -> None:
        self.revalidate()
        if self.state in ("done", "error"):
            self.state, self.error = "idle", ""

    def _on_metadata(self, change: dict[str, Any]) -> None:
        self.revalidate()

    def revalidate(self) -> dict[str, Any]:
        """Check the metadata against what the chosen target needs; sets `validation`."""
        self.validation = self._validation()
        return self.validation

    def _validation(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "target": self.target,
            "ok": False,
            "missing": [],
            "invalid": [],
            "warnings": [],
            "message": "",
        }
        if not self._path.exists():
            result["message"] = f"{self._path}: nothing to publish there"
            return result
        try:
            arguments = self._arguments()
            study = self.current_study()
        except (MetadataError, ValueError, OSError) as exc:
            result["invalid"] = [line[2:] for line in str(exc).splitlines() if line[:2] == "- "]
            result["message"] = str(exc)
            return result
        return result | _metadata_check(study, arguments)

    # -- dry run ----------------------------------------------------------------------------

    def check(self) -> PublishPlan:
        """A dry run: pack and checksum the files, check the metadata; sets `manifest`."""
        self._begin("checking")
        try:
            plan = api.publish(
                self._path, self.current_study(), dry_run=True, progress=False, **self._arguments()
            )
        except Exception as exc:
            self._fail(exc, None)
            raise
        assert isinstance(plan, PublishPlan)
        self.plan = plan
        self.manifest = [{"name": f.name, "size": f.size, "md5": f.md5} for f in plan.files]
        self.validation = {**self.validation, "warnings": list(plan.warnings)}
        self.state = "idle"
        return plan

    # -- publishing -------------------------------------------------------------------------

    def publish(self, token: str | None = None) -> Publication:
        """Publish now (blocking); sets `progress`, `state`, `result` or `error`.

        Parameters
        ----------
        token
            The access token for Zenodo or InvenioRDM (else from the environment or the
            keyring, as for `bioshare.publish`). Used for this call only.
        """
        self._begin("publishing")
        watcher: _ProgressWatcher | None = None
        try:
            arguments = self._arguments()
            study = self.current_study()
            watcher = _ProgressWatcher(self, arguments)
            watcher.start()
            publication = api.publish(
                self._path, study, token=token or None, progress=False, **arguments
            )
        except Exception as exc:
            safe = self._fail(exc, token)
            if safe is exc:
                raise
            raise safe from None
        finally:
            if watcher is not None:
                watcher.stop()
        assert isinstance(publication, Publication)
        self.publication = publication
        self.progress = _finished(publication)
        self.result = _result(publication)
        self.state = "done"
        return publication

    def _begin(self, state: str) -> None:
        self.state, self.error = state, ""
        if state == "publishing":
            self.result = {}
            self.progress = {"phase": "starting", "indeterminate": True}

    def _fail(self, exc: Exception, token: str | None) -> Exception:
        """Show ``exc`` without the token; return it, or a copy without the token."""
        message = str(exc)
        text = _scrub(message, token)
        self.error = f"{type(exc).__name__}: {text}"
        self.state = "error"
        log.debug("publishing failed: %s", self.error)
        return exc if text == message else BioshareError(text)

    # -- background jobs from the browser -----------------------------------------------------

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a check or publish started from the browser; False on timeout."""
        return self._idle.wait(timeout)

    def _run_in_background(self, job: Callable[[], object]) -> bool:
        if not self._busy.acquire(blocking=False):
            return False
        self._idle.clear()

        def run() -> None:
            try:
                job()
            except Exception:  # shown in `error` by the job; the thread just ends
                pass
            finally:
                self._busy.release()
                self._idle.set()

        threading.Thread(target=run, name="bioshare-publisher", daemon=True).start()
        return True

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "check":
            self._run_in_background(self.check)
        elif kind == "publish":
            self._publish_from_browser(content)

    def _publish_from_browser(self, content: dict[str, Any]) -> None:
        token = content.get("token")
        token = token if isinstance(token, str) and token.strip() else None
        if self.target == "zenodo" and content.get("confirm") is not True:
            self.error = "publishing to Zenodo is permanent: tick the confirmation first"
            self.state = "error"
            return
        if not self._run_in_background(lambda: self.publish(token)):
            self.error = "a check or publish is running already; wait for it to finish"

    def close(self) -> None:
        """Close the widget (and stop following an editor's changes)."""
        if self._following is not None:
            self._following.unobserve(self._on_metadata, names="values")
            self._following = None
        super().close()


# -- metadata check -----------------------------------------------------------------------------


def _metadata_check(study: Study, arguments: dict[str, Any]) -> dict[str, Any]:
    """What `bioshare.publish` says of the metadata for a target, without reading the data.

    A dry run of an empty file: publish checks the metadata exactly as for the real data,
    and packing nothing costs nothing.
    """
    with tempfile.TemporaryDirectory(prefix="bioshare-check-") as folder:
        probe = Path(folder) / "probe"
        probe.write_bytes(b"")
        try:
            plan = api.publish(probe, study, dry_run=True, progress=False, **arguments)
        except MetadataError as exc:
            match = _MISSING.search(str(exc))
            names = match.group("names").split(", ") if match else []
            missing = [{"path": name, "label": _label(name)} for name in names]
            return {"missing": missing, "message": str(exc)}
        except (BioshareError, ValueError, OSError) as exc:
            return {"message": str(exc)}
    assert isinstance(plan, PublishPlan)
    return {"ok": True, "warnings": list(plan.warnings)}


def _finished(publication: Publication) -> dict[str, Any]:
    """The progress of a finished publication: every file done."""
    names = [f.name for f in publication.files]
    sizes = {f.name: f.size for f in publication.files}
    return _progress("published", names, names, sizes, sum(sizes.values()), indeterminate=False)


def _result(publication: Publication) -> dict[str, Any]:
    return {
        "doi": publication.doi,
        "doi_url": publication.doi_url,
        "url": publication.url,
        "record_id": publication.record_id,
        "target": publication.target,
        "title": publication.title,
        "citation": publication.citation(),
        "badge": publication.badge(),
    }


# -- progress -------------------------------------------------------------------------------------


class _ProgressWatcher:
    """Sets a publisher's `progress` from what publishing leaves on disk, every 0.25 s.

    For Zenodo and InvenioRDM the journal says which files the server holds; for the local
    repository the staging folder shows the bytes copied so far.
    """

    def __init__(self, widget: Publisher, arguments: dict[str, Any]) -> None:
        self.widget = widget
        self.target = str(arguments["target"])
        self.sandbox = bool(arguments.get("sandbox", True))
        self.local_root = arguments.get("local_root")
        self.path = widget._path
        self.found = sources.collect(self.path) if self.path.exists() else []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="bioshare-progress", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)

    def _loop(self) -> None:
        while not self.stopped.wait(POLL_SECONDS):
            try:
                progress = self.snapshot()
            except (OSError, ValueError):  # files come and go while publishing
                continue
            if progress and not self.stopped.is_set():
                self.widget.progress = progress

    def snapshot(self) -> dict[str, Any] | None:
        if self.target == "local":
            return self._local()
        return self._journal()

    # -- Zenodo and InvenioRDM --------------------------------------------------------------

    def _journal(self) -> dict[str, Any] | None:
        journal = self._find_journal()
        if journal is None:
            return {"phase": "packing", "indeterminate": True}
        files = journal.files
        names = list(files)
        sizes = {name: int(entry.get("size") or 0) for name, entry in files.items()}
        done = [name for name, entry in files.items() if entry.get("done")]
        phase = {"new": "packing", "draft": "uploading"}.get(journal.state, journal.state)
        if phase == "uploading" and names and len(done) == len(names):
            phase = "publishing"
        return _progress(phase, names, done, sizes, sum(sizes.values()))

    def _find_journal(self) -> Journal | None:
        folder = config.cache_dir() / "publish"
        wanted = "zenodo" if self.target == "zenodo" else self.target
        for path in folder.glob("*.json"):
            journal = Journal.load(path)
            same = journal.source == str(self.path) and journal.target == wanted
            if same and (wanted != "zenodo" or journal.sandbox == self.sandbox):
                return journal
        return None

    # -- local ------------------------------------------------------------------------------

    def _local(self) -> dict[str, Any] | None:
        root = self._root()
        names = [self._local_name(path, name) for path, name in self.found]
        sizes = {
            self._local_name(path, name): sources.source_bytes([(path, name)])
            for path, name in self.found
        }
        staging = max(root.glob(".publishing-*/data"), default=None) if root else None
        if staging is None:
            return {"phase": "copying", "indeterminate": True, "files_total": len(names)}
        copied = {name: _bytes(staging / name) for name in names}
        done = [name for name in names if sizes[name] and copied[name] >= sizes[name]]
        current = next((name for name in names if name not in done), None)
        progress = _progress("copying", names, done, sizes, sum(sizes.values()))
        progress["done"] = sum(min(copied[n], sizes[n]) for n in names)
        if current is not None:
            progress["file_done"] = min(copied[current], sizes[current])
        progress["indeterminate"] = False
        return progress

    def _root(self) -> Path | None:
        value = (
            self.local_root
            or config.registered_services().get("local_root")
            or os.environ.get("BIOSHARE_LOCAL_ROOT")
        )
        return Path(value).expanduser().resolve() if value else None

    @staticmethod
    def _local_name(path: Path, name: str) -> str:
        return name.removesuffix(".zip") if path.is_dir() else name


def _bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def _progress(
    phase: str,
    names: list[str],
    done: list[str],
    sizes: dict[str, int],
    total: int,
    *,
    indeterminate: bool = True,
) -> dict[str, Any]:
    current = next((name for name in names if name not in done), None)
    return {
        "phase": phase,
        "file": current or "",
        "file_done": 0,
        "file_total": sizes.get(current, 0) if current else 0,
        "done": sum(sizes.get(name, 0) for name in done),
        "total": total,
        "files_done": len(done),
        "files_total": len(names),
        "completed": done,
        "indeterminate": indeterminate and current is not None,
    }
