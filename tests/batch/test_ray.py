"""Batch jobs on a real local Ray cluster (2 CPUs) give what the local engine gives: the same rows, in input order,
the same labels bit for bit; LLM labelling keeps one concurrency cap and one budget across workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import microgpt
from microgpt.batch import evaluate_table, predict_table
from microgpt.batch.files import read_table
from microgpt.errors import MissingExtraError
from microgpt.routing.llm import FallbackConfig
from microgpt.store.db import Store
from tests.conftest import HELPDESK
from tests.routing.stub_llm import StubLLM

pytestmark = pytest.mark.scale


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[object]:
    ray = pytest.importorskip("ray", reason="needs Ray: pip install 'microgpt[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def router(tmp_path_factory) -> Path:
    """A nano classifier on the shipped helpdesk examples (trains in about a second, no torch)."""
    out = tmp_path_factory.mktemp("router") / "router"
    microgpt.Classifier(tier="nano").fit(microgpt.read_examples(HELPDESK)).save(out)
    return out


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory) -> Path:
    """The helpdesk texts (plus an id and a numeric column) as a directory of 4 Parquet files, with a stray README."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = [{"id": i, "text": e.text, "label": e.label, "score": i / 7} for i, e in
            enumerate(microgpt.read_examples(HELPDESK))]  # fmt: skip
    root = tmp_path_factory.mktemp("tickets") / "tickets"
    root.mkdir()
    for part in range(4):
        pq.write_table(pa.Table.from_pylist(rows[part * 100 : (part + 1) * 100]), root / f"part-{part}.parquet")
    (root / "README.txt").write_text("not data")  # skipped: neither csv, jsonl nor parquet
    return root


def test_ray_and_local_write_the_same_rows_in_input_order(ray_cluster, router, parquet_dir, tmp_path):
    local = predict_table(router, parquet_dir, tmp_path / "local.parquet")
    remote = predict_table(router, parquet_dir, tmp_path / "ray.parquet", engine="ray", workers=2)
    assert remote.engine == "ray" and remote.workers == 2 and remote.rows == local.rows == 400
    _, a = read_table(tmp_path / "local.parquet")
    _, b = read_table(tmp_path / "ray.parquet")
    assert [r for _, r in a] == [r for _, r in b]  # every column, every value, in order
    assert [r["id"] for _, r in b] == list(range(400))
    assert local.added == remote.added == ["predicted_label", "confidence", "decision", "unknown"]
    # CSV out: the two files are byte for byte the same
    predict_table(router, parquet_dir, tmp_path / "local.csv")
    predict_table(router, parquet_dir, tmp_path / "ray.csv", engine="ray", workers=2)
    assert (tmp_path / "local.csv").read_bytes() == (tmp_path / "ray.csv").read_bytes()


