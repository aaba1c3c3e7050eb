"""Lazy arrays over zarr: an xarray backend array for interactive use, dask for bulk.

A selection on the backend array becomes one concurrent zarr read: every chunk it touches
is requested at once, in a single round trip. The same object is what dask tasks call, and
it pickles to a small description (URL, options, array metadata) so that a graph runs on a
`dask.distributed` cluster whose workers rebuild the store themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
import zarr
from xarray.backends import BackendArray
from xarray.core import indexing
from zarr.core.array import AsyncArray
from zarr.core.sync import sync
from zarr.storage import StorePath

from bioshare.ngff.store import open_store

# zarr fetches at most `async.concurrency` chunks at once (10 by default): a 2048 x 2048 plane
# of 512 x 512 chunks would take two waves. Raise it, unless the user has set it already.
_ZARR_DEFAULT_CONCURRENCY = 10
if zarr.config.get("async.concurrency") == _ZARR_DEFAULT_CONCURRENCY:
    zarr.config.set({"async.concurrency": 64})


class ZarrSource:
    """A zarr array known by its source URL, options, path and metadata; picklable."""

    def __init__(
        self,
        url: str,
        path: str,
        metadata: dict[str, Any],
        storage_options: dict[str, Any] | None = None,
        store: Any = None,
    ) -> None:
        self.url = url
        self.path = path
        self.metadata = metadata
        self.storage_options = storage_options or {}
        self._store = store
        self._array: AsyncArray[Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "path": self.path,
            "metadata": self.metadata,
            "storage_options": self.storage_options,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    @property
    def array(self) -> AsyncArray[Any]:
        if self._array is None:
            store = self._store
            if store is None:
                store, _ = open_store(self.url, self.storage_options)
            self._array = AsyncArray(self.metadata, StorePath(store, self.path))  # type: ignore[call-overload]
        return self._array

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(self.array.dtype)

    @property
    def chunks(self) -> tuple[int, ...]:
        return tuple(self.array.chunks)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, key: tuple[Any, ...]) -> np.ndarray[Any, Any]:
        """Read an orthogonal selection (ints, slices, integer arrays) in one round trip."""
        key = key if isinstance(key, tuple) else (key,)
        if all(isinstance(k, slice | int | np.integer) for k in key):
            result = sync(self.array.getitem(key))
        else:
            result = sync(self.array.get_orthogonal_selection(key))
        return np.asarray(result)

    def __repr__(self) -> str:
        return f"ZarrSource({self.url!r}, path={self.path!r}, shape={self.shape})"


class ZarrBackendArray(BackendArray):
    """The xarray backend array: selections stay lazy until values are asked for."""

    def __init__(self, source: ZarrSource) -> None:
        self.source = source
        self.shape = source.shape
        self.dtype = source.dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray[Any, Any]:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.OUTER, self.source.__getitem__
        )


def lazy_variable(source: ZarrSource, dims: tuple[str, ...], chunks: Any = None) -> xr.Variable:
    """Wrap a zarr array as an xarray Variable: lazily indexed, or dask with ``chunks``."""
    if chunks is None:
        data: Any = indexing.LazilyIndexedArray(ZarrBackendArray(source))
    else:
        data = _dask_array(source, dims, chunks)
    return xr.Variable(dims, data)


def _dask_array(source: ZarrSource, dims: tuple[str, ...], chunks: Any) -> Any:
    import dask.array as da
    from dask.base import tokenize

    if isinstance(chunks, dict):
        chunks = tuple(chunks.get(d, source.chunks[i]) for i, d in enumerate(dims))
    normalized = da.core.normalize_chunks(
        chunks, source.shape, dtype=source.dtype, previous_chunks=source.chunks
    )
    name = "bioshare-" + tokenize(source.url, source.path, source.metadata, normalized)
    meta = np.empty((0,) * source.ndim, dtype=source.dtype)
    return da.from_array(source, chunks=normalized, name=name, lock=False, asarray=False, meta=meta)
