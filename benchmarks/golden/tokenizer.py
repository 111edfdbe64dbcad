"""Golden vectors for the tokenizer (`tests/golden/tokenizer.jsonl`), checked by Python and C.

The cases are deterministic (a fixed seed and fixed lists), so regenerating gives the same
file byte for byte; `tests/models/test_tokenizer.py` checks that the file is current.

    python -m benchmarks.golden.tokenizer tests/golden/tokenizer.jsonl
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from models.tokenizer import SPEC_VERSION, Tokenizer, v1_ids

GENERATOR_VERSION = 1  # bump when the case list changes
CREATED_BY = "python -m benchmarks.golden.tokenizer tests/golden/tokenizer.jsonl"
SEED = 20231125
RANDOM_CASES = 420

TEXTS: tuple[str, ...] = (
    "",
    " ",
    "\t\r\n",
    "物流订单号DH20231125状态更新",
    "上海仓库存预警通知",
    "hello world",
    "Hello, World!",
    "DH20231125",
    "SF1234567890",
    "ＤＨ２０２３１１２５",
    "Ａｂｃ　ｘｙｚ",
    "ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ",
    "！＂＃＄％＆＇（）＊＋，－．／：；＜＝＞？＠［＼］＾＿｀｛｜｝～",
    "a1b2c3",
    "#",
    "#1",
    "##12",
    "3.14159",
    "v2.0-rc1",
    "1 22 333 4444 55555 666666 7777777 88888888 999999999 1234567890 12345678901 123456789012",
    "订单12345已发货，预计3天内送达。",
    "您的快递已到达【北京朝阳区】派送点",
    "顺丰SF1234567890 已签收 签收人：本人",
    "Package delayed due to weather, ETA 2023-11-28 14:30",
    "紧急!!! 广州仓 SKU-A1029 库存仅剩 5 件",
    "清关中 customs clearance pending, 请补充发票 invoice",
    "Return request #RMA-88231 退货 refund 99.50 USD",
    "地址变更：请改送至 杭州市西湖区文三路 138 号",
    "日本語のテキスト、カタカナ、ひらがな",
    "한국어 배송 조회",
    "Ünïcödé àccents çà et là — naïve café",
    "Привет мир",
    "مرحبا",
    "٠١٢٣٤٥٦٧٨٩",
    "😀",
    "📦🚚✅",
    "👨‍👩‍👧‍👦",
    "❤️",
    "☺︎ vs ☺️",
    "🇨🇳🇺🇸",
    "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "👍🏽",
    "a\u00a0b\u00adc\u200bd\u200de\ufeff",
    "zero\u2060width\u2061joiners",
    "line\u2028sep\u2029para",
    "\u3000全角空格\u3000",
    "Ａ１！　ａ",
    "𠀀𠀁𪚥",
    "\x00\x01\x1f\x7f\x80\x9f",
    "tab\tand\nnewline\r\nend",
    "MiXeD CaSe WoRdS",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
)

INVALID_HEX: tuple[str, ...] = (
    "80",
    "bf",
    "8080808080",
    "c0",
    "c080",
    "c1bf",
    "c2",
    "c27f",
    "c2c0",
    "c280",
    "dfbf",
    "e08080",
    "e09fbf",
    "e0a080",
    "e0a0",
    "e4b8",
    "e4b841",
    "e4b8ade4",
    "eda080",
    "edbfbf",
    "ed9fbf",
    "edb080",
    "eda0bdedb880",
    "ee8080",
    "efbfbf",
    "efbfbd",
    "f0808080",
    "f08fbfbf",
    "f0908080",
    "f09f98",
    "f09f9880",
    "f1808080",
    "f3bfbfbf",
    "f48fbfbf",
    "f4908080",
    "f5808080",
    "f8",
    "fc",
    "fe",
    "ff",
    "fffe",
    "61ff62",
    "61806263",
    "64684c20c0af3132",
    "e4b8ad80e69687",
    "313233ff343536",
    "e4b8ade5",
    "41e2808b42",
    "c3a9c3",
    "f09f",
    "e2",
    "0061",
    "ed",
    "f4",
    "e0",
    "f0",
)


def _boundary_texts() -> list[str]:
    """One code point on each side of every range edge of sections 2 and 3."""
    edges = (
        0x1F, 0x20, 0x21, 0x23, 0x2F, 0x30, 0x39, 0x3A, 0x40, 0x41, 0x5A, 0x5B, 0x60, 0x61,
        0x7A, 0x7B, 0x7E, 0x7F, 0x80, 0x9F, 0xA0, 0xA1, 0xAC, 0xAD, 0xAE, 0xFF, 0x167F,
        0x1680, 0x1681, 0x180D, 0x180E, 0x180F, 0x1FFF, 0x2000, 0x200F, 0x2010, 0x2027,
        0x2028, 0x202F, 0x2030, 0x205E, 0x205F, 0x206F, 0x2070, 0x2FFF, 0x3000, 0x3001,
        0xD7FF, 0xE000, 0xFDFF, 0xFE00, 0xFE0F, 0xFE10, 0xFEFE, 0xFEFF, 0xFF00, 0xFF01,
        0xFF10, 0xFF19, 0xFF21, 0xFF3A, 0xFF41, 0xFF5A, 0xFF5E, 0xFF5F, 0xFFF8, 0xFFF9,
        0xFFFC, 0xFFFD, 0xFFFF, 0x10000, 0xDFFFF, 0xE0000, 0xE007F, 0xE0080, 0x10FFFF,
    )  # fmt: skip
    return [f"x{chr(cp)}y{chr(cp)}1{chr(cp)}" for cp in edges]


# Fragments the random cases are built from.
_WORDS = ("order", "SF", "DH", "delayed", "Shanghai", "ETA", "sku", "Qty", "express", "ok")
_CJK = (
    "物流订单号状态更新上海仓库存预警通知运输中已签收"
    "延误异常紧急清关退货地址变更拦截北京广州深圳杭州"
)
_FULLWIDTH = "ＡＢＣＸＹＺａｂｃｘｙｚ０１２３４５６７８９！（），：；＃"
_EMOJI = ("😀", "📦", "🚚", "✅", "⚠️", "❗", "👨\u200d💻", "👍🏻", "🇨🇳", "\ufe0f", "\u200d")
_SPACES = (" ", "  ", "\t", "\n", "\u3000", "\u00a0", "\u200b", "\u2003", "\ufeff")
_PUNCT = "#,.;:!?-_/()[]【】，。！？：；、“”《》@$%&*+=~`'\"\\|<>"


def _random_fragment(rng: random.Random) -> bytes:
    kind = rng.randrange(9)
    if kind == 0:
        return _WORDS[rng.randrange(len(_WORDS))].encode()
    if kind == 1:
        return str(rng.randrange(10 ** rng.randrange(1, 16))).encode()
    if kind == 2:
        return "".join(_CJK[rng.randrange(len(_CJK))] for _ in range(rng.randrange(1, 6))).encode()
    if kind == 3:
        return _FULLWIDTH[rng.randrange(len(_FULLWIDTH))].encode()
    if kind == 4:
        return _EMOJI[rng.randrange(len(_EMOJI))].encode()
    if kind == 5:
        return _SPACES[rng.randrange(len(_SPACES))].encode()
    if kind == 6:
        return _PUNCT[rng.randrange(len(_PUNCT))].encode()
    if kind == 7:  # raw bytes, mostly invalid UTF-8
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5)))
    # a random code point from the whole range, surrogates included (encoded as raw bytes)
    return chr(rng.randrange(0x110000)).encode("utf-8", "surrogatepass")


def _random_inputs(rng: random.Random, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        n = rng.choice((1, 2, 3, 5, 8, 13, 21, 40))
        out.append(b"".join(_random_fragment(rng) for _ in range(n)))
    return out


def _long_inputs(rng: random.Random) -> list[bytes]:
    """Inputs longer than L tokens and longer than 4 KB."""
    out = [
        ("物流" * 40).encode(),
        ("word " * 63 + "last").encode(),
        ("word " * 64 + "last").encode(),
        ("word " * 65).encode(),
        ("上海仓库存预警通知 DH20231125 " * 300).encode(),  # > 4 KB
        ("a" * 5000).encode(),
        ("1" * 5000).encode(),
        b"\xff" * 5000 + b"tail",
    ]
    out.append(b"".join(_random_fragment(rng) for _ in range(2000)))
    return out


def golden_cases() -> list[dict[str, object]]:
    """All cases, in file order: ``{"hex", "vocab_size", "max_len", "hashes", "ids"}`` (the
    token key hashes of spec v2, and their spec v1 ids at ``vocab_size``)."""
    rng = random.Random(SEED)
    inputs: list[tuple[bytes, int, int]] = []
    default = (2048, 64)
    inputs += [(t.encode("utf-8", "surrogatepass"), *default) for t in TEXTS]
    inputs += [(bytes.fromhex(h), *default) for h in INVALID_HEX]
    inputs += [(t.encode("utf-8", "surrogatepass"), *default) for t in _boundary_texts()]
    inputs += [(data, *default) for data in _long_inputs(rng)]
    inputs += [(data, *default) for data in _random_inputs(rng, RANDOM_CASES)]
    # Non-default parameters: the extremes of both ranges and a few in between.
    params = ((16, 1), (16, 64), (17, 3), (97, 16), (4096, 128), (65535, 1024), (2048, 1))
    samples = [t.encode() for t in TEXTS[3:12]] + _random_inputs(rng, 12)
    for k, data in enumerate(samples):
        vocab_size, max_len = params[k % len(params)]
        inputs.append((data, vocab_size, max_len))
    inputs.append((("物流 " * 600).encode(), 65535, 1024))
    cases: list[dict[str, object]] = []
    for data, vocab_size, max_len in inputs:
        hashes = Tokenizer(max_len).encode(data)
        ids = v1_ids(hashes, vocab_size)
        cases.append({"hex": data.hex(), "vocab_size": vocab_size, "max_len": max_len,
                      "hashes": hashes, "ids": ids})  # fmt: skip
    return cases


def golden_lines() -> list[str]:
    """The file's lines (without newlines): a header object, then one case per line."""
    cases = golden_cases()
    header = {
        "generator": "benchmarks.golden.tokenizer",
        "generator_version": GENERATOR_VERSION,
        "spec_version": SPEC_VERSION,
        "count": len(cases),
        "created_by": CREATED_BY,
    }
    return [json.dumps(header)] + [json.dumps(case) for case in cases]


def write_golden(path: str | Path) -> int:
    """Write the golden file; return the number of cases."""
    lines = golden_lines()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n", encoding="ascii")
    return len(lines) - 1


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.golden.tokenizer", description=__doc__
    )
    parser.add_argument("path", type=Path, help="the golden file to write")
    args = parser.parse_args(argv)
    count = write_golden(args.path)
    print(f"wrote {count} cases to {args.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
