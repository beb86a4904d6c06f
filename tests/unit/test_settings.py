"""Settings come from LINEUP_* variables and fail fast with the variable's name."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from embedding.settings import EmbeddingSettings
from ingest.settings import IngestSettings
from lineup.settings import CommonSettings, SettingsError, load_settings


@dataclass(frozen=True)
class _Example(CommonSettings):
    purposes: tuple[str, ...] = ()
    ratio: float = 0.5
    optional_limit: int | None = None


def test_defaults_and_typed_parsing() -> None:
    s = load_settings(_Example, {"LINEUP_GRPC_PORT": "6000", "LINEUP_MINIO_SECURE": "true",
                                 "LINEUP_PURPOSES": "robbery, homicide ,", "LINEUP_RATIO": "0.25",
                                 "LINEUP_OPTIONAL_LIMIT": "7", "LINEUP_UNRELATED": "ignored"})
    assert s.grpc_port == 6000
    assert s.minio_secure is True
    assert s.purposes == ("robbery", "homicide")
    assert s.ratio == 0.25
    assert s.optional_limit == 7
    assert load_settings(_Example, {}).optional_limit is None
    assert load_settings(IngestSettings, {}).grpc_port == 50051
    assert load_settings(EmbeddingSettings, {}).triton_url == "127.0.0.1:8001"


@pytest.mark.parametrize(("env", "message"), [
    ({"LINEUP_GRPC_PORT": "http"}, "LINEUP_GRPC_PORT='http' is not an integer"),
    ({"LINEUP_GRPC_PORT": "70000"}, "LINEUP_GRPC_PORT=70000 is not a TCP port"),
    ({"LINEUP_MINIO_SECURE": "maybe"}, "LINEUP_MINIO_SECURE='maybe' is not a boolean"),
    ({"LINEUP_RATIO": "half"}, "LINEUP_RATIO='half' is not a number"),
    ({"LINEUP_LOG_LEVEL": "LOUD"}, "LINEUP_LOG_LEVEL='LOUD'"),
    ({"LINEUP_KAFKA_BOOTSTRAP": ""}, "LINEUP_KAFKA_BOOTSTRAP is empty"),
])
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(_Example, env)
    assert message in str(err.value)


@pytest.mark.parametrize("value", ["0", "65", "-1", "many"])
def test_the_search_stage_concurrency_is_bounded(value: str) -> None:
    from search.settings import SearchSettings

    assert load_settings(SearchSettings, {}).stage_concurrency == 4
    with pytest.raises(SettingsError, match="LINEUP_STAGE_CONCURRENCY"):
        load_settings(SearchSettings, {"LINEUP_STAGE_CONCURRENCY": value})


def test_require_lists_every_missing_variable() -> None:
    s = load_settings(CommonSettings, {})
    with pytest.raises(SettingsError, match="LINEUP_MINIO_ACCESS_KEY, LINEUP_MINIO_SECRET_KEY"):
        s.require("minio_access_key", "minio_secret_key")


def test_a_service_refuses_to_start_on_bad_config() -> None:
    env = {**os.environ, "LINEUP_GRPC_PORT": "not-a-port"}
    proc = subprocess.run([sys.executable, "-m", "ingest"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "configuration error: LINEUP_GRPC_PORT='not-a-port' is not an integer" in proc.stderr
