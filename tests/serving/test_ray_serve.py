"""`microgpt serve --engine ray`: the same app on Ray Serve replicas, as a user runs it (a real subprocess on a local
Ray cluster of 2 replicas): the in-process model's answers, uvicorn's JSON errors byte for byte, both replicas
answering, and a SIGTERM that stops everything, loses no logged prediction and frees the port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import microgpt
from microgpt.errors import MissingExtraError
from microgpt.serving.ray_serve import REPLICA_HEADER, serve_ray
from microgpt.store.db import Store, store_location
from microgpt.store.registry import Registry
from tests.conftest import HELPDESK
from tests.pgserver import free_port

pytestmark = pytest.mark.scale

LIMITS = ("--max-batch", "8", "--max-text-chars", "500", "--max-body-bytes", "20000")
TEXTS = ["I was charged twice this month", "where is my parcel", "reset my password please", "cancel my order",
         "the app crashes when I open it", "I want my money back", "hello", "wrong address on my invoice"]  # fmt: skip


def cli(*args: str, env: dict[str, str] | None = None, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """`microgpt ARGS` in a subprocess (or `code`, which runs the CLI itself), as a user's terminal sees it."""
    argv = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "microgpt", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})  # fmt: skip


@dataclass
class Server:
    """`microgpt serve ...` in its own process on a free port, its output in a file (Ray's log lines never block)."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @classmethod
    def start(cls, home: Path, log: Path, *flags: str, env: dict[str, str] | None = None) -> Server:
        port = free_port()
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "microgpt", "serve", "--port", str(port), *LIMITS, *flags],
                                    env={**os.environ, "MICROGPT_HOME": str(home), **(env or {})}, stdout=out,
                                    stderr=subprocess.STDOUT)  # fmt: skip
        return cls(proc, port, log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 50) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=40)


def assert_port_free(port: int, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while True:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return
            except OSError:
                assert time.monotonic() < deadline, f"port {port} still held after the server exited"
                time.sleep(0.2)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A home whose registry serves a nano router (trains in about a second, no torch)."""
    root = tmp_path_factory.mktemp("ray-serve")
    microgpt.Classifier(tier="nano").fit(microgpt.read_examples(HELPDESK)).save(root / "router")
    Registry(root / "home").add(root / "router", "router")
    return root / "home"


@pytest.fixture(scope="module")
def ray_serve() -> None:
    pytest.importorskip("ray.serve", reason="needs Ray Serve: pip install 'microgpt[ray]'")


@pytest.fixture(scope="module")
def servers(ray_serve, home, tmp_path_factory) -> Iterator[tuple[Server, Server]]:
    """(Ray Serve with 2 replicas, uvicorn) on the same home and limits, started side by side."""
    logs = tmp_path_factory.mktemp("logs")
    ray = Server.start(home, logs / "ray.log", "--engine", "ray", "--replicas", "2")
    uvicorn = Server.start(home, logs / "uvicorn.log")
    try:
        yield ray.wait_ready(), uvicorn.wait_ready()
    finally:
        ray.stop()
        uvicorn.stop()


def test_ray_replicas_answer_as_the_in_process_model_and_uvicorn(servers, home):
    ray, uvicorn = servers
    model = microgpt.load(Registry(home).path("router", 1))
    expected = list(model.predict(TEXTS))
    with httpx.Client(base_url=ray.url, timeout=30) as http:
        one = [http.post("/v1/modules/router/predict", json={"text": t}).json() for t in TEXTS]
        batch = http.post("/v1/modules/router/predict", json={"texts": TEXTS}).json()
    assert [r["prediction"]["label"] for r in one] == expected
    assert [p["label"] for p in batch["predictions"]] == expected and batch["version"] == 1
    reference = httpx.post(f"{uvicorn.url}/v1/modules/router/predict", json={"texts": TEXTS}, timeout=30).json()
    for answer in (batch, reference):  # every field but the request ids: confidences, decisions, top labels
        for p in answer["predictions"]:
            assert p.pop("request_id")
    assert batch == reference


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/v1/modules/nope/predict", {"json": {"text": "hi"}}),  # 404: names the modules there are
        ("POST", "/v1/modules/router/predict", {"json": {"txt": "hi"}}),  # 422: the field, the schema's hint
        ("POST", "/v1/modules/router/predict", {"json": {"texts": ["a"] * 9}}),  # 413: over --max-batch
        ("POST", "/v1/modules/router/predict", {"json": {"text": "a" * 501}}),  # 413: over --max-text-chars
        ("POST", "/v1/modules/router/predict", {"content": b"{" + b" " * 20_001}),  # 413: over --max-body-bytes
        ("POST", "/v1/modules/router/predict", {"content": b"text=hi"}),  # 422: not JSON
        ("GET", "/v1/modules/router/predict", {}),  # 405
        ("GET", "/nowhere", {}),  # 404: an unknown route, in our format rather than Ray's proxy's
        ("GET", "/v1/modules/router", {"headers": {"Host": "evil.example"}}),  # 421: DNS rebinding refused
    ],
)
def test_a_bad_request_gets_uvicorns_json_error(servers, method, path, kwargs):
    ray, uvicorn = servers
    got, want = (httpx.request(method, f"{s.url}{path}", timeout=30, **kwargs) for s in (ray, uvicorn))
    assert got.status_code == want.status_code >= 400
    assert got.json() == want.json() and set(want.json()) == {"error", "hint"}
    assert got.headers["content-type"] == want.headers["content-type"]


