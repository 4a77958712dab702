"""Score files: CSV and JSON rows become `Score` values; a bad row is one error naming the file and the row."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.model import Score
from probe.scores import ScoresError, latest_scores, parse_scores

FIXTURES = Path(__file__).parent / "fixtures" / "scores"


def test_example_csv_parses_with_comments_and_percent_signs() -> None:
    """The documented example: comment lines skipped, "92.5%" read as 92.5."""
    scores = parse_scores((FIXTURES / "example.csv").read_text(), name="example.csv")
    assert len(scores) == 6
    assert scores[0] == Score("gpt-4.1-mini", "MATH-500", 92.5, "Example Evals", "2025-05-01")


def test_example_json_parses() -> None:
    scores = parse_scores((FIXTURES / "example.json").read_text(), name="example.json")
    assert scores[1] == Score("gpt-4.1-nano", "MATH-500", 84.8, "Example Evals", "2025-05")


def test_json_may_wrap_rows_in_an_object() -> None:
    text = '{"scores": [{"model": "m", "benchmark": "b", "score": 1, "source": "s", "date": "2025-01-02"}]}'
    assert parse_scores(text, name="x.json") == [Score("m", "b", 1.0, "s", "2025-01-02")]


def test_csv_columns_in_any_order_and_extra_columns_ignored() -> None:
    text = "date,source,score,benchmark,model,notes\n2025-01-02,s,7,b,m,whatever\n"
    assert parse_scores(text, name="x.csv") == [Score("m", "b", 7.0, "s", "2025-01-02")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model,benchmark,score\nm,b,1\n", "x.csv: line 1: header lacks source, date"),
        ("model,benchmark,score,source,date\nm,b,high,s,2025-01-01\n", "x.csv: line 2: score 'high' is not a number"),
        ("# c\nmodel,benchmark,score,source,date\n\nm,b,1,s,yesterday\n", "x.csv: line 4: date 'yesterday' is not YYYY-MM-DD or YYYY-MM"),
        ("model,benchmark,score,source,date\nm,b,nan,s,2025-01-01\n", "x.csv: line 2: score must be finite"),
        ("model,benchmark,score,source,date\n,b,1,s,2025-01-01\n", "x.csv: line 2: model is empty"),
        ("model,benchmark,score,source,date\nm,b,1\n", "x.csv: line 2: 3 cells, the header has 5"),
        ("", "x.csv: no header line"),
    ],
)
def test_bad_csv_rows_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ScoresError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_scores(text, name="x.csv")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "x.json: not valid JSON"),
        ('{"rows": []}', "x.json: expected an array"),
        ('[{"model": "m"}]', "x.json: row 1: missing benchmark, score, source, date"),
        ('[1]', "x.json: row 1: expected an object"),
        ('[{"model": "m", "benchmark": "b", "score": true, "source": "s", "date": "2025-01-01"}]', "x.json: row 1: score must be a number"),
    ],
)
def test_bad_json_rows_name_file_and_row(text: str, message: str) -> None:
    with pytest.raises(ScoresError, match="^" + message):
        parse_scores(text, name="x.json")


def test_format_is_guessed_from_the_text_without_a_suffix() -> None:
    assert parse_scores('[{"model": "m", "benchmark": "b", "score": 1, "source": "s", "date": "2025-01"}]', name="-")


def test_latest_scores_keeps_the_newest_per_model_benchmark_and_source() -> None:
    old = Score("m", "b", 1.0, "s", "2024-01-01")
    new = Score("m", "b", 2.0, "s", "2025-01-01")
    other = Score("m", "b", 3.0, "t", "2023-01-01")
    assert latest_scores([new, old, other]) == [new, other]
