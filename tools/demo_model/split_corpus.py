#!/usr/bin/env python3
"""Normalize the King James text printed by `bible -f` and split it into train and held-out files.

Input: one verse per line, each prefixed with its reference ("Ge1:3 And God said, ...").
Output (in OUT_DIR):
  train.txt        the training text
  heldout.txt      whole books kept out of training, for perplexity
  corpus_info.json what was done, with counts and SHA-256 digests

Both text files share one format: one verse per line, without its reference, and one empty
line between chapters. References are dropped because "Ge1:3" costs several tokens per verse
and teaches a small model nothing useful for prose: with them, every generation would be
sprinkled with numbers; without them, a prompt like "And God said" continues as scripture.
The empty line keeps the chapter structure visible to the model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

# Whole books, in the abbreviations `bible` prints, kept out of training. They mix narrative
# (Ruth, Jonah), poetry (Lamentations), prophecy (Joel, Micah, Habakkuk) and letters
# (Philippians, James, 1 John), so the held-out perplexity is not about one style only.
# Together they are about 2.5% of the text.
HELDOUT_BOOKS = {
    "Ruth": "Ruth",
    "Lam": "Lamentations",
    "Joel": "Joel",
    "Jonah": "Jonah",
    "Mic": "Micah",
    "Hab": "Habakkuk",
    "Phi": "Philippians",
    "Jas": "James",
    "1Jn": "1 John",
}

# The King James Bible has 66 books, 1,189 chapters and 31,102 verses; anything else means
# the package printed something we did not expect.
EXPECTED_BOOKS = 66
EXPECTED_CHAPTERS = 1189
EXPECTED_VERSES = 31102

# "1Sm12:3 text": a book abbreviation (maybe with a leading digit), chapter, verse, text.
VERSE_RE = re.compile(r"^([1-3]?[A-Za-z]+)(\d+):(\d+) (.*)$")


@dataclass
class Chapter:
    book: str
    number: int
    verses: list[str]


def normalize_verse(text: str) -> str:
    """One line of clean text: single spaces, no leading or trailing blanks."""
    return " ".join(text.split())


def parse_verses(lines: list[str]) -> list[Chapter]:
    """Group reference-prefixed verse lines into chapters, in order."""
    chapters: list[Chapter] = []
    for line_no, line in enumerate(lines, start=1):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        match = VERSE_RE.match(line)
        if match is None:
            raise ValueError(f"line {line_no}: not a verse reference line: {line[:80]!r}")
        book, chapter, _verse, text = match.group(1), int(match.group(2)), match.group(3), match.group(4)
        text = normalize_verse(text)
        if not text:
            raise ValueError(f"line {line_no}: empty verse text")
        if not chapters or chapters[-1].book != book or chapters[-1].number != chapter:
            chapters.append(Chapter(book, chapter, []))
        chapters[-1].verses.append(text)
    return chapters


def render(chapters: list[Chapter]) -> str:
    """The text format shared by train.txt and heldout.txt."""
    return "\n\n".join("\n".join(ch.verses) for ch in chapters) + "\n"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_counts(chapters: list[Chapter]) -> None:
    books = {ch.book for ch in chapters}
    verses = sum(len(ch.verses) for ch in chapters)
    found = (len(books), len(chapters), verses)
    expected = (EXPECTED_BOOKS, EXPECTED_CHAPTERS, EXPECTED_VERSES)
    if found != expected:
        raise ValueError(f"books/chapters/verses {found}, expected {expected}")
    missing = [b for b in HELDOUT_BOOKS if b not in books]
    if missing:
        raise ValueError(f"held-out books not found: {missing}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw", type=Path, help="output of `bible -f Gen1:1-Rev22:21`")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--package-version", default="unknown", help="version of the Debian package read")
    args = parser.parse_args()

    raw = args.raw.read_bytes()
    # The package text is plain ASCII; decoding strictly makes any surprise loud.
    text = raw.decode("ascii")
    chapters = parse_verses(text.splitlines())
    check_counts(chapters)

    train = [ch for ch in chapters if ch.book not in HELDOUT_BOOKS]
    heldout = [ch for ch in chapters if ch.book in HELDOUT_BOOKS]
    train_text, heldout_text = render(train), render(heldout)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    files = {"train.txt": train_text.encode("utf-8"), "heldout.txt": heldout_text.encode("utf-8")}
    for name, data in files.items():
        (args.out_dir / name).write_bytes(data)

    total = len(train_text) + len(heldout_text)
    info = {
        "source": "King James Version (1611), public domain",
        "debian_package": "bible-kjv-text",
        "debian_package_version": args.package_version,
        "extracted_with": "bible -f Gen1:1-Rev22:21 (Debian package bible-kjv)",
        "format": "one verse per line without its reference; one empty line between chapters",
        "raw_sha256": sha256(raw),
        "heldout_books": list(HELDOUT_BOOKS),
        "heldout_book_names": list(HELDOUT_BOOKS.values()),
        "heldout_fraction_of_chars": round(len(heldout_text) / total, 4),
        "files": {
            name: {
                "bytes": len(data),
                "chapters": len(train if name == "train.txt" else heldout),
                "verses": sum(len(ch.verses) for ch in (train if name == "train.txt" else heldout)),
                "sha256": sha256(data),
            }
            for name, data in files.items()
        },
    }
    (args.out_dir / "corpus_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
