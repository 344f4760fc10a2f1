"""Two real `microgpt serve` processes behind a (client-side) load balancer, sharing one PostgreSQL store and one
registry: concurrent writes land exactly once, reviewers never share an item, a replica killed with SIGKILL loses
nothing it acknowledged, and a promotion made through one replica is served by the other within 2 s."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import microgpt
from microgpt.store.db import Store
from microgpt.store.registry import Registry
from tests.conftest import HELPDESK
from tests.pgserver import free_port

pytestmark = pytest.mark.scale


class Replica:
    """`microgpt serve` in its own process, on a free port."""

    def __init__(self, home: Path, store_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "MICROGPT_HOME": str(home), "MICROGPT_STORE_URL": store_url}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "microgpt", "serve", "--port", str(self.port)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_ready(self) -> Replica:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"replica did not start: {self.proc.stdout.read().decode()[-2000:]}")  # type: ignore[union-attr]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres_server) -> Iterator[tuple[Path, str, list[Replica]]]:
    """A shared home (registry) with a nano router, a fresh PostgreSQL store, and two replicas on them."""
    home = tmp_path_factory.mktemp("shared-home")
    data = microgpt.read_examples(HELPDESK)
    microgpt.Classifier(tier="nano").fit(data).save(home / "router-v1")
    microgpt.Classifier(tier="nano", nano={"c": 0.05}).fit(data).save(home / "router-v2")
    Registry(home).add(home / "router-v1", "router")
    url = postgres_server.new_database()
    replicas = [Replica(home, url), Replica(home, url)]  # start side by side: each start costs seconds of imports
    for r in replicas:
        r.wait_ready()
    yield home, url, replicas
    for r in replicas:
        r.stop()


def test_two_replicas_four_clients_each_every_feedback_row_exactly_once(cluster):
    _, url, replicas = cluster
    acked: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(replica: Replica, k: int) -> None:
        with httpx.Client(base_url=replica.url, timeout=30) as http:
            for i in range(500):
                r = http.post(
                    "/v1/modules/router/feedback", json={"text": f"{replica.port} c{k} n{i}", "label": "billing"}
                )
                with lock:
                    (acked.append(r.json()["id"]) if r.status_code == 200 else errors.append(r.text))

    threads = [threading.Thread(target=client, args=(r, k)) for r in replicas for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:3]
    texts = [row["text"] for row in Store(url).feedback("router")]
    assert len(acked) == len(set(acked)) == 4000
    assert len(texts) == len(set(texts)) == 4000  # every write present, none twice
    assert set(texts) == {f"{r.port} c{k} n{i}" for r in replicas for k in range(4) for i in range(500)}


def test_reviewers_on_both_replicas_never_claim_one_item_twice(cluster):
    _, url, replicas = cluster
    store = Store(url)
    queued = {store.enqueue_review("router", f"unsure {i}", confidence=i / 100, reason="low_confidence")
              for i in range(60)}  # fmt: skip
    got: list[str] = []
    lock = threading.Lock()

    def reviewer(replica: Replica, name: str) -> None:
        with httpx.Client(base_url=replica.url, timeout=30) as http:
            while (r := http.post("/v1/review/claim", params={"module": "router", "by": name})).status_code == 200:
                with lock:
                    got.append(r.json()["id"])
            assert r.status_code == 204, r.text

    threads = [threading.Thread(target=reviewer, args=(r, f"{r.port}-{k}")) for r in replicas for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(got) == sorted(queued)  # all 60 handed out, each once
    item = store.review_item(got[0])
    assert item["claimed_by"] and item["claimed_until"]


def test_a_replica_killed_under_load_loses_nothing_it_acknowledged(cluster, tmp_path):
    home, url, replicas = cluster
    victim = Replica(home, url).wait_ready()
    survivor = replicas[0]
    acked: list[str] = []
    served_after_kill = 0
    failed_over = 0
    killed = threading.Event()
    lock = threading.Lock()

    def client(k: int) -> None:
        nonlocal served_after_kill, failed_over
        https = {r.url: httpx.Client(base_url=r.url, timeout=10) for r in (victim, survivor)}
        order = itertools.cycle([victim, survivor])
        for i in range(100):
            text = f"kill test c{k} n{i}"
            for _ in range(2):  # a load balancer's retry: the next replica
                target = next(order)
                try:
                    r = https[target.url].post("/v1/modules/router/feedback", json={"text": text, "label": "refund"})
                except httpx.TransportError:
                    with lock:
                        failed_over += 1
                    continue
                if r.status_code == 200:
                    with lock:
                        acked.append(text)
                        served_after_kill += killed.is_set() and target is survivor
                    break
            if i == 30 and k == 0:
                victim.kill()
                killed.set()
        for http in https.values():
            http.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert killed.is_set() and victim.proc.returncode == -signal.SIGKILL
    assert served_after_kill > 100 and failed_over > 0  # the other replica kept answering
    stored = {row["text"] for row in Store(url).feedback("router") if row["text"].startswith("kill test")}
    assert set(acked) <= stored  # every acknowledged write is in the store
    assert len(acked) >= 390  # and next to nothing was refused: a call cut off mid-flight is retried
    r = httpx.post(f"{survivor.url}/v1/modules/router/predict", json={"text": "where is my parcel"}, timeout=10)
    assert r.status_code == 200


def test_a_promotion_through_one_replica_is_served_by_the_other_within_2s(cluster):
    home, _, replicas = cluster
    a, b = replicas
    registry = Registry(home)
    version = registry.add(home / "router-v2", "router", promote=False)

    def served(replica: Replica) -> int:
        r = httpx.post(f"{replica.url}/v1/modules/router/predict", json={"text": "I was charged twice"}, timeout=10)
        assert r.status_code == 200, r.text
        return int(r.json()["version"])

    assert served(a) == served(b) == 1
    with httpx.Client(base_url=a.url, timeout=10) as console:  # the console's promote, as a person clicks it
        page = console.get("/modules/router/promote", params={"version": version})
        token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        r = console.post("/modules/router/promote", data={"version": str(version), "csrf": token})
        assert r.status_code == 303, r.text
    start = time.monotonic()
    while served(b) != version:
        assert time.monotonic() - start < 2.0, "replica b still serves the old version after 2 s"
        time.sleep(0.05)
    assert served(a) == version
