"""Teacher fixtures: the e5-small conversion runs once per test session, into a temporary
cache, so every session exercises the real conversion path."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from models.teacher import Teacher, ensure_e5_small

LABELS = ["运输中", "已签收", "异常"]  # label set of the fake chat-completions endpoint

MIXED_TEXTS = [
    "物流订单号DH20231125状态更新",
    "上海仓库存预警通知",
    "Ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ１２３ parcel scanned",
    "ＤＨＬ快递单号：１２３４５６，请注意查收！",
    "the parcel was delayed at the Shenzhen hub",
    "订单已签收，感谢使用顺丰速运",
    "Truck 7 ETA 14:30, 延误30分钟",
    "warehouse  inventory\talert\n重复空格",
    "退货申请已通过，退款将在3个工作日内到账",
    "hello world",
]


@pytest.fixture(scope="session", autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def teacher_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache directory holding the converted e5-small folder (converted once, and removed
    at the end of the session: it is ~500 MB)."""
    cache = tmp_path_factory.mktemp("teacher-cache")
    ensure_e5_small(cache)
    yield cache
    shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(scope="session")
def teacher_factory(teacher_cache: Path) -> Callable[..., Teacher]:
    """Build teachers; ``e5-small`` comes from the session's converted cache."""

    def make(source: str | Path = "e5-small", **kwargs) -> Teacher:
        return Teacher(source, cache_dir=teacher_cache, **kwargs)

    return make


@pytest.fixture(scope="session")
def e5_teacher(teacher_factory: Callable[..., Teacher]) -> Teacher:
    """One e5-small teacher with attention maps, shared by read-only tests."""
    return teacher_factory("e5-small", attentions=True)


@pytest.fixture
def tiny_deepseek_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Save a tiny randomly initialised DeepSeek-V3 causal LM and a tiny byte-level BPE
    tokenizer to a folder (no download), as any local decoder-only checkpoint would be."""

    def make(layers: int = 4, seed: int = 0) -> Path:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import DeepseekV3Config, DeepseekV3ForCausalLM, PreTrainedTokenizerFast

        folder = tmp_path_factory.mktemp("tiny-deepseek")
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<pad>", "<s>", "</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        tok.train_from_iterator(["parcel delayed at hub", "订单已签收", "warehouse alert"], trainer)
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
        )
        config = DeepseekV3Config(
            vocab_size=tok.get_vocab_size(),
            hidden_size=32,
            intermediate_size=64,
            moe_intermediate_size=16,
            num_hidden_layers=layers,
            num_attention_heads=2,
            num_key_value_heads=2,
            n_shared_experts=1,
            n_routed_experts=4,
            num_experts_per_tok=2,
            n_group=1,
            topk_group=1,
            first_k_dense_replace=1,
            kv_lora_rank=16,
            q_lora_rank=16,
            qk_rope_head_dim=8,
            qk_nope_head_dim=8,
            v_head_dim=8,
            max_position_embeddings=128,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
        )
        torch.manual_seed(seed)
        DeepseekV3ForCausalLM(config).save_pretrained(folder)
        fast.save_pretrained(folder)
        return folder

    return make


@dataclass
class Script:
    """What the fake endpoint answers, one step per request; the last step repeats."""

    steps: list[tuple[str, object]]
    requests: list[dict] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)


def _reply(content: object) -> bytes:
    body = {"id": "x", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    ]}  # fmt: skip
    return json.dumps(body, ensure_ascii=False).encode()


@pytest.fixture
def chat_server_factory() -> Iterator[Callable[[list[tuple[str, object]]], tuple[str, Script]]]:
    servers: list[ThreadingHTTPServer] = []

    def make(steps: list[tuple[str, object]]) -> tuple[str, Script]:
        script = Script(steps)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                script.requests.append(json.loads(self.rfile.read(length)))
                script.headers.append(dict(self.headers))
                index = min(len(script.requests), len(script.steps)) - 1
                kind, value = script.steps[index]
                if self.path != "/v1/chat/completions":
                    kind, value = "status", 404
                if kind == "sleep":
                    time.sleep(float(value))  # type: ignore[arg-type]
                    kind, value = "reply", LABELS[0]
                if kind == "status":
                    self.send_response(int(value))  # type: ignore[call-overload]
                    self.end_headers()
                    return
                body = _reply(value) if kind == "reply" else str(value).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1", script

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()
