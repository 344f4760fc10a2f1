"""Property-based fuzzing of the REST API from its own OpenAPI schema (schemathesis): no input gets a 5xx."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from microgpt import Classifier
from microgpt.store.registry import Registry
from tests.serving.test_server import Server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory, helpdesk_split) -> Iterator[Server]:
    home: Path = tmp_path_factory.mktemp("fuzz-home")
    module = tmp_path_factory.mktemp("fuzz-module") / "router"
    Classifier("nano").fit(helpdesk_split[0]).save(module)
    Registry(home).add(module, "router")
    server = Server(home, "--max-batch", "16", "--max-text-chars", "2000")
    yield server
    server.stop()


def test_fuzzed_requests_never_get_a_server_error(fuzz_server: Server) -> None:
    """Every operation in /openapi.json, with inputs generated from its schema: 4xx at worst, never 5xx."""
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/modules/{name}/predict", "/v1/modules/{name}/feedback"}
    seen: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:  # type: ignore[no-untyped-def]
            if "{name}" in case.path and random.random() < 0.7:
                case.path_parameters = {"name": "router"}  # mostly a real module, so fuzzing reaches the model code
            response = case.call(base_url=fuzz_server.url)
            seen.append(response.status_code)
            detail = f"{case.method} {case.formatted_path} {case.body!r} → {response.status_code}: {response.text}"
            assert response.status_code < 500, detail
            if response.status_code >= 400:
                assert {"error", "hint"} <= set(response.json()), detail

        check()
    assert 200 in seen and any(400 <= code < 500 for code in seen)