def test_ray_reads_csv_globs_as_text_like_the_local_engine(ray_cluster, router, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.csv").write_text('ticket,text\n007,"where is my parcel, it is late"\n008,I was charged twice\n')
    (src / "b.csv").write_text("ticket,text\n009,reset my password please\n")
    predict_table(router, str(src / "*.csv"), tmp_path / "local.jsonl")
    predict_table(router, str(src / "*.csv"), tmp_path / "ray.jsonl", engine="ray", workers=2)
    rows = [json.loads(line) for line in (tmp_path / "ray.jsonl").read_text().splitlines()]
    assert [r["ticket"] for r in rows] == ["007", "008", "009"]  # kept as text, leading zeros and all
    assert (tmp_path / "local.jsonl").read_bytes() == (tmp_path / "ray.jsonl").read_bytes()


def test_evaluate_on_ray_scores_as_the_local_engine(ray_cluster, router, parquet_dir):
    local = evaluate_table(router, parquet_dir)
    remote = evaluate_table(router, parquet_dir, engine="ray", workers=2)
    for key in ("n", "accuracy", "macro_f1", "ece", "selective_accuracy_at_90_coverage"):
        assert local.metrics[key] == remote.metrics[key], key


def test_an_empty_text_on_a_worker_is_our_error_with_its_hint(ray_cluster, router, tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"text": "  "}\n')
    with pytest.raises(microgpt.DataError, match="empty text") as err:
        predict_table(router, tmp_path / "bad.jsonl", tmp_path / "out.csv", engine="ray", workers=2)
    assert "fill in or remove" in err.value.hint
    assert not (tmp_path / "out.csv").exists()  # no half-written output


def test_labelling_on_ray_gives_the_local_rows_under_one_budget(ray_cluster, tmp_path):
    stub = StubLLM()
    try:
        texts = [f"{w} number {i}" for i in range(12) for w in ("charged", "parcel", "refund", "weather", "[500]")]
        labels = ["billing", "shipping", "refund"]
        config = FallbackConfig.from_env(base_url=stub.base_url, model="stub", retries=0, timeout_s=5)
        here = microgpt.label(texts, labels, out=tmp_path / "local.jsonl", name="r", config=config, workers=4,
                              store=Store(tmp_path / "local.db"))  # fmt: skip
        there = microgpt.label(texts, labels, out=tmp_path / "ray.jsonl", name="r", config=config, workers=4,
                               store=Store(tmp_path / "ray.db"), engine="ray")  # fmt: skip
        assert (tmp_path / "local.jsonl").read_bytes() == (tmp_path / "ray.jsonl").read_bytes()
        assert here.labelled == there.labelled == 36 and here.queued == there.queued
        for db in ("local.db", "ray.db"):
            assert [(r["text"], r["label"]) for r in Store(tmp_path / db).teacher_labels("r")] == [
                (r["text"], r["label"]) for r in Store(tmp_path / "local.db").teacher_labels("r")
            ]
        assert here.usage["calls"] == there.usage["calls"] == 48
        # one budget for every worker: a call reserves its most possible cost (max_tokens of output) on the shared
        # ledger first, so 4 workers' calls in flight together cannot pass it (a call costs 2 tokens at $100/1M)
        priced = config.model_copy(update={"price_in_per_1m": 0.0, "price_out_per_1m": 100.0, "budget_usd": 0.005})
        capped = microgpt.label(texts, labels, name="c", config=priced, workers=4, store=Store(tmp_path / "c.db"),
                                engine="ray")  # fmt: skip
        calls = capped.usage["calls"]
        assert 0 < calls < len(texts) and capped.usage["spent_usd"] <= 0.005
        assert capped.labelled + sum(capped.queued.values()) == len(texts)  # the rest queued, nothing lost
        assert capped.queued["fallback_failed: budget"] > 0
    finally:
        stub.stop()


def test_without_ray_the_error_names_the_extra(router, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(MissingExtraError) as err:
        predict_table(router, HELPDESK, tmp_path / "out.csv", engine="ray")
    assert err.value.hint.startswith("pip install 'microgpt[ray]'")


def _microgpt(*args: object, timeout: float) -> subprocess.CompletedProcess[str]:
    """The `microgpt` command in a subprocess, as a user runs it."""
    cmd = [sys.executable, "-m", "microgpt", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def test_cli_predict_on_ray(router, parquet_dir, tmp_path):
    """The command a user types: its own local Ray cluster, started and stopped by the command."""
    out = tmp_path / "labelled.csv"
    proc = _microgpt("predict", router, parquet_dir, "--out", out, "--engine", "ray", "--workers", "2", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "400 rows" in proc.stderr and "ray, 2 workers" in proc.stderr
    assert out.read_text().splitlines()[0] == "id,text,label,score,predicted_label,confidence,decision,unknown"
    bad = _microgpt("predict", router, "hello", "--engine", "ray", timeout=60)
    assert bad.returncode == 1 and "--engine ray runs file jobs" in bad.stderr


def test_cli_one_worker_on_its_own_cluster_finishes(router, tmp_path):
    """`--workers 1` with no cluster: the command's own cluster must leave Ray Data's reading a CPU (it once gave
    the one CPU to the worker, and the read and the worker waited on each other for ever)."""
    out = tmp_path / "one.jsonl"
    proc = _microgpt("predict", router, HELPDESK, "--out", out, "--engine", "ray", "--workers", "1", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ray, 1 worker," in proc.stderr
    want = microgpt.load(router).predict(microgpt.read_examples(HELPDESK).texts)
    assert [json.loads(line)["predicted_label"] for line in out.read_text().splitlines()] == want


def test_own_cluster_runs_quiet_and_leaves_nothing_behind():
    """A cluster the job starts for itself exports no metrics and records no task events (on 2 cores they took
    ~2 points of each worker's CPU); the settings reach its workers and are gone from os.environ afterwards, and so
    is every process the cluster started, in under the reaper's 5 s grace."""
    code = """
import json, os, time
from microgpt.batch.ray_engine import QUIET_CLUSTER, _descendants, _stat, ray_session
with ray_session(workers=1) as ray:
    seen = ray.get(ray.remote(lambda: {k: os.environ.get(k) for k in QUIET_CLUSTER}).remote())
    inside = _descendants()
    t = time.monotonic()
after = {k: os.environ.get(k) for k in QUIET_CLUSTER}
left = [p for p, s in inside.items() if (f := _stat(p)) and f[19] == s and f[0] != "Z"]
print(json.dumps({"worker": seen, "after": after, "inside": len(inside), "left": left,
                  "shutdown_s": time.monotonic() - t}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["worker"] == {"RAY_enable_metrics_collection": "0", "RAY_task_events_report_interval_ms": "0"}
    assert got["after"] == {"RAY_enable_metrics_collection": None, "RAY_task_events_report_interval_ms": None}
    assert "unstable API" not in proc.stderr  # Ray warns when `_system_config` carries them
    assert got["inside"] >= 3 and got["left"] == []  # gcs, raylet, a worker at least; none of them still running
    assert got["shutdown_s"] < 6


def test_the_reaper_kills_what_outlives_its_grace_and_only_that(tmp_path):
    """What Ray's shutdown leaves running (a process that ignores SIGTERM here) is killed after the grace period;
    a process that already ended is left alone, and so is a pid now used by another process."""
    from microgpt.batch.ray_engine import _descendants, _reap

    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                                 "signal.SIG_IGN); time.sleep(60)"])  # fmt: skip
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    try:
        mine = _descendants()  # other tests' clusters are descendants too: reap only this test's processes
        assert stubborn.pid in mine and done.pid not in mine
        started = {stubborn.pid: mine[stubborn.pid]}
        started[done.pid] = "0"  # an ended one
        started[os.getpid()] = "1"  # a live pid whose start time is not the one recorded: not ours to kill
        t = time.monotonic()
        assert _reap(started, grace=0.5) == [stubborn.pid]
        assert 0.4 < time.monotonic() - t < 3
        assert stubborn.wait(timeout=5) == -9
    finally:
        stubborn.kill()
