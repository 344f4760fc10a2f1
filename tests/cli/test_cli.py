"""The CLI as a user runs it: a real subprocess, train → evaluate → predict, and errors as one line + a hint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import microgpt
from tests.conftest import HELPDESK


def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "microgpt", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, helpdesk_split):
    root = tmp_path_factory.mktemp("cli")
    train, test = helpdesk_split
    with (root / "train.csv").open("w") as f:
        f.write("message,route\n" + "".join(f'"{e.text.replace(chr(34), chr(39))}",{e.label}\n' for e in train))
    with (root / "test.csv").open("w") as f:
        f.write("message,route\n" + "".join(f'"{e.text.replace(chr(34), chr(39))}",{e.label}\n' for e in test))
    proc = run(
        "train", str(root / "train.csv"), "--text-col", "message", "--label-col", "route", "--out", str(root / "m")
    )
    assert proc.returncode == 0, proc.stderr
    return root, proc


def test_train_saves_a_module_and_says_what_next(trained):
    root, proc = trained
    assert (root / "m" / "microgpt.json").exists()
    assert "microgpt evaluate" in proc.stderr and "300 examples, 10 labels" in proc.stderr


def test_evaluate_json_on_stdout(trained):
    root, _ = trained
    proc = run("evaluate", str(root / "m"), str(root / "test.csv"), "--text-col", "message", "--label-col", "route",
               "--format", "json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert 0.6 < result["accuracy"] <= 1 and 0 < result["macro_f1"] <= 1
    assert set(result["per_label"]) >= {"billing", "login"}
    assert (root / "m" / "REPORT.md").exists()


def test_evaluate_table_for_humans(trained):
    root, _ = trained
    proc = run("evaluate", str(root / "m"), str(root / "test.csv"), "--text-col", "message", "--label-col", "route")
    assert proc.returncode == 0, proc.stderr
    assert "accuracy" in proc.stdout and "macro_f1" in proc.stdout


def test_predict_one_text(trained):
    root, _ = trained
    proc = run("predict", str(root / "m"), "I can't log in, the password reset never arrives")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["label"] == "login" and 0 < out["confidence"] <= 1


def test_predict_stdin_plain_and_json_lines(trained):
    root, _ = trained
    stdin = 'where is my parcel, tracking is stuck\n\n{"id": 7, "text": "please cancel my subscription"}\n'
    proc = run("predict", str(root / "m"), "-", stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [x["label"] for x in lines] == ["shipping", "cancellation"]
    assert lines[1]["id"] == 7 and "id" not in lines[0]


def test_errors_are_one_red_line_and_a_hint(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("body,label\na,x\nb,x\n")
    proc = run("train", str(bad), "--out", str(tmp_path / "m"))
    assert proc.returncode == 1
    assert "error:" in proc.stderr and "hint:" in proc.stderr and "--text-col" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run("predict", str(tmp_path / "nowhere"), "hi")
    assert proc.returncode == 1 and "microgpt train" in proc.stderr
    proc = run("--verbose", "predict", str(tmp_path / "nowhere"), "hi")
    assert proc.returncode == 1 and "Traceback" in proc.stderr


def test_tag_task_from_the_cli(tmp_path, small_tags):
    data = tmp_path / "tags.jsonl"
    data.write_text("".join(json.dumps({"text": e.text, "labels": list(e.labels)}) + "\n" for e in small_tags))
    proc = run("train", str(data), "--task", "tag", "--out", str(tmp_path / "t"))
    assert proc.returncode == 0, proc.stderr
    proc = run("predict", str(tmp_path / "t"), "charged twice and also parcel is late")
    out = json.loads(proc.stdout)
    assert set(out["labels"]) >= {"billing"} and len(out["confidences"]) == len(out["labels"])
    proc = run("evaluate", str(tmp_path / "t"), str(data), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["micro_f1"] > 0.8


def test_demo_runs_offline_end_to_end(tmp_path):
    proc = run("demo", "--tier", "nano", "--out", str(tmp_path / "demo"), "--data", str(HELPDESK))
    assert proc.returncode == 0, proc.stderr
    assert "held-out accuracy" in proc.stdout and "new messages" in proc.stdout
    assert "billing" in proc.stdout and "shipping" in proc.stdout
    assert (tmp_path / "demo" / "REPORT.md").exists()
    replies = tmp_path / "demo-replies"  # the reply part: a retrieval replier on examples/replies.jsonl
    assert "Reply drafts" in proc.stdout and (replies / "REPORT.md").exists()
    metrics = json.loads((replies / "microgpt.json").read_text())["metrics"]
    assert metrics["rouge_l"] > 0.3 and metrics["intent_consistency"] > 0.8
    draft = microgpt.load(replies).predict_one("please cancel NW-40417", fields={"Order Number": "NW-40417"})
    assert "cancelled" in draft.text and "NW-40417" in draft.text and "{{Order Number}}" not in draft.text


def test_readme_demo_script_passes_its_arguments_through(tmp_path):
    """`./scripts/demo` is the README's first command: it must reach `microgpt demo` with the user's flags."""
    script = HELPDESK.parents[1] / "scripts" / "demo"
    proc = subprocess.run(
        [str(script), "--tier", "nano", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "held-out accuracy" in proc.stdout and (tmp_path / "demo" / "microgpt.json").exists()


def test_extract_from_the_cli(tmp_path):
    bookings = Path(__file__).resolve().parents[2] / "examples" / "bookings.jsonl"
    lines = bookings.read_text().splitlines()
    (tmp_path / "train.jsonl").write_text("\n".join(lines[:200]) + "\n")
    (tmp_path / "test.jsonl").write_text("\n".join(lines[200:]) + "\n")
    proc = run("train", str(tmp_path / "train.jsonl"), "--task", "extract", "--schema",
               "date:date,time:time,people:count,name,phone", "--out", str(tmp_path / "m"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "fields: date (date), time (time), people (count), name (text), phone (text)" in proc.stderr
    proc = run("predict", str(tmp_path / "m"), "Table for 3 on Dec 3rd at 8pm, name's Zoe Walsh",
               "--reference-date", "2026-11-29")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["fields"] == {"date": "2026-12-03", "time": "20:00", "people": 3, "name": "Zoe Walsh", "phone": None}
    assert {s["label"]: s["text"] for s in out["spans"]}["date"] == "Dec 3rd"
    proc = run(
        "predict", str(tmp_path / "m"), stdin='{"id": 7, "text": "a table for two tomorrow at 7"}\nfor 4 at noon\n'
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows[0]["id"] == 7 and rows[0]["fields"]["people"] == 2 and rows[1]["fields"]["time"] == "12:00"
    proc = run("evaluate", str(tmp_path / "m"), str(tmp_path / "test.jsonl"), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["span_f1"] > 0.9 and result["field_f1"] > 0.9 and result["task"] == "extract"
    assert set(result["per_label"]) == {"date", "time", "people", "name", "phone"}
    proc = run("evaluate", str(tmp_path / "m"), str(tmp_path / "test.jsonl"))
    assert proc.returncode == 0 and "per field" in proc.stdout
    (tmp_path / "bad.jsonl").write_text('{"text": "for 4", "spans": [{"start": 4, "end": 9, "label": "people"}]}\n')
    proc = run("train", str(tmp_path / "bad.jsonl"), "--task", "extract", "--out", str(tmp_path / "m2"))
    assert proc.returncode == 1 and "outside the text" in proc.stderr and "hint:" in proc.stderr


def test_policy_is_chosen_on_held_out_data_and_predict_shows_the_decision(trained):
    root, _ = trained
    proc = run("policy", str(root / "m"), str(root / "test.csv"), "--text-col", "message", "--label-col", "route",
               "--min-precision", "0.9", "--below", "queue")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "threshold" in proc.stdout and "min_precision=0.9" in proc.stdout
    manifest = json.loads((root / "m" / "microgpt.json").read_text())
    assert manifest["policy"]["below"] == "queue" and manifest["policy"]["precision"] >= 0.9
    proc = run("predict", str(root / "m"), "-", stdin="I was charged twice for one order\nxq zv plm\n")
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert all(r["decision"] in ("answer", "queue") for r in rows)
    assert {r["decision"] for r in rows} >= {"answer"}
    proc = run("policy", str(root / "m"), str(root / "test.csv"), "--text-col", "message", "--label-col", "route")
    assert proc.returncode == 1 and "one target" in proc.stderr
