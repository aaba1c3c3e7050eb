"""Progress of packing and uploads: tqdm bars, or a callback for widgets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Progress", "bars"]

Progress = bool | Callable[[dict[str, Any]], object]


@contextmanager
def bars(
    total: int, progress: Progress, what: str
) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """An overall bar, and a factory of per-file bars: ``bar(name, size)(n)`` advances both.

    ``progress`` True shows tqdm bars; a callable instead receives
    ``{"stage", "file", "file_done", "file_total", "done", "total"}`` after each block.
    """
    from tqdm.auto import tqdm

    report = progress if callable(progress) else None
    shown = progress is True
    overall = tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=what, disable=not shown
    )
    current: list[Any] = []
    done = [0]  # tqdm counts nothing when disabled

    def for_file(name: str, size: int) -> Callable[[int], None]:
        for bar in current:
            bar.close()
        current.clear()
        bar = tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=name[:40],
            leave=False,
            disable=not shown,
        )
        current.append(bar)
        file_done = [0]

        def advance(n: int) -> None:
            bar.update(n)
            overall.update(n)
            file_done[0] += n
            done[0] += n
            if report is not None:
                report(
                    {
                        "stage": what,
                        "file": name,
                        "file_done": file_done[0],
                        "file_total": size,
                        "done": done[0],
                        "total": total,
                    }
                )

        return advance

    try:
        yield for_file
    finally:
        for bar in current:
            bar.close()
        overall.close()
