"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest
from lineup_tools.cli import main as cli

from tests.fakes import FakeClient


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeClient]:
    """The CLI talks to a FakeClient instead of a server."""
    FakeClient.answers, FakeClient.calls = {}, []
    monkeypatch.setattr(cli, "Client", FakeClient)
    return FakeClient
