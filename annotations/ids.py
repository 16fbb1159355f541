"""What an object id is wherever a user names one (an API filter, a request body, an
object's path, a choice posted by a page's form): a whole number the database can hold,
written plainly. Python would read 1.5, 1e3, true, " 1" or "+1" as an id too, and name
another object than the one meant; a number past 64 bits would reach the database and
fail there."""

from __future__ import annotations

import re

MAX_ID = 2**63 - 1  # a database id is a signed 64-bit integer
DIGITS = re.compile(r"[0-9]{1,19}")
ID_RULE = "an id is a whole number from 1 to 2^63 - 1, written as a JSON integer or a string of digits"


def strict_id(value) -> int | None:
    """``value`` as an object id, or None when it is not one: only a JSON integer or a
    string of ASCII digits is."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and DIGITS.fullmatch(value):
        number = int(value)
    else:
        return None
    return number if 1 <= number <= MAX_ID else None


def id_or_not_found(value, message: str) -> int:
    """``value`` as an object id (:func:`strict_id`); NotFound with ``message`` when it is
    not one: a value that cannot name an object names none."""
    from annotations.errors import NotFound

    number = strict_id(value)
    if number is None:
        raise NotFound(message)
    return number
