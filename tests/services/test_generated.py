"""The shared writer of committed, generated files (schemas, dashboards)."""

from __future__ import annotations

from services.generated import export_main, write_files


def test_write_files_creates_the_folder_and_writes_utf8(tmp_path):
    target = tmp_path / "a" / "b"
    paths = write_files({"x.json": '{"标签": 1}\n', "y.json": "{}\n"}, target)
    assert paths == [target / "x.json", target / "y.json"]
    assert (target / "x.json").read_bytes() == '{"标签": 1}\n'.encode()


def test_export_main_writes_to_the_given_or_the_default_folder(tmp_path, capsys):
    render = lambda: {"z.json": "[]\n"}  # noqa: E731
    export_main(render, tmp_path / "default", [str(tmp_path / "given")])
    assert (tmp_path / "given" / "z.json").read_text() == "[]\n"
    assert not (tmp_path / "default").exists()
    export_main(render, tmp_path / "default", [])
    assert (tmp_path / "default" / "z.json").is_file()
    assert capsys.readouterr().out.splitlines() == [
        str(tmp_path / "given" / "z.json"),
        str(tmp_path / "default" / "z.json"),
    ]
