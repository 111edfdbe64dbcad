"""The tokenizer against docs/tokenizer.md: one test per rule, an independent oracle, the
golden file, and properties over arbitrary bytes."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.golden.tokenizer import golden_lines
from benchmarks.golden.tokenizer import main as write_golden_main
from models.errors import ConfigError
from models.tokenizer import Tokenizer, fnv1a32, key_id, main, v1_ids

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "tokenizer.jsonl"


class V1View:
    """The tokenizer seen through spec v1: token hashes mapped to ids at ``vocab_size``."""

    def __init__(self, vocab_size: int = 2048, max_len: int = 64) -> None:
        self.tokenizer = Tokenizer(max_len=max_len)
        self.vocab_size = vocab_size
        v1_ids([], vocab_size)  # validates vocab_size

    def encode(self, data: str | bytes) -> list[int]:
        return v1_ids(self.tokenizer.encode(data), self.vocab_size)

    def tokens(self, data: str | bytes) -> list[bytes]:
        return self.tokenizer.tokens(data)

    def encode_with_spans(self, text: str) -> list[tuple[int, int, int]]:
        return self.tokenizer.encode_with_spans(text)


def make_tokenizer(vocab_size: int = 2048, max_len: int = 64) -> V1View:
    return V1View(vocab_size=vocab_size, max_len=max_len)


def ids_of(*keys: str, vocab_size: int = 2048) -> list[int]:
    return [key_id(k.encode(), vocab_size) for k in keys]


# --- an independent oracle: Python's strict codec for decoding, regex-free grouping -------

_SPACE_RANGES = [
    (0x0000, 0x0020), (0x007F, 0x00A0), (0x00AD, 0x00AD), (0x1680, 0x1680), (0x180E, 0x180E),
    (0x2000, 0x200F), (0x2028, 0x202F), (0x205F, 0x206F), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFC), (0xE0000, 0xE007F),
]  # fmt: skip


def oracle_keys(data: bytes, max_len: int) -> list[bytes]:
    chars: list[str | None] = []  # None = separator
    i = 0
    while i < len(data):
        for k in (1, 2, 3, 4):  # a valid sequence is the only prefix that decodes strictly
            try:
                ch = data[i : i + k].decode("utf-8")
            except UnicodeDecodeError:
                continue
            chars.append(ch)
            i += k
            break
        else:
            chars.append(None)
            i += 1
    classes = []
    for ch in chars:
        if ch is None:
            classes.append(("space", ""))
            continue
        cp = ord(ch)
        if 0xFF01 <= cp <= 0xFF5E:
            cp -= 0xFEE0
        if cp == 0x3000:
            cp = 0x20
        c = chr(cp).lower() if chr(cp).isascii() else chr(cp)
        if "a" <= c <= "z":
            classes.append(("letter", c))
        elif "0" <= c <= "9":
            classes.append(("digit", c))
        elif any(lo <= ord(c) <= hi for lo, hi in _SPACE_RANGES):
            classes.append(("space", ""))
        else:
            classes.append(("single", c))
    keys: list[bytes] = []
    for kind, group in itertools.groupby(classes, key=lambda item: item[0]):
        items = [c for _, c in group]
        if kind == "letter":
            keys.append("".join(items).encode())
        elif kind == "digit":
            keys.append(f"#{min(len(items), 10)}".encode())
        elif kind == "single":
            keys.extend(c.encode() for c in items)
    return keys[:max_len]


# --- section 5: hash ---------------------------------------------------------------------


def test_fnv1a32_matches_published_vectors():
    assert fnv1a32(b"") == 0x811C9DC5
    assert fnv1a32(b"a") == 0xE40C292C
    assert fnv1a32(b"foobar") == 0xBF9CF968


def test_ids_are_reserved_offset_hash():
    tok = make_tokenizer(vocab_size=100)
    assert tok.encode("foobar") == [2 + 0xBF9CF968 % 98]


# --- sections 1-4 rules --------------------------------------------------------------------


def test_seed_example_splits_letters_from_digits():
    tok = make_tokenizer()
    assert tok.tokens("DH20231125") == [b"dh", b"#8"]
    assert tok.encode("DH20231125") == ids_of("dh", "#8")
    keys = tok.tokens("物流订单号DH20231125状态更新")
    assert keys == [c.encode() for c in "物流订单号"] + [b"dh", b"#8"] + [
        c.encode() for c in "状态更新"
    ]


def test_fold_full_width_ascii_and_case():
    tok = make_tokenizer()
    assert tok.tokens("ＤＨ２０２３") == [b"dh", b"#4"]
    assert tok.tokens("Ａ，ｂ！") == [b"a", b",", b"b", b"!"]
    assert tok.encode("HeLLo") == tok.encode("hello") == tok.encode("ＨＥＬＬＯ")
    # just outside the full-width block: not folded, a SINGLE
    assert tok.tokens("\uff5f") == ["\uff5f".encode()]


def test_ideographic_space_is_space():
    keys = make_tokenizer().tokens("上\u3000海ab\u3000cd")
    assert keys == ["上".encode(), "海".encode(), b"ab", b"cd"]


@pytest.mark.parametrize("n", range(1, 16))
def test_number_buckets_by_length(n):
    assert make_tokenizer().tokens("7" * n) == [f"#{min(n, 10)}".encode()]


def test_number_key_never_collides_with_hash_sign():
    tok = make_tokenizer()
    assert tok.tokens("#1") == [b"#", b"#1"]
    assert tok.tokens("x1.5") == [b"x", b"#1", b".", b"#1"]


@pytest.mark.parametrize(
    "space",
    ["\t", "\n", "\x00", "\x7f", "\x85", "\u00a0", "\u00ad", "\u1680", "\u180e", "\u200b",
     "\u200d", "\u2028", "\u202f", "\u205f", "\u2060", "\ufe0f", "\ufeff", "\ufffb",
     "\U000e0041"],
)  # fmt: skip
def test_space_class_is_dropped_and_separates(space):
    assert make_tokenizer().tokens(f"ab{space}cd") == [b"ab", b"cd"]


@pytest.mark.parametrize(
    "single", ["、", "。", "中", "é", "ß", "日", "😀", "\u2010", "\u2070", "\ufff8", "\ufffd", "٣"]
)
def test_single_class_is_one_token_each(single):
    assert make_tokenizer().tokens(f"ab{single}{single}cd") == [
        b"ab",
        single.encode(),
        single.encode(),
        b"cd",
    ]


def test_emoji_sequences_split_into_code_points():
    tok = make_tokenizer()
    family = "👨\u200d👩\u200d👧"  # ZWJ is SPACE
    assert tok.tokens(family) == [e.encode() for e in "👨👩👧"]
    assert tok.tokens("❤️") == ["❤".encode()]  # variation selector dropped
    assert tok.tokens("👍🏽") == ["👍".encode(), "🏽".encode()]


@pytest.mark.parametrize(
    ("data", "keys"),
    [
        (b"ab\x80cd", [b"ab", b"cd"]),  # stray continuation byte separates
        (b"ab\xffcd", [b"ab", b"cd"]),  # F5..FF
        (b"ab\xc0\xafcd", [b"ab", b"cd"]),  # overlong '/': C0 skipped, AF skipped
        (b"12\xe0\x80\x8034", [b"#2", b"#2"]),  # overlong 3-byte
        (b"a\xed\xa0\x80b", [b"a", b"b"]),  # surrogate D800
        (b"a\xe4\xb8b", [b"a", b"b"]),  # truncated 3-byte sequence, then a valid 'b'
        (b"a\xe4\xb8", [b"a"]),  # input ends early
        (b"a\xf4\x90\x80\x80b", [b"a", b"b"]),  # above U+10FFFF
        (b"\xe4\xb8\xad", ["中".encode()]),
        (b"\xf4\x8f\xbf\xbf", ["\U0010ffff".encode()]),
    ],
)
def test_invalid_utf8_skips_one_byte_as_separator(data, keys):
    assert make_tokenizer().tokens(data) == keys


def test_str_with_lone_surrogate_does_not_raise():
    assert make_tokenizer().tokens("ab\ud800cd") == [b"ab", b"cd"]


# --- section 6 and parameters ---------------------------------------------------------------


def test_truncates_after_max_len_tokens():
    tok = make_tokenizer(max_len=3)
    assert tok.tokens("a b c d e") == [b"a", b"b", b"c"]
    assert make_tokenizer().encode("") == []
    assert len(make_tokenizer().encode("字" * 5000)) == 64


@pytest.mark.parametrize(
    "kwargs", [{"vocab_size": 15}, {"vocab_size": 65536}, {"max_len": 0}, {"max_len": 1025}]
)
def test_constructor_rejects_out_of_range(kwargs):
    with pytest.raises(ConfigError, match="must be an int in"):
        make_tokenizer(**kwargs)


def test_spans_point_into_the_str():
    text = "订单ＤＨ2023 已到达😀"
    tok = make_tokenizer()
    spans = tok.encode_with_spans(text)
    assert [h for h, _, _ in spans] == tok.tokenizer.encode(text)
    assert [text[a:b] for _, a, b in spans] == ["订", "单", "ＤＨ", "2023", "已", "到", "达", "😀"]


# --- golden file ----------------------------------------------------------------------------


def test_golden_file_is_current():
    assert GOLDEN.read_text(encoding="ascii").splitlines() == golden_lines()


def test_golden_cases_match_and_cover_the_contract():
    lines = GOLDEN.read_text(encoding="ascii").splitlines()
    header = json.loads(lines[0])
    cases = [json.loads(line) for line in lines[1:]]
    assert header["spec_version"] == 1
    assert header["count"] == len(cases) >= 500
    for case in cases:
        data = bytes.fromhex(case["hex"])
        tok = make_tokenizer(case["vocab_size"], case["max_len"])
        assert tok.tokenizer.encode(data) == case["hashes"], case["hex"]
        assert [fnv1a32(k) for k in oracle_keys(data, case["max_len"])] == case["hashes"]
        assert tok.encode(data) == case["ids"] == v1_ids(case["hashes"], case["vocab_size"])
        assert tok.tokens(data) == oracle_keys(data, case["max_len"]), case["hex"]
    assert any(len(c["hex"]) > 8192 for c in cases)
    assert any(len(c["ids"]) == c["max_len"] for c in cases)
    assert {(c["vocab_size"], c["max_len"]) for c in cases} > {(2048, 64), (16, 1), (65535, 1024)}


def test_cli_writes_golden_file(tmp_path, capsys):
    out = tmp_path / "g.jsonl"
    assert write_golden_main([str(out)]) == 0
    assert out.read_bytes() == GOLDEN.read_bytes()
    assert main(["DH1"]) == 0
    assert "dh" in capsys.readouterr().out


# --- properties ------------------------------------------------------------------------------

_bytes_with_utf8 = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.lists(
        st.sampled_from([b"\xe4\xb8\xad", b"AB", b"12", b" ", b"\xef\xbc\xa1", b"\xed\xa0\x80",
                         b"\xf0\x9f\x98\x80", b"\x80", b"\xe4", b"\xff", b"#"]),
        max_size=80,
    ).map(b"".join),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    data=_bytes_with_utf8,
    vocab_size=st.integers(16, 65535),
    max_len=st.integers(1, 1024),
)
def test_any_bytes_match_oracle_within_range(data, vocab_size, max_len):
    tok = make_tokenizer(vocab_size, max_len)
    ids = tok.encode(data)
    assert ids == tok.encode(data)  # deterministic
    assert len(ids) <= max_len
    assert all(2 <= i < vocab_size for i in ids)
    assert tok.tokens(data) == oracle_keys(data, max_len)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_any_str_spans_are_consistent(text):
    tok = make_tokenizer()
    spans = tok.encode_with_spans(text)
    assert [h for h, _, _ in spans] == tok.tokenizer.encode(text)
    assert all(0 <= a < b <= len(text) for _, a, b in spans)
    assert all(a >= prev_b for (_, _, prev_b), (_, a, _) in itertools.pairwise(spans))
