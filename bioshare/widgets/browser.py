"""`Browser`: search every repository from a notebook, look at a dataset, open an image.

A thin view over the Python API: the search box runs `bioshare.search` (which answers from
the offline index when no repository can be reached), the detail pane shows a record and
its images (`Repository.get` and `Repository.images`), and *Open* sets
``browser.selected`` (an `ImageRef`) and, unless ``viewer=False``, opens the image with
`bioshare.open_multiscales` in a `bioshare.widgets.viewer.Viewer` kept as
``browser.viewer``.

Layout: the browser is one anywidget and cannot hold other widgets, so the viewer lives
in ``browser.viewer_area`` (an `ipywidgets.VBox`). `browse` returns both stacked, which
is what most notebooks want::

    from bioshare.widgets.browser import browse
    browse(["idr", "bia"])              # search box, results, and the viewer below

or, with the browser alone, display ``browser.viewer`` (or ``browser.viewer_area``) in
another cell after opening an image.

Facets and pages: one search asks each repository for ``pool`` records (100 by default)
and keeps the merged set; the facet counts, and every page within it, come from that set
without asking again. ``total`` counts the merged set, so when a repository gave all that
was asked ``more`` is True (the front end shows "page 5 of 5+") and the next page beyond
asks again for more. Filters other than the repository are passed to `bioshare.search`
(each repository filters on its side), so while a filter is set the facets describe the
filtered set only: clear the filter to see the other values again. The repository facet
restricts which repositories are asked and always lists every repository the browser has.

Front end to kernel, as anywidget custom messages (all state travels as traits)::

    {"type": "search"}                       # optional "query", "page", "filters", "refresh"
    {"type": "details", "repository": r, "id": i}
    {"type": "open", "repository": r, "id": i, "image": image_id_or_null}

Searches, details and opens asked by the front end run in worker threads, so the kernel
stays responsive; a newer one supersedes an older one, whose answer is dropped.
"""

from __future__ import annotations

import contextlib
import math
import pathlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anywidget
import traitlets

from bioshare.catalog.search import DEFAULT_TIMEOUT, SearchResults
from bioshare.catalog.search import search as _search
from bioshare.repositories.base import DatasetRecord, ImageRef, Repository, RepositoryError
from bioshare.repositories.registry import default_repositories, get_repository

__all__ = ["FILTERS", "Browser", "browse", "make_viewer"]

_STATIC = pathlib.Path(__file__).parent / "static"
FILTERS = ("repository", "organism", "imaging_method", "license", "has_ome_zarr")
_TEXT_FILTERS = ("organism", "imaging_method", "license")
_DESCRIPTION_CHARS = 280
_NO_ANSWER = (
    "No repository answered (see the status line). Build an offline index while online "
    "(`bioshare index update`) to search without a network."
)

ViewerFactory = Callable[[Any], Any]
OpenCallback = Callable[[ImageRef], Any]


def make_viewer(data: Any) -> Any:
    """The default viewer factory: ``bioshare.widgets.viewer.Viewer(data)``.

    Imported on first use, so that the browser works (``viewer=False``) without it.
    """
    from bioshare.widgets.viewer import Viewer

    return Viewer(data)


def browse(repositories: Sequence[str | Repository] | None = None, **kwargs: Any) -> Any:
    """A `Browser` with its viewer area below it, as one `ipywidgets.VBox`.

    Parameters
    ----------
    repositories, **kwargs
        As for `Browser`; the browser itself is the box's ``browser`` attribute.

    Returns
    -------
    ipywidgets.VBox
    """
    import ipywidgets

    browser = Browser(repositories, **kwargs)
    box = ipywidgets.VBox([browser, browser.viewer_area])
    box.browser = browser
    return box


@dataclass(frozen=True)
class _Request:
    """What one search asks: cached results serve every page of the same request."""

    query: str
    repositories: tuple[str, ...]
    filters: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class _Pool:
    """The merged records one search fetched, asking each repository for ``asked``."""

    request: _Request
    results: SearchResults
    asked: int

    @property
    def records(self) -> list[DatasetRecord]:
        return self.results.records

    @property
    def more(self) -> bool:
        """Whether a repository may have more: it gave all that was asked."""
        statuses = self.results.statuses
        return not self.results.offline and any(s.ok and s.count >= self.asked for s in statuses)

    def covers(self, request: _Request, page: int, limit: int) -> bool:
        """Whether this pool answers ``request`` at ``page`` without asking again."""
        if request != self.request:
            return False
        held = len(self.records)
        return page * limit <= held or (held >= self.results.total and not self.more)


