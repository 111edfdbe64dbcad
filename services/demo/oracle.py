"""The corpus oracle: an OpenAI-compatible ``POST /chat/completions`` endpoint on 127.0.0.1 that
answers each message with its gold label from the synthetic corpus.

The quick demo's labeler talks to it through its real LLM adapter (``fleet labeler run
--teacher llm:<url>#corpus-oracle``, the path a DeepSeek endpoint takes), so the distiller gets
labels a student can learn from without a teacher model to load. The standard library's
``http.server`` is enough for one local client; the labeler retries what fails.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from services.errors import ServiceError

MODEL = "corpus-oracle"


def gold_labels(corpus: Path) -> dict[str, str]:
    """Text -> gold label over every phase and split of a ``fleet data synth`` corpus."""
    labels: dict[str, str] = {}
    for path in sorted(corpus.glob("phase*/*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            row = json.loads(line)
            labels[row["text"]] = row["label"]
    if not labels:
        raise ServiceError(f"no labeled texts under {corpus}")
    return labels


class CorpusOracle:
    """Serves ``gold`` until :meth:`close`; ``url`` is the base URL for the labeler."""

    def __init__(self, gold: dict[str, str]) -> None:
        self.gold = gold
        self.labels = sorted(set(gold.values()))
        self.answered = 0  # requests answered with a gold label
        self.unknown = 0  # texts not in the corpus, answered with the most common label (a
        # refusal would fail the labeler's whole batch again and again)
        counts: dict[str, int] = {}
        for label in gold.values():
            counts[label] = counts.get(label, 0) + 1
        fallback = max(counts, key=lambda label: counts[label])
        oracle = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                    body = json.loads(self.rfile.read(length))
                    text = body["messages"][-1]["content"]
                except (ValueError, KeyError, IndexError, TypeError):
                    self._answer(400, {"error": {"message": "not a chat-completions request"}})
                    return
                if not self.path.endswith("/chat/completions"):
                    self._answer(404, {"error": {"message": f"no such endpoint {self.path}"}})
                    return
                label = oracle.gold.get(text)
                if label is None:
                    oracle.unknown += 1
                    label = fallback
                else:
                    oracle.answered += 1
                message = {"role": "assistant", "content": label}
                self._answer(200, {"model": MODEL, "choices": [{"index": 0, "message": message}]})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass  # one line per label would drown the demo's output

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="corpus-oracle", daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    @property
    def teacher(self) -> str:
        """The labeler's ``--teacher`` for this endpoint."""
        return f"llm:{self.url}#{MODEL}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
