"""How deeply the JSON a caller sends may nest. Parsing, validating and storing JSON all recurse
once per level, so a value nested thousands of levels deep would exhaust the interpreter's stack;
values deeper than the limit are refused as bad input before anything else touches them."""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32
"""Levels of arrays and objects a JSON value may nest: `{}` is one level, `{"a": []}` two."""


class TooDeep(ValueError):
    """A JSON value nested deeper than the limit."""


def too_deep_message(limit: int = MAX_DEPTH) -> str:
    """What a caller is told about a value past the limit."""
    return f"JSON nested deeper than {limit} levels"


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a parsed JSON value nests arrays and objects more than `limit` levels deep
    (walked without recursion, so any depth is safe to ask about)."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _openers(text: str | bytes) -> int:
    """Opening brackets anywhere in the text: an upper bound of its JSON nesting."""
    if isinstance(text, bytes):
        return text.count(b"[") + text.count(b"{")
    return text.count("[") + text.count("{")


def loads(text: str | bytes, limit: int = MAX_DEPTH) -> Any:
    """Parse JSON text, refusing values nested deeper than `limit`. Raises TooDeep, or
    ValueError (json.JSONDecodeError, UnicodeDecodeError) for text that is not JSON."""
    try:
        value = json.loads(text)
    except RecursionError:  # deeper than the parser can go: far past the limit
        raise TooDeep(too_deep_message(limit)) from None
    if _openers(text) > limit and too_deep(value, limit):
        raise TooDeep(too_deep_message(limit))
    return value
