"""A comm that records what a widget sends, shared by the widget tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import comm

__all__ = [
    "TIMEOUT",
    "RecordingComm",
    "browser_sends",
    "browser_sets",
    "sent_state",
    "wait_for",
]

TIMEOUT = 30.0


class RecordingComm(comm.base_comm.BaseComm):
    """Stands in for the kernel comm: records messages, lets tests wait for them."""

    def __init__(self, **kwargs: Any) -> None:
        self.sent: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.sent_lock = self.cond  # the lock that guards ``sent``
        super().__init__(**kwargs)

    def publish_msg(
        self,
        msg_type: str,
        data: Any = None,
        metadata: Any = None,
        buffers: Any = None,
        **keys: Any,
    ) -> None:
        with self.cond:
            content = data if data is not None else {}
            self.sent.append({"msg_type": msg_type, "data": content, "buffers": buffers or []})
            self.cond.notify_all()

    def custom(self, kind: str) -> list[tuple[dict[str, Any], list[Any]]]:
        """The custom messages of one type sent so far, with their buffers."""
        with self.cond:
            return [
                (m["data"]["content"], m["buffers"])
                for m in self.sent
                if isinstance(m["data"], dict)
                and m["data"].get("method") == "custom"
                and m["data"]["content"].get("type") == kind
            ]

    def wait(self, kind: str, predicate: Callable[[dict[str, Any]], bool]) -> tuple[Any, Any]:
        """Wait for a custom message of ``kind`` that satisfies ``predicate``."""

        def found() -> tuple[Any, Any] | None:
            for content, buffers in reversed(self.custom(kind)):
                if predicate(content):
                    return content, buffers
            return None

        with self.cond:
            result = self.cond.wait_for(found, timeout=TIMEOUT)
        assert result is not None, f"no {kind} message matched within {TIMEOUT} s"
        return result

    def state_sent(self) -> dict[str, Any]:
        """Everything the front end was told, merged in order (the front end's view)."""
        state: dict[str, Any] = {}
        with self.cond:
            for message in self.sent:
                data = message["data"]
                updates = ("update", "echo_update")
                if message["msg_type"] == "comm_open" or data.get("method") in updates:
                    state.update(data.get("state", {}))
        return state


def browser_sets(widget: Any, **state: Any) -> None:
    """What the browser sends when the user changed traits (after its debounce)."""
    data = {"method": "update", "state": state, "buffer_paths": []}
    widget.comm.handle_msg({"content": {"data": data}, "buffers": []})


def browser_sends(widget: Any, content: dict[str, Any]) -> None:
    """A custom message from the browser (``model.send``)."""
    data = {"method": "custom", "content": content}
    widget.comm.handle_msg({"content": {"data": data}, "buffers": []})


def sent_state(widget: Any, name: str) -> list[Any]:
    """Values of trait ``name`` sent to the browser, oldest first."""
    return [
        m["data"]["state"][name]
        for m in widget.comm.sent
        if m["data"] and m["data"].get("method") in ("update", "echo_update")
        if name in m["data"].get("state", {})
    ]


def wait_for(condition: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    """The first true value of ``condition()``, polled until ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting for a condition"
        time.sleep(0.01)
