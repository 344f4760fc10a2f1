"""`microgpt label` and `microgpt review` as a user runs them: real subprocesses, a real stub LLM server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import microgpt
from microgpt.store.db import Store
from microgpt.store.registry import Registry
from tests.routing.stub_llm import StubLLM


@pytest.fixture(scope="module")
def stub() -> Iterator[StubLLM]:
    server = StubLLM(slow_s=1.5)
    yield server
    server.stop()


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROGPT_LLM_")}
    env.update({"MICROGPT_HOME": str(home), "COLUMNS": "200", "HF_HUB_OFFLINE": "1"})
    return env


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_all(home, list(args))[0]


def run_all(home: Path, *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run independent CLI commands side by side (each start costs ~1 s of imports), results in order."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "microgpt", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(home),
        )
        for args in commands
    ]
    results = []
    for args, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    return results


def test_label_writes_teacher_rows_and_queues_every_text_it_could_not_label(tmp_path, stub):
    data = tmp_path / "texts.csv"
    texts = [
        "I was charged twice",
        "my invoice is wrong",
        "where is my parcel",
        "parcel is late again",
        "[flaky] please refund me",  # a 500, then an answer: retried, labelled
        "[500] refund now",  # always 500: queued
        "[slow] reset my password",  # past the timeout: queued
        "[malformed] password help",  # not JSON: queued
        "what is the weather like",  # the teacher says unknown: queued
        "I was charged twice",  # a duplicate: asked once
    ]
    data.write_text("message\n" + "".join(f'"{t}"\n' for t in texts))
    examples = tmp_path / "seed.csv"
    examples.write_text("text,label\nbilled two times,billing\ncard charged again,billing\nmoney back,refund\n")
    out = tmp_path / "labelled.jsonl"
    proc = run(
        tmp_path, "label", str(data), "--out", str(out), "--labels", "billing,refund,shipping,login",
        "--examples", str(examples), "--text-col", "message", "--name", "router",
        "--base-url", stub.base_url, "--teacher", "stub-teacher", "--timeout", "0.3", "--retries", "1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["text"], r["label"]) for r in rows] == [
        ("I was charged twice", "billing"),
        ("my invoice is wrong", "billing"),
        ("where is my parcel", "shipping"),
        ("parcel is late again", "shipping"),
        ("[flaky] please refund me", "refund"),
    ]
    assert all(r["source"] == "teacher" and r["teacher"] == "stub-teacher" for r in rows)
    store = Store(tmp_path / "microgpt.db")
    queued = {i["text"]: i["reason"] for i in store.review_items("router")}
    assert queued == {
        "[500] refund now": "fallback_failed: http 500",
        "[slow] reset my password": "fallback_failed: timeout",
        "[malformed] password help": "fallback_failed: malformed",
        "what is the weather like": "teacher_unknown",
    }  # nothing lost: 5 labelled + 4 queued = the 9 distinct texts
    logged = store.teacher_labels("router")
    assert len(logged) == 6 and {r["raw"] for r in logged} >= {"billing", "unknown"}  # every answer, unknown too
    assert "labelled 5 of 9 texts" in proc.stderr and "4 queued for review" in proc.stderr
    assert "microgpt review list --module router" in proc.stderr
    system = stub.bodies("where is my parcel")[-1]["messages"][0]["content"]
    assert "- shipping" in system and "billed two times" in system and "money back" in system
    data = microgpt.read_examples(out, min_per_label=0)  # what `microgpt train` reads: teacher labels stay marked
    assert {e.meta["source"] for e in data} == {"teacher"} and data[0].meta["teacher"] == "stub-teacher"


def test_label_with_nothing_labelled_exits_1_and_still_queues(tmp_path):
    data = tmp_path / "texts.jsonl"
    data.write_text('{"text": "hello"}\n{"text": "charged twice"}\n')
    proc = run(tmp_path, "label", str(data), "--out", str(tmp_path / "o.jsonl"), "--labels", "billing,refund",
               "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--retries", "0")  # fmt: skip
    assert proc.returncode == 1 and "labelled none of the 2 texts" in proc.stderr and "hint:" in proc.stderr
    reasons = Counter(i["reason"] for i in Store(tmp_path / "microgpt.db").review_items())
    assert reasons == {"fallback_failed: unreachable": 2}


def test_review_list_resolve_skip_and_export_as_training_data(tmp_path):
    home = tmp_path
    texts = ["charged twice", "invoice wrong", "parcel late", "where is my parcel", "money back", "refund me"]
    labels = ["billing", "billing", "shipping", "shipping", "refund", "refund"]
    microgpt.Classifier("nano").fit(texts, labels).save(tmp_path / "m")
    Registry(home).add(tmp_path / "m", "router")
    store = Store(home / "microgpt.db")
    a = store.enqueue_review("router", "I paid two times", version=1, prediction={"label": "refund"},
                             confidence=0.38, reason="low_confidence")  # fmt: skip
    b = store.enqueue_review("router", "zzzz qqq", version=1, reason="unknown_input")
    c = store.enqueue_review("router", "my box is lost", reason="fallback_failed: timeout")

    # read-only and failing commands first, side by side
    listed, wrong = run_all(
        home, ["review", "list", "--module", "router", "--format", "json"], ["review", "resolve", c, "shiping"]
    )
    assert [(i["id"], i["reason"], i["status"]) for i in json.loads(listed.stdout)] == [
        (a, "low_confidence", "pending"),
        (b, "unknown_input", "pending"),
        (c, "fallback_failed: timeout", "pending"),
    ]
    assert json.loads(listed.stdout)[0]["prediction"] == {"label": "refund"}
    assert wrong.returncode == 1 and "unknown label(s) ['shiping']" in wrong.stderr
    assert "did you mean 'shipping'?" in wrong.stderr
    # then the answers (different items: independent)
    resolved, skipped = run_all(home, ["review", "resolve", a, "billing"], ["review", "skip", b])
    assert resolved.returncode == 0 and skipped.returncode == 0, resolved.stderr + skipped.stderr
    assert f"resolved {a}: billing" in resolved.stdout and "microgpt modules feedback router" in resolved.stdout
    store.resolve_review(c, "shipping", by="api")  # another reviewer, through the server
    # then what a person and a retrain see
    table, exported = run_all(home, ["review", "list", "--status", "all"], ["modules", "feedback", "router"])
    assert table.returncode == 0 and "resolved: billing" in table.stdout and "skipped" in table.stdout
    assert "0 pending · 2 resolved · 1 skipped" in table.stdout
    assert exported.returncode == 0, exported.stderr
    (tmp_path / "feedback.jsonl").write_text(exported.stdout)
    data = microgpt.read_examples(tmp_path / "feedback.jsonl", min_per_label=0)
    assert [(e.text, e.label, e.meta["source"]) for e in data] == [
        ("I paid two times", "billing", "review"),
        ("my box is lost", "shipping", "review"),
    ]
    retrained = microgpt.Classifier("nano").fit(microgpt.Dataset([*microgpt.Dataset.from_lists(texts, labels), *data]))
    assert retrained.data_info_["n_examples"] == 8
