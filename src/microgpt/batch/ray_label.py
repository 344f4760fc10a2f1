"""LLM labelling on Ray: the teacher's calls spread over Ray workers, with one concurrency cap and one spend budget
for all of them (a `Ledger` actor every worker reserves with before a call and settles with after it).

    with ray_teacher(config, labels, examples, per_label, workers=16, address=None) as (answers, usage):
        for i, answer in answers(texts): ...     # (index, TeacherAnswer | FallbackError), in input order
        usage()                                  # calls, failures, tokens_in, tokens_out, spent_usd — of every worker

The store writes stay with the caller (lifecycle.label), in input order, exactly as in-process labelling does them.
"""

from __future__ import annotations

import contextlib
import math
import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from microgpt.batch.ray_engine import ray_session
from microgpt.routing.llm import BudgetExceeded, ChatResult, FallbackConfig, LLMClient, Message

Answers = Callable[[Sequence[str]], Iterator[tuple[int, Any]]]


class Ledger:
    """One spend budget across workers (a Ray actor): calls reserve their most possible cost first, as
    `LLMClient` does in one process, so concurrent workers cannot overshoot the budget together."""

    def __init__(self, budget_usd: float | None) -> None:
        self.budget = budget_usd
        self.spent = self.reserved = 0.0
        self.calls = self.failures = self.tokens_in = self.tokens_out = 0

    def reserve(self, estimate: float) -> tuple[bool, float]:
        if self.budget is not None and self.spent + self.reserved + estimate > self.budget:
            self.failures += 1
            return False, self.spent
        self.reserved += estimate
        return True, self.spent

    def settle(self, estimate: float, cost: float | None, tokens_in: int = 0, tokens_out: int = 0) -> None:
        self.reserved -= estimate
        if cost is None:  # the call failed
            self.failures += 1
            return
        self.spent += cost
        self.calls += 1
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out

    def usage(self) -> dict[str, float | int]:
        return {"calls": self.calls, "failures": self.failures, "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out, "spent_usd": self.spent}  # fmt: skip


class SharedBudgetClient(LLMClient):
    """An `LLMClient` whose budget is the cluster's `Ledger`, not its own."""

    def __init__(self, config: FallbackConfig, ledger: Any) -> None:
        super().__init__(config.model_copy(update={"budget_usd": None}))
        self.shared_budget = config.budget_usd
        self.ledger = ledger

    def chat(self, messages: Sequence[Message], max_tokens: int | None = None) -> ChatResult:
        import ray

        estimate = self.estimate_cost(messages, max_tokens)
        ok, spent = ray.get(self.ledger.reserve.remote(estimate))
        if not ok:
            raise BudgetExceeded(
                f"the fallback budget of ${self.shared_budget:.4f} would be passed: ${spent:.4f} spent, "
                f"this call could cost ${estimate:.4f}",
                hint="raise it (MICROGPT_LLM_BUDGET_USD or --budget-usd); the items stay queued for review",
            )
        try:
            result = super().chat(messages, max_tokens)
        except BaseException:
            ray.get(self.ledger.settle.remote(estimate, None))
            raise
        ray.get(self.ledger.settle.remote(estimate, result.cost_usd, result.prompt_tokens, result.completion_tokens))
        return result


class Labeller:
    """The stateful `map_batches` function: one teacher per worker, `threads` calls in flight in it."""

    def __init__(self, config: FallbackConfig, labels: list[str], examples: dict[str, list[str]], per_label: int,
                 threads: int, ledger: Any) -> None:  # fmt: skip
        from microgpt.routing.teacher import LabelTeacher

        self.teacher = LabelTeacher(SharedBudgetClient(config, ledger), labels, examples, per_label=per_label)
        self.threads = threads

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        texts = [str(t) for t in batch["text"]]
        answers = [pickle.dumps(a) for _, a in self.teacher.iter_label(texts, workers=self.threads)]
        return {"i": batch["i"], "answer": answers}


@contextlib.contextmanager
def ray_teacher(
    config: FallbackConfig,
    labels: Sequence[str],
    examples: Mapping[str, Sequence[str]] | None,
    per_label: int,
    workers: int,
    address: str | None = None,
) -> Iterator[tuple[Answers, Callable[[], dict[str, Any]]]]:
    """(answers(texts), usage()) on Ray: at most `workers` calls in flight across the cluster, one budget."""
    with ray_session(address, None if address else min(workers, 4)) as ray:
        ledger = ray.remote(num_cpus=0)(Ledger).remote(config.budget_usd)
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        actors = max(1, min(workers, cpus))
        threads = max(1, workers // actors)  # actors x threads <= workers: the cap holds across the cluster

        def answers(texts: Sequence[str]) -> Iterator[tuple[int, Any]]:
            ctx = ray.data.DataContext.get_current()
            ctx.execution_options.preserve_order = True
            ctx.enable_progress_bars = False
            ds = ray.data.from_items([{"i": i, "text": t} for i, t in enumerate(texts)])
            out = ds.map_batches(
                Labeller,
                fn_constructor_args=(
                    config,
                    list(labels),
                    {k: list(v) for k, v in (examples or {}).items()},
                    per_label,
                    threads,
                    ledger,
                ),
                batch_size=max(threads * 4, math.ceil(len(texts) / (actors * 8)) or 1),
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=0,  # waiting on HTTP: the CPUs stay free for other work
            )
            for row in out.iter_rows():
                yield int(row["i"]), pickle.loads(row["answer"])  # our own workers' objects

        yield answers, lambda: ray.get(ledger.usage.remote())
