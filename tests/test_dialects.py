"""Helpers every dialect shares: what counts as a JSON object payload."""

from __future__ import annotations

import json

import pytest

from probe.dialects import load_json_object


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