class Browser(anywidget.AnyWidget):
    """Search box, facets, results, per-repository status, detail pane and Open.

    Parameters
    ----------
    repositories
        Names (``"idr"``, ``"local"``, ``"omero:<url>"``...) or adapters to search; by
        default those of `bioshare.search` (the public ones, plus ``local`` when set up).
    query
        The initial text of the search box (nothing is searched until asked).
    limit
        Results per page.
    timeout
        Seconds each repository may take to answer a search.
    viewer
        True opens images in ``bioshare.widgets.viewer.Viewer`` (see `make_viewer`),
        False only sets ``selected``, a callable ``factory(data)`` makes the viewer.
    pool
        How many merged records one search fetches: facets count them and pages within
        them are shown without asking the repositories again.

    Attributes
    ----------
    selected : ImageRef or None
        The image last opened (observable with ``browser.observe(cb, "selected")``).
    selected_record : DatasetRecord or None
        The dataset of ``selected``.
    viewer : widget or None
        The viewer of the image last opened.
    viewer_area : ipywidgets.VBox
        Holds ``viewer`` once an image is opened; display it below the browser.
    """

    _esm = _STATIC / "browser.js"
    _css = _STATIC / "browser.css"

    query = traitlets.Unicode("").tag(sync=True)
    page = traitlets.Int(1).tag(sync=True)
    pages = traitlets.Int(0).tag(sync=True)
    limit = traitlets.Int(20).tag(sync=True)
    filters = traitlets.Dict().tag(sync=True)
    repositories = traitlets.List(traitlets.Unicode()).tag(sync=True)
    results = traitlets.List(traitlets.Dict()).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    more = traitlets.Bool(False).tag(sync=True)
    counted = traitlets.Int(0).tag(sync=True)
    facets = traitlets.Dict().tag(sync=True)
    statuses = traitlets.List(traitlets.Dict()).tag(sync=True)
    offline = traitlets.Bool(False).tag(sync=True)
    searching = traitlets.Bool(False).tag(sync=True)
    searched = traitlets.Bool(False).tag(sync=True)
    loading = traitlets.Unicode("").tag(sync=True)
    detail = traitlets.Dict().tag(sync=True)
    opened = traitlets.Dict().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    view = traitlets.Enum(("cards", "table"), "cards").tag(sync=True)

    selected = traitlets.Instance(ImageRef, allow_none=True)
    selected_record = traitlets.Instance(DatasetRecord, allow_none=True)

    def __init__(
        self,
        repositories: Sequence[str | Repository] | None = None,
        *,
        query: str = "",
        limit: int = 20,
        timeout: float = DEFAULT_TIMEOUT,
        viewer: bool | ViewerFactory = True,
        pool: int = 100,
        **kwargs: Any,
    ) -> None:
        if limit < 1 or pool < 1:
            raise ValueError(f"limit={limit} and pool={pool} must both be at least 1")
        specs = list(repositories) if repositories is not None else None
        super().__init__(
            query=query,
            limit=limit,
            filters=_normalize_filters({}),
            repositories=_names(specs),
            **kwargs,
        )
        self.timeout = timeout
        self.pool = pool
        self.viewer: Any = None
        self._specs = specs
        self._adapters = {s.name: s for s in self._specs or () if isinstance(s, Repository)}
        self._viewer_option = viewer
        self._viewer_area: Any = None
        self._callbacks: list[OpenCallback] = []
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._generation = 0  # searches: a newer one supersedes older ones
        self._task = 0  # details and open: likewise
        self._busy: set[str] = set()
        self._cache: _Pool | None = None
        self._images: dict[tuple[str, str], list[ImageRef]] = {}
        self.on_msg(self._on_message)

    # -- public API ----------------------------------------------------------------------

    def search(
        self,
        query: str | None = None,
        *,
        page: int = 1,
        refresh: bool = False,
        **filters: Any,
    ) -> SearchResults:
        """Search now (blocking) and show the results; returns that page's results.

        Parameters
        ----------
        query
            Free text; None keeps the current query.
        page
            The page to show (from 1).
        refresh
            Ask the repositories again even when the same search is cached.
        **filters
            ``repository`` (list of names), ``organism``, ``imaging_method``, ``license``,
            ``has_ome_zarr``; the ones given replace the current ones, None clears one.
        """
        generation, request, page = self._begin_search(query, filters, page)
        pool = None if refresh else self._cached(request, page)
        try:
            if pool is None:
                pool = self._fetch(request, page)
        except Exception as exc:
            self._fail_search(generation, exc)
            raise
        view = self._apply(generation, pool, page)
        return view if view is not None else _page_of(pool.results, page, self.limit)

    def details(self, repository: str, id: str) -> tuple[DatasetRecord, list[ImageRef]]:
        """Show a dataset in the detail pane (blocking); returns the record and its images."""
        return self._details(self._begin_task("details"), repository, id)

    def open_image(self, repository: str, id: str, image: str | None = None) -> ImageRef:
        """Select an image (blocking): sets ``selected`` and opens it in the viewer.

        The front end's *Open* button does the same in a worker thread. (Not ``open``:
        `ipywidgets.Widget.open` opens the widget's comm.)

        Parameters
        ----------
        repository, id
            The dataset, as in the results.
        image
            The image's id among the dataset's images; by default its first OME-Zarr one.

        Returns
        -------
        ImageRef
            Also in ``browser.selected``; ``browser.selected.open()`` streams it.
        """
        return self._open(self._begin_task("open"), repository, id, image)

    def on_open(self, callback: OpenCallback, remove: bool = False) -> None:
        """Call ``callback(image_ref)`` whenever an image is opened (or stop, with remove).

        Opens started from the browser run in a worker thread, and so do their callbacks.
        """
        if remove:
            self._callbacks.remove(callback)
        else:
            self._callbacks.append(callback)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the current search, details or open has finished; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._busy, timeout)

    @property
    def viewer_area(self) -> Any:
        """An `ipywidgets.VBox` that shows the viewer of the image last opened."""
        if self._viewer_area is None:
            import ipywidgets

            viewer = self.viewer
            self._viewer_area = ipywidgets.VBox([viewer] if _is_widget(viewer) else [])
        return self._viewer_area

    # -- messages from the browser --------------------------------------------------------

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """Dispatch ``{"type": "search" | "details" | "open", ...}`` from the front end."""
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            if kind == "search":
                self._search_in_background(content)
            elif kind == "details":
                self._in_background("details", self._details, content["repository"], content["id"])
            elif kind == "open":
                args = (content["repository"], content["id"], content.get("image"))
                self._in_background("open", self._open, *args)
            else:
                raise ValueError(f"unknown message {content!r}")
        except Exception as exc:  # a bad message must not break the kernel's comm
            self.error = _describe(exc)

    def _search_in_background(self, content: dict[str, Any]) -> None:
        filters = content.get("filters")
        generation, request, page = self._begin_search(
            content.get("query"), filters if isinstance(filters, dict) else {}, content.get("page")
        )
        pool = None if content.get("refresh") else self._cached(request, page)
        if pool is not None:
            self._apply(generation, pool, page)
            return

        def work() -> None:
            try:
                found = self._fetch(request, page)
            except Exception as exc:
                self._fail_search(generation, exc)
            else:
                self._apply(generation, found, page)

        threading.Thread(target=work, name="bioshare-browser-search", daemon=True).start()

    def _in_background(self, kind: str, method: Callable[..., Any], *args: Any) -> None:
        task = self._begin_task(kind)  # here, so that a newer message always supersedes

        def work() -> None:
            with contextlib.suppress(Exception):  # already shown in `error`
                method(task, *args)

        threading.Thread(target=work, name=f"bioshare-browser-{kind}", daemon=True).start()

    # -- searching ------------------------------------------------------------------------

    def _begin_search(
        self, query: str | None, filters: dict[str, Any], page: int | None
    ) -> tuple[int, _Request, int]:
        merged = _normalize_filters({**self.filters, **filters})
        query = self.query if query is None else str(query)
        page = max(1, int(page if page is not None else self.page))
        names = _names(self._specs)
        wanted = [n for n in names if n in merged["repository"]] or names
        search_filters = tuple((k, merged[k]) for k in FILTERS[1:] if merged[k] is not None)
        request = _Request(query.strip(), tuple(wanted), search_filters)
        with self._lock:
            self._generation += 1
            self._busy.add("search")
            with self.hold_sync():
                self.query, self.filters, self.page = query, merged, page
                self.repositories = names
                self.searching, self.error = True, ""
            return self._generation, request, page

    def _cached(self, request: _Request, page: int) -> _Pool | None:
        pool = self._cache
        return pool if pool is not None and pool.covers(request, page, self.limit) else None

    def _fetch(self, request: _Request, page: int) -> _Pool:
        specs = [self._adapters.get(name, name) for name in request.repositories]
        asked = max(self.pool, page * self.limit)
        found = _search(
            request.query,
            repositories=specs,
            limit=asked,
            page=1,
            timeout=self.timeout,
            **dict(request.filters),
        )
        return _Pool(request, found, asked)

    def _apply(self, generation: int, pool: _Pool, page: int) -> SearchResults | None:
        """Show the results of search ``generation`` unless a newer search started since."""
        with self._lock:
            if generation != self._generation:
                return None
            self._cache = pool
            found = pool.results
            pages = max(1, math.ceil(found.total / self.limit))
            view = _page_of(found, min(page, pages), self.limit)
            failed = bool(found.statuses) and not any(s.ok for s in found.statuses)
            with self.hold_sync():
                self.results = [_card(r) for r in view.records]
                self.total, self.counted, self.more = found.total, len(found.records), pool.more
                self.page, self.pages = view.page, pages
                self.facets = _facets(found.records)
                self.statuses = [_status(s) for s in found.statuses]
                self.offline = found.offline
                self.error = _NO_ANSWER if failed and not found.offline else ""
                self.searching, self.searched = False, True
            self._finish("search")
            return view

    def _fail_search(self, generation: int, exc: BaseException) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._cache = None
            with self.hold_sync():
                self.results, self.statuses, self.facets = [], [], {}
                self.total = self.counted = self.pages = 0
                self.more = self.offline = self.searching = False
                self.searched = True
                self.error = _describe(exc)
            self._finish("search")

    def _finish(self, kind: str) -> None:
        with self._idle:
            self._busy.discard(kind)
            self._idle.notify_all()

    # -- details and open -----------------------------------------------------------------

    def _adapter(self, repository: str) -> Repository:
        if repository not in self._adapters:
            self._adapters[repository] = get_repository(repository)
        return self._adapters[repository]

    def _record(self, repository: str, id: str) -> DatasetRecord:
        pool = self._cache
        for record in pool.records if pool else ():
            if record.repository == repository and record.id == id:
                return record
        return self._adapter(repository).get(id)

    def _load_details(
        self, repository: str, id: str
    ) -> tuple[DatasetRecord, list[ImageRef], str | None]:
        record = self._record(repository, id)
        try:
            images = self._image_list(repository, id)
        except Exception as exc:  # the metadata is still worth showing
            return record, [], _describe(exc)
        return record, images, None

    def _image_list(self, repository: str, id: str) -> list[ImageRef]:
        key = (repository, id)
        if key not in self._images:
            self._images[key] = list(self._adapter(repository).images(id))
        return self._images[key]

    def _details(self, task: int, repository: str, id: str) -> tuple[DatasetRecord, list[ImageRef]]:
        try:
            record, images, images_error = self._load_details(repository, id)
        except Exception as exc:
            self._end_task(task, error=_describe(exc))
            raise
        self._end_task(task, detail=_detail(record, images, images_error))
        return record, images

    def _open(self, task: int, repository: str, id: str, image: str | None) -> ImageRef:
        try:
            ref = self._select(task, repository, id, image)
            self._show(task, ref)
        except Exception as exc:
            self._end_task(task, error=_describe(exc))
            raise
        self._end_task(task)
        return ref

    def _select(self, task: int, repository: str, id: str, image: str | None) -> ImageRef:
        """Set ``selected`` (unless superseded) and tell the `on_open` callbacks."""
        record = self._record(repository, id)
        ref = _pick(self._image_list(repository, id), image, repository, id)
        if not ref.zarr_url and not ref.download_url:
            ref.open()  # raises the explanation: only OME-Zarr images can be streamed
        with self._lock:
            if task != self._task:
                return ref
            self.selected_record, self.selected = record, ref
            self.opened = {**_image(ref), "repository": repository, "dataset": id}
        for callback in list(self._callbacks):
            callback(ref)
        return ref

    def _show(self, task: int, ref: ImageRef) -> None:
        """Open ``ref`` in a new viewer, kept as ``viewer`` and shown in ``viewer_area``."""
        factory = self._factory()
        if factory is None or task != self._task:
            return
        try:
            viewer = factory(_open_data(ref))
        except Exception as exc:
            raise RepositoryError(
                f"selected {ref.repository} image {ref.id!r} (browser.selected), but the "
                f"viewer could not open it: {_describe(exc)}"
            ) from exc
        with self._lock:
            if task == self._task:
                self.viewer = viewer
                self.viewer_area.children = [viewer] if _is_widget(viewer) else []

    def _factory(self) -> ViewerFactory | None:
        option = self._viewer_option
        if callable(option):
            return option
        return make_viewer if option else None

    def _begin_task(self, kind: str) -> int:
        with self._lock:
            self._task += 1
            self._busy.add("task")
            with self.hold_sync():
                self.loading, self.error = kind, ""
            return self._task

    def _end_task(
        self, task: int, *, detail: dict[str, Any] | None = None, error: str = ""
    ) -> None:
        """Show what task ``task`` found, unless a newer details or open started since."""
        with self._lock:
            if task != self._task:
                return
            with self.hold_sync():
                if detail is not None:
                    self.detail = detail
                self.loading, self.error = "", error
            self._finish("task")

    # -- trait validation -----------------------------------------------------------------

    @traitlets.validate("filters")
    def _valid_filters(self, proposal: Any) -> dict[str, Any]:
        try:
            return _normalize_filters(proposal["value"])
        except (TypeError, ValueError) as exc:
            raise traitlets.TraitError(str(exc)) from exc

    @traitlets.validate("page")
    def _valid_page(self, proposal: Any) -> int:
        return max(1, int(proposal["value"]))

    @traitlets.validate("limit")
    def _valid_limit(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise traitlets.TraitError(f"limit={proposal['value']} must be at least 1")
        return int(proposal["value"])


# -- helpers -------------------------------------------------------------------------------


def _names(specs: Sequence[str | Repository] | None) -> list[str]:
    """Repository names; by default `bioshare.search`'s (decided anew at each search)."""
    chosen = specs if specs is not None else default_repositories()
    return [s if isinstance(s, str) else s.name for s in chosen]


def _normalize_filters(raw: dict[str, Any]) -> dict[str, Any]:
    """Every filter key, with ``repository`` a list and unset filters None."""
    unknown = set(raw) - set(FILTERS)
    if unknown:
        raise ValueError(f"unknown filters {sorted(unknown)}; expected some of {FILTERS}")
    repository = raw.get("repository") or []
    if isinstance(repository, str):
        repository = [repository]
    filters: dict[str, Any] = {"repository": [str(r) for r in repository]}
    for key in _TEXT_FILTERS:
        value = raw.get(key)
        filters[key] = str(value).strip() or None if value is not None else None
    zarr = raw.get("has_ome_zarr")
    if isinstance(zarr, str):
        zarr = {"true": True, "false": False}.get(zarr.strip().lower())
    filters["has_ome_zarr"] = None if zarr is None else bool(zarr)
    return filters


def _page_of(pooled: SearchResults, page: int, limit: int) -> SearchResults:
    start = (page - 1) * limit
    return SearchResults(
        pooled.records[start : start + limit],
        query=pooled.query,
        statuses=pooled.statuses,
        total=pooled.total,
        page=page,
        limit=limit,
        offline=pooled.offline,
    )


def _web_url(url: str | None) -> str | None:
    """Only http(s) addresses reach the page (no ``javascript:``, no ``file:``)."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


def _truncate(text: str, chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


def _card(record: DatasetRecord) -> dict[str, Any]:
    """What a result card or table row shows."""
    return {
        "repository": record.repository,
        "id": record.id,
        "title": record.title,
        "description": _truncate(record.description, _DESCRIPTION_CHARS),
        "url": _web_url(record.url),
        "doi": record.doi,
        "license": record.license,
        "release_date": record.release_date,
        "organisms": [t.label for t in record.organisms],
        "imaging_methods": [t.label for t in record.imaging_methods],
        "thumbnail_url": _web_url(record.thumbnail_url),
        "has_ome_zarr": record.has_ome_zarr,
        "image_count": record.image_count,
        "also_in": list(record.also_in),
    }


def _terms(terms: Sequence[Any]) -> list[dict[str, str]]:
    return [{"curie": t.curie, "label": t.label, "iri": t.iri} for t in terms]


def _image(ref: ImageRef) -> dict[str, Any]:
    return {
        "id": ref.id,
        "name": ref.name,
        "zarr_url": ref.zarr_url,
        "download_url": ref.download_url,  # a DICOM series or NIfTI volume, opened whole
        "format": ref.format or "ome-zarr",
        "shape": list(ref.shape) if ref.shape else None,
        "dtype": ref.dtype,
        "dims": list(ref.dims) if ref.dims else None,
        "thumbnail_url": _web_url(ref.thumbnail_url),
    }


def _detail(
    record: DatasetRecord, images: list[ImageRef], images_error: str | None
) -> dict[str, Any]:
    """What the detail pane shows: the whole record and its images."""
    return {
        **_card(record),
        "description": record.description,
        "authors": list(record.authors),
        "organisms": _terms(record.organisms),
        "imaging_methods": _terms(record.imaging_methods),
        "keywords": list(record.keywords),
        "size_bytes": record.size_bytes,
        "accessions": list(record.accessions),
        "images": [_image(ref) for ref in images],
        "images_error": images_error,
    }


def _status(status: Any) -> dict[str, Any]:
    return {
        "repository": status.repository,
        "ok": status.ok,
        "count": status.count,
        "seconds": round(status.seconds, 3),
        "error": status.error,
    }


def _count(values: Sequence[Any]) -> list[dict[str, Any]]:
    counts: dict[Any, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], str(item[0]).casefold()))
    return [{"value": value, "count": count} for value, count in ordered]


def _facets(records: Sequence[DatasetRecord]) -> dict[str, list[dict[str, Any]]]:
    """Value counts per facet, most common first (``[{"value": v, "count": n}]``)."""
    return {
        "repository": _count([r.repository for r in records]),
        "organism": _count([t.label for r in records for t in _unique(r.organisms)]),
        "imaging_method": _count([t.label for r in records for t in _unique(r.imaging_methods)]),
        "license": _count([r.license for r in records if r.license]),
        "has_ome_zarr": _count([r.has_ome_zarr for r in records]),
    }


def _unique(terms: Sequence[Any]) -> list[Any]:
    """Each label once per record, so that counts are numbers of datasets."""
    return list({t.label: t for t in terms}.values())


def _pick(images: list[ImageRef], image: str | None, repository: str, id: str) -> ImageRef:
    if not images:
        raise RepositoryError(f"{repository}:{id} lists no images")
    if image is None:
        return next((ref for ref in images if ref.zarr_url), images[0])
    for ref in images:
        if ref.id == image:
            return ref
    known = ", ".join(ref.id for ref in images[:10])
    raise RepositoryError(f"{repository}:{id} has no image {image!r}; it has {known}")


def _open_data(ref: ImageRef) -> Any:
    """The image as the viewer takes it: every pyramid level and the labels, lazily.

    A DICOM series or NIfTI volume (``download_url``, no OME-Zarr) is one level.
    """
    from bioshare.ngff.read import open_multiscales

    if ref.zarr_url is None:
        return ref.open()
    return open_multiscales(ref.zarr_url, labels=True, storage_options=ref.storage_options)


def _is_widget(value: Any) -> bool:
    import ipywidgets

    return isinstance(value, ipywidgets.Widget)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
