"""Issue 12, the first hour of a new user: CLI mistakes are one line, files go in and out, guard rails hold."""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import microgpt
from microgpt.module import manifest_digest
from microgpt.routing.llm import FallbackConfig
from tests.cli.test_cli import run
from tests.conftest import HELPDESK

EXAMPLES = HELPDESK.parent


def error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The error line and the hint line (progress lines printed before them are skipped)."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.startswith("error: "))
    return lines[start:]


@pytest.fixture(scope="module")
def router(tmp_path_factory, helpdesk_split) -> tuple[Path, Path, Path]:
    """A nano router trained on 3/4 of helpdesk.csv: (module, train.csv, test.csv)."""
    root = tmp_path_factory.mktemp("issue12")
    train, test = helpdesk_split
    for name, part in (("train.csv", train), ("test.csv", test)):
        with (root / name).open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["message", "route"])
            writer.writerows([e.text, e.label] for e in part)
    data = microgpt.read_examples(root / "train.csv", text_col="message", label_col="route")
    microgpt.train(data, task="classify", tier="nano", out=root / "m")
    return root / "m", root / "train.csv", root / "test.csv"


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["trian"], "did you mean 'train'?"),
        (["train", "data.csv", "--teir", "nano", "--out", "m"], "did you mean '--tier'?"),
        (["train", "data.csv", "--tier", "nanoo", "--out", "m"], "did you mean 'nano'?"),
        (["train", "data.csv"], "usage: microgpt train [OPTIONS] DATA"),
        (["modules", "lst"], "did you mean 'list'?"),
    ],
)
def test_issue_12_usage_errors_are_one_red_line_plus_a_hint_exit_2(args, hint):
    proc = run(*args)
    lines = error_lines(proc)
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), proc.stderr
    assert hint in lines[1]