def test_both_replicas_answer_behind_the_one_port(servers):
    ray, _ = servers
    replicas = {httpx.get(f"{ray.url}/healthz", timeout=30).headers[REPLICA_HEADER]}

    def predict(i: int) -> str:
        r = httpx.post(f"{ray.url}/v1/modules/router/predict", json={"text": TEXTS[i % len(TEXTS)]}, timeout=30)
        assert r.status_code == 200, r.text
        return r.headers[REPLICA_HEADER]

    with ThreadPoolExecutor(8) as pool:
        for _ in range(10):  # Ray's router picks the less busy of two replicas: concurrent requests reach both
            replicas |= set(pool.map(predict, range(16)))
            if len(replicas) == 2:
                break
    assert len(replicas) == 2, replicas


def test_sigterm_stops_every_replica_keeps_every_logged_prediction_and_frees_the_port(servers, home):
    ray, _ = servers
    with httpx.Client(base_url=ray.url, timeout=30) as http:
        ids = [http.post("/v1/modules/router/predict", json={"text": t}).json()["prediction"]["request_id"]
               for t in TEXTS]  # fmt: skip
    ray.proc.send_signal(signal.SIGTERM)  # straight after the last answer; the log is written every 50 ms
    assert ray.proc.wait(timeout=40) == 0, ray.log.read_text()[-3000:]
    store = Store(store_location(home))
    assert all(store.prediction(i) is not None for i in ids)
    assert_port_free(ray.port)  # the proxy was a process of the local cluster, which is gone
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{ray.url}/healthz", timeout=2)
    assert "Traceback" not in ray.log.read_text() and "SIGTERM received" not in ray.log.read_text()


HEAD = """import sys, ray
ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the test closes it
ray.shutdown()
"""


def test_on_a_running_cluster_the_replicas_get_the_home_and_only_the_app_goes_away(ray_serve, home, tmp_path):
    """A cluster started without MICROGPT_HOME: the replicas still serve this home's modules (the variables travel
    in the runtime_env); stopping removes the application and the Serve it started, never the cluster."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROGPT_")}
    head = subprocess.Popen([sys.executable, "-c", HEAD], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    server = None
    try:
        address = head.stdout.readline().strip()  # type: ignore[union-attr]
        assert address, "the Ray head did not start"
        # an explicit address never turns Ray's token authentication on by itself (the token: ~/.ray/auth_token)
        server = Server.start(home, tmp_path / "ray.log", "--engine", "ray", "--address", address,
                              env={"RAY_AUTH_MODE": "token"}).wait_ready()  # fmt: skip
        r = httpx.post(f"{server.url}/v1/modules/router/predict", json={"text": TEXTS[0]}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["prediction"]["label"] == microgpt.load(Registry(home).path("router", 1)).predict(TEXTS[:1])[0]
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(timeout=40) == 0, server.log.read_text()[-3000:]
        assert head.poll() is None  # the cluster is still up
        assert_port_free(server.port)
    finally:
        if server is not None:
            server.stop()
        head.stdin.close()  # type: ignore[union-attr]
        head.wait(timeout=30)


def test_without_ray_serve_engine_ray_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(MissingExtraError) as err:
        serve_ray("127.0.0.1", free_port())
    assert "pip install 'microgpt[ray]'" in (err.value.hint or "")
    block = "import sys; sys.modules['ray'] = None; from microgpt.cli.app import main; main()"
    proc = cli("serve", "--engine", "ray", code=block)
    assert proc.returncode == 1 and "Ray Serve" in proc.stderr and "pip install 'microgpt[ray]'" in proc.stderr


def test_serve_help_shows_the_ray_options_and_the_checks_come_before_ray_starts(tmp_path):
    shown = cli("serve", "--help").stdout
    assert all(flag in shown for flag in ("--engine", "--replicas", "--address", "<uvicorn|ray>"))
    assert "pip install 'microgpt[ray]'" in shown  # the extra's name survives rich's markup
    proc = cli("serve", "--replicas", "2")
    assert proc.returncode == 1 and "--replicas is for --engine ray" in proc.stderr
    proc = cli("serve", "--engine", "ray", "--workers", "2")
    assert proc.returncode == 1 and "--replicas 2" in proc.stderr
    proc = cli("serve", "--engine", "ray", "--host", "0.0.0.0", env={"MICROGPT_HOME": str(tmp_path)})
    assert proc.returncode == 1 and "refusing to serve on 0.0.0.0 without API keys" in proc.stderr
    assert "starting" not in proc.stderr  # refused as uvicorn refuses it: before any cluster
