"""Widget tests replace the kernel's comm with one that records messages."""

from __future__ import annotations

from typing import Any

import comm
import pytest
from widget_comms import RecordingComm


@pytest.fixture
def comms(monkeypatch: pytest.MonkeyPatch) -> list[RecordingComm]:
    """Every comm the widgets of the test create, in order."""
    created: list[RecordingComm] = []

    def factory(*args: Any, **kwargs: Any) -> RecordingComm:
        made = RecordingComm(*args, **kwargs)
        created.append(made)
        return made

    monkeypatch.setattr(comm, "create_comm", factory)
    return created
