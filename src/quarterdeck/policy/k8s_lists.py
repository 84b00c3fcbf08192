"""The Kubernetes CEL list library (isSorted, sum, min, max, indexOf, lastIndexOf)
and regex library (find, findAll).

Python's `re` stands in for RE2; the patterns policies use (character classes,
anchors, alternation) mean the same in both.
"""

from __future__ import annotations

import datetime
import re
from functools import lru_cache
from typing import Any

from quarterdeck.policy.cel_library import CelFunctionError, Overload


def _comparable(items: list[Any]) -> list[Any]:
    kinds = {float if isinstance(i, int | float) and not isinstance(i, bool) else type(i)
             for i in items}
    if len(kinds) > 1:
        raise CelFunctionError("no such overload: list elements are not mutually comparable")
    return items


def is_sorted(items: list[Any]) -> bool:
    values = _comparable(items)
    return all(values[i] <= values[i + 1] for i in range(len(values) - 1))


def list_sum(items: list[Any]) -> Any:
    if not items:
        return 0
    if all(isinstance(i, datetime.timedelta) for i in items):
        return sum(items, datetime.timedelta(0))
    if all(isinstance(i, int | float) and not isinstance(i, bool) for i in items):
        return sum(items)
    raise CelFunctionError("no such overload: sum() needs numbers or durations")


def list_min(items: list[Any]) -> Any:
    if not items:
        raise CelFunctionError("min called on empty list")
    return min(_comparable(items))


def list_max(items: list[Any]) -> Any:
    if not items:
        raise CelFunctionError("max called on empty list")
    return max(_comparable(items))


def index_of(items: list[Any], value: Any) -> int:
    return next((i for i, item in enumerate(items) if item == value), -1)


def last_index_of(items: list[Any], value: Any) -> int:
    return next((i for i in range(len(items) - 1, -1, -1) if items[i] == value), -1)


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as err:
        raise CelFunctionError(f"invalid regular expression {pattern!r}: {err}") from None


def find(text: str, pattern: str) -> str:
    match = _regex(pattern).search(text)
    return match.group(0) if match else ""


def find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    if limit == 0:
        return []
    found = [m.group(0) for m in _regex(pattern).finditer(text)]
    return found if limit < 0 else found[:limit]


OVERLOADS = [
    Overload("isSorted", "list_is_sorted", ("list",), "bool", is_sorted, member=True),
    Overload("sum", "list_sum", ("list",), "dyn", list_sum, member=True),
    Overload("min", "list_min", ("list",), "dyn", list_min, member=True),
    Overload("max", "list_max", ("list",), "dyn", list_max, member=True),
    Overload("indexOf", "list_index_of", ("list", "dyn"), "int", index_of, member=True),
    Overload(
        "lastIndexOf", "list_last_index_of", ("list", "dyn"), "int", last_index_of, member=True
    ),
    Overload("find", "string_find_string", ("string", "string"), "string", find, member=True),
    Overload(
        "findAll", "string_find_all_string", ("string", "string"), "list_string", find_all,
        member=True,
    ),
    Overload(
        "findAll", "string_find_all_string_int", ("string", "string", "int"), "list_string",
        find_all, member=True,
    ),
]
