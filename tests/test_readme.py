"""The README is a front page whose Python example runs as printed, and whose links, and the docs' links, lead
somewhere: every relative link names a file that exists and, with a #fragment, a heading it has (GitHub's anchors)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

FENCED_CODE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)|<(?:a|img)\s[^>]*?(?:href|src)=\"([^\"]+)\"")


def test_readmes_python_example_runs(tmp_path, monkeypatch, capsys):
    example = re.search(r"```python\n(.*?)```", README.read_text(), re.DOTALL).group(1)
    assert 'load_data("sample")' in example
    monkeypatch.chdir(tmp_path)
    exec(compile(example, str(README), "exec"), {})  # as printed, in a fresh namespace
    assert re.search(r"^Test accuracy: \d+\.\d%$", capsys.readouterr().out, re.MULTILINE)
    assert (tmp_path / "runs" / "demo" / "model.keras").is_file()


def test_the_readme_is_a_front_page_that_links_every_docs_page():
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    linked = {(README.parent / target).resolve() for target, _ in relative_links(README)}
    assert set(PAGES[1:]) <= linked


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens, and -1, -2...
    after a repeated one."""
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", FENCED_CODE.sub("", text), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchor, repeat = slug, 0
        while anchor in anchors:
            repeat += 1
            anchor = f"{slug}-{repeat}"
        anchors.add(anchor)
    return anchors


def relative_links(page: Path) -> list[tuple[str, str]]:
    """(path, fragment) of each link of `page` that is not a web address, outside code; path "" for the page."""
    prose = INLINE_CODE.sub("", FENCED_CODE.sub("", page.read_text()))
    targets = [markdown or html for markdown, html in LINK.findall(prose)]
    links = []
    for target in targets:
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        links.append((path, fragment))
    return links


def test_heading_anchors_as_github_makes_them():
    text = "# The CLI\n## Why this digit? Explanations\n```sh\n# not a title\n```\n## Data\n## Data\n## `make` & you"
    assert heading_anchors(text) == {"the-cli", "why-this-digit-explanations", "data", "data-1", "make--you"}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(page):
    links = relative_links(page)
    assert links or page != README
    for path, fragment in links:
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{page.name}: {path} does not exist"
        if fragment:
            assert target.suffix == ".md", f"{page.name}: #{fragment} on {path}, which is not a Markdown page"
            assert fragment in heading_anchors(target.read_text()), f"{page.name}: no heading #{fragment} in {path}"
