"""Helpers every dialect shares: what counts as a JSON object payload."""

from __future__ import annotations

import json

import pytest

from probe.dialects import int_or_none, load_json_object


@pytest.mark.parametrize(
    "data",
    [
        '{"a":1}',
        '{"a":{"b":[1,2.5,null,true]},"c":"\\u2028"}',
        "{}",
        ' {"a":1}',
        '{"a":1} ',
        '{"a":1}\n',
        '{"a":NaN,"b":-Infinity}',
        '{"a":1,"a":2}',
        '{"a":"' + "x" * 10_000 + '"}',
        '{"a":"\\ud800","b":"\\ud83d\\ude00"}',
        '{"a":1e400,"b":-0.0,"c":0.1,"d":18446744073709551615}',
    ],
)
def test_a_json_object_is_loaded_as_json_loads_would(data: str) -> None:
    """With or without surrounding whitespace, the result is exactly ``json.loads``'s."""
    assert repr(load_json_object(data)) == repr(json.loads(data))


@pytest.mark.parametrize(
    "data",
    [
        "",
        "[DONE]",
        "[1,2]",
        '"text"',
        "42",
        "null",
        "{",
        '{"a":',
        '{"a":1}x',
        '{"a":1}{"b":2}',
        '{"a":1},',
        "\ufeff{}",
        "{'a':1}",
        '{"a":tru}',
    ],
)
def test_anything_but_one_json_object_is_none(data: str) -> None:
    """Broken JSON, trailing bytes, a BOM or a value that is not an object all fail the same way."""
    assert load_json_object(data) is None


@pytest.mark.parametrize(
    ("value", "count"),
    [(0, 0), (812, 812), (2**63 - 1, 2**63 - 1), (2**63, None), (2**70, None), (-1, None), (1.5e20, None),
     (12.0, None), (True, None), ("12", None), (None, None)],
)
def test_a_token_count_is_a_whole_number_sqlite_can_store(value: object, count: int | None) -> None:
    """A count that is not a whole number from 0 to 2**63 - 1 is treated as not reported (the tokenizer counts
    instead): a larger one would make SQLite refuse the whole sample."""
    assert int_or_none(value) == count
