"""The README's code blocks, for ``tests/test_readme.py`` and for ``.ci/run``, which runs the
README's set-up commands as written: ``python tests/readme.py command ci:example`` prints one.

A block may carry a note: an HTML comment on the line just above its fence, invisible on GitHub
(``<!-- ci: tests (...) -->``, ``<!-- readme: not run (...) -->``).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
_FENCE = re.compile(r"^```(\S*)\s*$")
_NOTE = re.compile(r"^<!--\s*(.*?)\s*-->$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of the README."""

    language: str
    text: str
    note: str
    line: int  # of the opening fence, 1-based

    @property
    def run(self) -> bool:
        return not self.note.startswith("readme: not run")


def blocks(text: str | None = None) -> list[Block]:
    """Every fenced block, in the README's order."""
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        if index >= len(lines):
            raise ValueError(f"README.md:{start + 1}: a code block that is never closed")
        note = _NOTE.match(lines[start - 1].strip()) if start else None
        found.append(
            Block(fence.group(1), "\n".join(body) + "\n", note.group(1) if note else "", start + 1)
        )
        index += 1
    return found


def marked(tag: str, text: str | None = None) -> Block:
    """The one block whose note starts with ``tag`` (``ci: example``)."""
    matches = [block for block in blocks(text) if block.note.split("(")[0].strip() == tag]
    if len(matches) != 1:
        raise LookupError(f"README.md: {len(matches)} blocks marked <!-- {tag} -->, expected 1")
    return matches[0]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "command":
        print("usage: python tests/readme.py command TAG   (e.g. 'ci: tests')", file=sys.stderr)
        return 2
    try:
        block = marked(" ".join(argv[1].replace(":", ": ").split()))
    except LookupError as error:
        print(error, file=sys.stderr)
        return 1
    sys.stdout.write(block.text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
