"""Lazy arrays over decoded frames: an xarray backend array, or dask with ``chunks=``.

A source is anything with ``shape``, ``dtype``, ``ndim`` and ``__getitem__`` taking a
tuple of ints, slices and 1-d integer arrays with outer (orthogonal) semantics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from xarray.backends import BackendArray
from xarray.core import indexing

__all__ = ["ArraySource", "FrameStack", "lazy_data"]


class ArraySource(Protocol):
    shape: tuple[int, ...]
    dtype: np.dtype[Any]

    @property
    def ndim(self) -> int: ...

    def __getitem__(self, key: tuple[Any, ...]) -> np.ndarray[Any, Any]: ...


def _normalize(key: Any, shape: tuple[int, ...]) -> list[Any]:
    key = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in key):
        i = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:i] + (slice(None),) * (len(shape) - len(key) + 1) + key[i + 1 :]
    key = key + (slice(None),) * (len(shape) - len(key))
    out: list[Any] = []
    for k, n in zip(key, shape, strict=True):
        if isinstance(k, slice):
            out.append(np.arange(n)[k])
        elif isinstance(k, int | np.integer):
            out.append(int(k) + n if k < 0 else int(k))
        else:
            out.append(np.arange(n)[np.asarray(k)])
    return out


class FrameStack:
    """A stack of 2-d frames, ``grid`` holding one reference per frame (leading dims).

    ``decode(refs)`` turns a list of references into a list of 2-d arrays; it is only
    called for the frames a selection touches, once per selection.
    """

    def __init__(
        self,
        grid: np.ndarray,
        plane: tuple[int, int],
        dtype: np.dtype[Any],
        decode: Callable[[list[Any]], list[np.ndarray]],
        label: str,
    ) -> None:
        self.grid = grid
        self.shape = (*grid.shape, *plane)
        self.dtype = np.dtype(dtype)
        self.decode = decode
        self.label = label

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"FrameStack({self.label!r}, shape={self.shape}, dtype={self.dtype})"

    def __getitem__(self, key: Any) -> np.ndarray[Any, Any]:
        index = _normalize(key, self.shape)
        lead = [np.atleast_1d(k) for k in index[:-2]]
        ys, xs = (np.atleast_1d(k) for k in index[-2:])
        out = np.empty((*[len(k) for k in lead], len(ys), len(xs)), dtype=self.dtype)
        if out.size:
            positions = list(np.ndindex(*[len(k) for k in lead]))
            refs = [
                self.grid[tuple(k[p] for k, p in zip(lead, pos, strict=True))] for pos in positions
            ]
            for pos, plane in zip(positions, self.decode(refs), strict=True):
                out[pos] = plane[np.ix_(ys, xs)]
        drop = tuple(0 if isinstance(k, int) else slice(None) for k in index)
        return out[drop]


class _Backend(BackendArray):
    def __init__(self, source: ArraySource) -> None:
        self.source = source
        self.shape = tuple(source.shape)
        self.dtype = source.dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray[Any, Any]:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.OUTER, self.source.__getitem__
        )


def lazy_data(source: ArraySource, dims: tuple[str, ...], chunks: Any = None) -> Any:
    """A lazily indexed array (``chunks=None``) or a dask array (one plane per chunk by
    default; a dict by dim name, a tuple or ``"auto"`` otherwise)."""
    if chunks is None:
        return indexing.LazilyIndexedArray(_Backend(source))
    import dask.array as da
    from dask.base import tokenize

    planes = tuple(1 if d not in ("y", "x") else n for d, n in zip(dims, source.shape, strict=True))
    if chunks == "auto" or chunks == {}:
        chunks = planes
    elif isinstance(chunks, dict):
        chunks = tuple(chunks.get(d, p) for d, p in zip(dims, planes, strict=True))
    normalized = da.core.normalize_chunks(chunks, source.shape, dtype=source.dtype)
    name = "bioshare-medical-" + tokenize(repr(source), id(source), normalized)
    meta = np.empty((0,) * source.ndim, dtype=source.dtype)
    return da.from_array(source, chunks=normalized, name=name, lock=False, asarray=False, meta=meta)
