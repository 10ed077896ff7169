"""Checks that every relative link in the repository's Markdown resolves.

A link names a file that exists and, for `#anchor`, a heading of that file
(anchors made as GitHub makes them). Prints each bad link and a count; exits
1 when any is bad. Usage: python scripts/check_links.py [ROOT]
"""
import pathlib
import re
import sys

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*)")
FENCE = re.compile(r"```.*?```", re.S)


def markdown_files(root):
    skip = {"target", ".git", "node_modules"}
    return [p for p in root.rglob("*.md") if not skip & set(p.relative_to(root).parts)]


def slug(heading):
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path):
    seen = {}
    for line in FENCE.sub("", path.read_text()).split("\n"):
        m = HEADING.match(line)
        if m:
            s = slug(m.group(2))
            seen[s] = seen.get(s, -1) + 1
            yield s if seen[s] == 0 else f"{s}-{seen[s]}"


def bad_links(root):
    for f in markdown_files(root):
        for m in LINK.finditer(FENCE.sub("", f.read_text())):
            link = m.group(1)
            if re.match(r"^[a-z]+:", link):
                continue
            path, _, anchor = link.partition("#")
            target = (f.parent / path).resolve() if path else f
            if not target.exists():
                yield f"{f.relative_to(root)}: missing {link}"
            elif anchor and target.suffix == ".md" and anchor not in set(anchors(target)):
                yield f"{f.relative_to(root)}: no anchor {link}"


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    bad = list(bad_links(root))
    for line in bad:
        print(line)
    print(f"{len(bad)} bad links")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
