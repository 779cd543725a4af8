"""Small words the commands print: counts with their noun in the right number."""

from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`n` and its noun, "1 warning" but "2 warnings"; `many` for a noun not made with an -s
    ("entry", "entries")."""
    return f"{n:,} {noun if n == 1 else many or noun + 's'}"
