"""The Markdown of the repository links only to files and headings that exist."""
import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("check_links", ROOT / "scripts" / "check_links.py")
check_links = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_links)


def test_every_relative_link_resolves():
    assert list(check_links.bad_links(ROOT)) == []


def test_a_missing_file_and_a_missing_heading_are_caught(tmp_path):
    (tmp_path / "a.md").write_text("# Title\n[ok](#title) [gone](b.md) [no](#nowhere)\n")
    assert sorted(check_links.bad_links(tmp_path)) == [
        "a.md: missing b.md",
        "a.md: no anchor #nowhere",
    ]