def test_issue_12_our_errors_exit_1_and_verbose_shows_the_traceback(tmp_path):
    proc = run("predict", str(tmp_path), "hello")
    assert proc.returncode == 1 and error_lines(proc)[0].startswith("error: ")
    verbose = run("--verbose", "predict", str(tmp_path), "hello")
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_issue_12_version_completion_choices_and_help_on_every_option_and_argument():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"microgpt {microgpt.__version__}"
    assert "--install-completion" in run("--help").stdout
    train_help = run("train", "--help").stdout
    assert "nano|micro|auto" in train_help and "classify|tag|extract|reply" in train_help
    predict_help = run("predict", "--help").stdout  # one name with REST (max_new_tokens); the old one hidden
    assert "--max-new-tokens" in predict_help and "--max-tokens " not in predict_help
    import typer

    from microgpt.cli.app import _register, app

    _register()
    missing = []

    def walk(command, path):
        for param in command.params:
            if not getattr(param, "hidden", False) and not (getattr(param, "help", None) or "").strip():
                missing.append(f"{path} {param.opts[0]}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "microgpt")
    assert not missing, missing


def test_issue_12_serve_prints_its_url_and_docs_url(tmp_path):
    env = {**os.environ, "MICROGPT_HOME": str(tmp_path), "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "microgpt", "serve", "--port", "8931"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        line = proc.stderr.readline()  # type: ignore[union-attr]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "http://127.0.0.1:8931" in line and "http://127.0.0.1:8931/docs" in line


def test_issue_12_a_file_name_is_not_labelled_as_text(router):
    module, _, test = router
    lines = error_lines(run("predict", str(module), str(test)))
    assert "did you mean to predict the file? add --out" in lines[1]


def test_issue_12_predict_a_csv_into_csv_and_jsonl_keeping_the_columns(router, tmp_path):
    module, _, test = router
    rows = list(csv.DictReader(test.open()))
    proc = run("predict", str(module), str(test), "--out", str(tmp_path / "out.csv"))
    assert proc.returncode == 0, proc.stderr
    out = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert len(out) == len(rows) and [r["message"] for r in out] == [r["message"] for r in rows]
    assert set(out[0]) == {"message", "route", "label", "confidence", "decision", "unknown"}
    right = sum(r["label"] == r["route"] for r in out) / len(out)
    assert right > 0.6 and all(0 < float(r["confidence"]) <= 1 for r in out)
    proc = run("predict", str(module), str(test), "--out", str(tmp_path / "out.jsonl"), "--text-col", "message")
    assert proc.returncode == 0, proc.stderr
    first = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert first["message"] == rows[0]["message"] and isinstance(first["unknown"], bool)


def test_issue_12_stdin_crlf_and_a_csv_header_are_not_texts(router):
    module, _, _ = router
    plain = run("predict", str(module), "-", stdin="my parcel is late\r\nrefund please\r\n")
    texts = [json.loads(line)["text"] for line in plain.stdout.splitlines()]
    assert texts == ["my parcel is late", "refund please"]
    table = run("predict", str(module), stdin='message,route\r\n"charged twice, help",billing\r\n')
    assert [json.loads(line)["text"] for line in table.stdout.splitlines()] == ["charged twice, help"]


def test_issue_12_split_then_train_with_a_held_out_part(tmp_path):
    proc = run("split", str(HELPDESK), "--test-fraction", "0.2", "--seed", "0", "--out-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    train = list(csv.DictReader((tmp_path / "helpdesk.train.csv").open()))
    test = list(csv.DictReader((tmp_path / "helpdesk.test.csv").open()))
    assert (len(train), len(test)) == (320, 80)
    assert {r["label"] for r in test} == {r["label"] for r in train}  # stratified: every label on both sides
    assert not {r["text"] for r in train} & {r["text"] for r in test}
    proc = run("train", str(HELPDESK), "--test-fraction", "0.2", "--out", str(tmp_path / "m"))
    assert proc.returncode == 0, proc.stderr
    assert "held out 80 of 400" in proc.stderr and "accuracy" in proc.stdout


def test_issue_12_evaluate_and_policy_warn_when_texts_were_trained_on(router, tmp_path):
    module, train, test = router
    n_train = len(list(csv.DictReader(train.open())))
    cols = ("--text-col", "message", "--label-col", "route")
    proc = run("evaluate", str(module), str(train), *cols, "--format", "json")
    assert proc.returncode == 0 and f"{n_train} of {n_train} texts (100%) were in the training data" in proc.stderr
    clean = run("evaluate", str(module), str(test), *cols, "--format", "json")
    assert "training data" not in clean.stderr
    policy = run("policy", str(module), str(train), *cols, "--max-escalation", "0.2")
    assert policy.returncode == 0 and f"{n_train} of {n_train} texts" in policy.stderr
    old = tmp_path / "old"  # a module saved before the digests existed: no warning, no error
    microgpt.load(module).save(tmp_path / "resaved")  # a loaded module saved again keeps its digests
    assert (tmp_path / "resaved" / "train_texts.sha1").read_bytes() == (module / "train_texts.sha1").read_bytes()
    shutil.copytree(module, old)
    (old / "train_texts.sha1").unlink()
    manifest = json.loads((old / "microgpt.json").read_text())
    manifest["files"].pop("train_texts.sha1")
    manifest["manifest_sha256"] = manifest_digest(manifest)  # as that older module's own manifest would be
    (old / "microgpt.json").write_text(json.dumps(manifest))
    proc = run("evaluate", str(old), str(train), *cols, "--format", "json")
    assert proc.returncode == 0 and "training data" not in proc.stderr


def test_issue_12_extract_guard_rails_context_task_hint_and_whole_documents(tmp_path):
    bookings, invoices = EXAMPLES / "bookings.jsonl", EXAMPLES / "invoices.jsonl"
    lines = error_lines(run("train", str(bookings), "--out", str(tmp_path / "b")))
    assert "--task extract" in lines[1] and "--label-col" not in lines[1]
    proc = run("train", str(invoices), "--task", "extract", "--schema", "company, invoice_no, date:date, total:money",
               "--out", str(tmp_path / "inv"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = error_lines(run("predict", str(tmp_path / "inv"), "13", "--context", "peopel"))
    assert "unknown --context slot 'peopel'" in lines[0] and "company, invoice_no, date, total" in lines[1]
    receipt = "Corner Bakery Ltd\r\n12 High Street, Leeds\r\nReceipt R-20931\r\nDate: 14/03/2025\r\nTOTAL: $10.80\r\n"
    proc = run("predict", str(tmp_path / "inv"), "--whole", "-", stdin=receipt)
    assert proc.returncode == 0, proc.stderr
    found = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(found) == 1 and found[0]["fields"]["total"] == {"amount": "10.80", "currency": "USD"}
    assert all(found[0]["text"][s["start"] : s["end"]] == s["text"] for s in found[0]["spans"])
    out = tmp_path / "fields.csv"
    assert run("predict", str(tmp_path / "inv"), str(invoices), "--out", str(out)).returncode == 0
    row = next(csv.DictReader(out.open()))
    assert {"text", "company", "invoice_no", "date", "total"} <= set(row) and row["company"]


def test_issue_12_config_takes_a_file_like_schema(tmp_path):
    (tmp_path / "settings.json").write_text('{"nano": {"nope": 1}}')
    lines = error_lines(run("train", str(HELPDESK), "--config", str(tmp_path / "settings.json"), "--out", "m"))
    assert "nope" in lines[0]  # the file was read: its typo is the error
    lines = error_lines(run("train", str(HELPDESK), "--config", str(tmp_path / "absent.json"), "--out", "m"))
    assert "neither a JSON object nor an existing file" in lines[0]


def test_issue_12_a_tier_without_its_extra_names_the_pip_install(tmp_path):
    code = (
        "import sys\n"
        "class NoTorch:  # as if torch were not installed\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "import microgpt\n"
        "try:\n"
        "    microgpt.Classifier('micro').fit(['a b', 'c d', 'a c', 'b d'], ['x', 'y', 'x', 'y'])\n"
        "except microgpt.MicroGPTError as err:\n"
        "    print(type(err).__name__, '|', err.message, '|', err.hint)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert "MissingExtraError" in proc.stdout and "pip install 'microgpt[micro]'" in proc.stdout, proc.stderr


def test_issue_12_llm_prices_are_per_1m_tokens_and_the_old_names_still_read(monkeypatch, caplog):
    base = {"MICROGPT_LLM_BASE_URL": "http://127.0.0.1:9/v1", "MICROGPT_LLM_MODEL": "m"}
    for key, value in base.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MICROGPT_LLM_PRICE_IN_PER_1M", "0.15")
    monkeypatch.setenv("MICROGPT_LLM_PRICE_OUT_PER_1M", "0.60")
    config = FallbackConfig.from_env()
    assert (config.price_in_per_1m, config.price_out_per_1m) == (0.15, 0.60)
    monkeypatch.delenv("MICROGPT_LLM_PRICE_IN_PER_1M")
    monkeypatch.setenv("MICROGPT_LLM_PRICE_IN", "0.00015")  # the old per-1k name
    with caplog.at_level(logging.WARNING, logger="microgpt.routing.llm"):
        config = FallbackConfig.from_env()
    assert config.price_in_per_1m == pytest.approx(0.15) and "MICROGPT_LLM_PRICE_IN_PER_1M" in caplog.text


def test_issue_12_shell_completion_completes_commands_and_choices():
    env = {**os.environ, "_MICROGPT_COMPLETE": "complete_bash", "COMP_WORDS": "microgpt train x.csv --tier ",
           "COMP_CWORD": "4"}  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "microgpt"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["nano", "micro", "auto"], proc.stderr
