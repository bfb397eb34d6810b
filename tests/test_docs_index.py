"""docs/index.md links every page under docs/, and every relative link in docs/ resolves."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_index_links_every_page():
    linked = {(DOCS / m).resolve() for m in LINK.findall((DOCS / "index.md").read_text())}
    pages = {p.resolve() for p in DOCS.rglob("*.md") if p.name != "index.md"}
    assert not pages - linked, f"docs/index.md does not link: {sorted(str(p.relative_to(DOCS)) for p in pages - linked)}"


def test_relative_links_resolve():
    broken = []
    for page in [ROOT / "README.md", DOCS / "design.md", DOCS / "references.md", DOCS / "index.md"]:
        for target in LINK.findall(page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, "\n".join(broken)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_cited_anchors_exist():
    import subprocess

    anchors = {name: {_slug(h) for h in re.findall(r"^#+ (.+)$", (DOCS / name).read_text(), re.M)}
               for name in ("design.md", "references.md")}
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    bad = []
    for rel in files:
        if not rel.endswith((".py", ".md", ".sh", ".toml")):
            continue
        text = (ROOT / rel).read_text(errors="replace") if (ROOT / rel).is_file() else ""
        for name, anchor in re.findall(r"\b(design\.md|references\.md)#([\w-]+)", text):
            if anchor not in anchors[name]:
                bad.append(f"{rel}: {name}#{anchor}")
    assert not bad, "\n".join(bad)
