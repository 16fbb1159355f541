"""What JSON text a user sends may hold, for every reader of it: a case file's lines,
the REST API's request bodies and the JSON fields of the admin's forms.

Refused, each with a message that names the place and never echoes the bad text back:
NaN and Infinity and numbers too large for a float (no database column keeps them), a
key twice in one object (the reader would keep one silently), nesting deeper than
``MAX_NESTING`` (the readers of the stored JSON walk it recursively), NUL characters
(PostgreSQL refuses them) and unpaired surrogates (not UTF-8: neither the database nor
an error page could encode them).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

# Far deeper than any case needs (turns[i].tables[j].rows[k][l] is 6 levels), shallow
# enough that every reader of the stored JSON (the admin, the exports) can walk it.
MAX_NESTING = 32
_KEY_SHOWN = 60  # characters of a key named in a message


class JSONTextError(ValueError):
    """JSON text that is not JSON, or holds what no column could keep; the message names
    the first problem."""


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _printable(key: str) -> str:
    """A key as a message may show it: unpaired surrogates escaped, long keys cut."""
    shown = key.encode("utf-8", "backslashreplace").decode("utf-8")
    return shown if len(shown) <= _KEY_SHOWN else shown[:_KEY_SHOWN] + "..."


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"the key '{_printable(twice)}' appears twice in one object")
    return obj


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float,
                            object_pairs_hook=_unique_keys)


def loads_json(text: str) -> Any:
    """JSON text as a value, refusing NaN, Infinity, out-of-range numbers and repeated
    keys. Raises ``json.JSONDecodeError``, ``ValueError`` or ``RecursionError``."""
    return _DECODER.decode(text)


def json_path(path: Iterable[Any]) -> str:
    """A place in a JSON value, such as ``turns[2].text``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{_printable(part)}" if out else _printable(part))
    return out


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def may_be_unstorable(text: str) -> bool:
    """Whether JSON text could hold what :func:`storable_problems` looks for; False lets
    a reader skip the walk. JSON text can carry a NUL or a surrogate only as a ``\\u``
    escape (a raw control character is not JSON, and UTF-8 has no surrogates), and
    nesting only as brackets."""
    return ("\\u0000" in text or bool(_SURROGATE_ESCAPE.search(text))
            or text.count("[") + text.count("{") > MAX_NESTING)


def storable_problems(value: Any, limit: int = 20) -> list[tuple[str, str]]:
    """(place, message) for what in a parsed value no database column could keep as it
    is: nesting deeper than MAX_NESTING, NUL characters and unpaired surrogates, in keys
    and in strings."""
    problems: list[tuple[str, str]] = []
    stack: list[tuple[Any, tuple, int]] = [(value, (), 0)]
    while stack and len(problems) < limit:
        item, path, depth = stack.pop()
        if depth > MAX_NESTING:
            problems.append((json_path(path), f"nested more than {MAX_NESTING} levels deep"))
            continue
        if isinstance(item, dict):
            for key, child in item.items():
                problems += _text_problems(key, path, "a key")
                stack.append((child, (*path, key), depth + 1))
        elif isinstance(item, list):
            stack.extend((child, (*path, i), depth + 1) for i, child in enumerate(item))
        elif isinstance(item, str):
            problems += _text_problems(item, path, "the text")
    return problems


def _text_problems(text: str, path: tuple, what: str) -> list[tuple[str, str]]:
    if "\x00" in text:
        return [(json_path(path), f"{what} contains a NUL character (\\u0000), which cannot be stored")]
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return [(json_path(path), f"{what} contains an unpaired surrogate (a broken \\u escape)")]
    return []


def value_problem(value: Any) -> str | None:
    """The first thing in an already parsed value that no column could keep, as a
    message, or None."""
    problems = storable_problems(value, limit=1)
    if not problems:
        return None
    place, message = problems[0]
    return f"{place}: {message}" if place else message


def loads_storable(text: str) -> Any:
    """JSON text a user sent, as a value every column can keep; ``JSONTextError`` with
    the first problem otherwise."""
    try:
        value = loads_json(text)
    except json.JSONDecodeError as exc:
        raise JSONTextError(f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise JSONTextError(f"nested more than {MAX_NESTING} levels deep") from None
    except ValueError as exc:
        raise JSONTextError(f"not valid JSON ({exc})") from None
    problem = value_problem(value) if may_be_unstorable(text) else None
    if problem:
        raise JSONTextError(problem)
    return value
