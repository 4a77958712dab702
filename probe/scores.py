"""Third-party benchmark scores: parse a CSV or JSON file of rows into `Score` values. Pure: text in, values out.

A scores file holds one row per (model, benchmark, source, date) with these fields:

    model       probe's canonical model name, as in providers.toml and the samples ("gpt-4.1-mini")
    benchmark   the benchmark's name as the source spells it ("MATH-500", "AIME 2024", "GPQA Diamond")
    score       a number, higher is better; "92.5" and "92.5%" both mean 92.5
    source      who published the score ("Artificial Analysis", "OpenAI model card", a URL)
    date        when the source published or last updated it: YYYY-MM-DD or YYYY-MM

CSV: a header line naming the five columns (any order, extra columns ignored); lines whose first cell starts with
``#`` are comments. JSON: an array of objects with the five keys (or ``{"scores": [...]}``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping

from probe.model import Score

FIELDS: tuple[str, ...] = ("model", "benchmark", "score", "source", "date")
_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


class ScoresError(Exception):
    """A scores file that cannot be imported; ``str()`` is one line naming the file, the row and the problem."""


def parse_scores(text: str, *, name: str = "scores", fmt: str | None = None) -> list[Score]:
    """The rows of a scores file. ``fmt`` is "csv" or "json"; by default it is guessed from ``name``'s suffix,
    then from the text. Raises `ScoresError` naming ``name`` and the row for the first bad row."""
    kind = fmt or _guess_format(name, text)
    if kind == "json":
        return _parse_json(text, name)
    if kind == "csv":
        return _parse_csv(text, name)
    raise ScoresError(f"{name}: unknown format {kind!r} (expected csv or json)")


def _guess_format(name: str, text: str) -> str:
    lowered = name.lower()
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith(".csv"):
        return "csv"
    return "json" if text.lstrip().startswith(("[", "{")) else "csv"


def _parse_csv(text: str, name: str) -> list[Score]:
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1)]
    content = [(number, line) for number, line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not content:
        raise ScoresError(f"{name}: no header line; expected columns {', '.join(FIELDS)}")
    reader = csv.reader(io.StringIO("\n".join(line for _, line in content)))
    rows = list(reader)
    header = [cell.strip().lower() for cell in rows[0]]
    missing = [field for field in FIELDS if field not in header]
    if missing:
        raise ScoresError(f"{name}: line {content[0][0]}: header lacks {', '.join(missing)} (expected {', '.join(FIELDS)})")
    index = {field: header.index(field) for field in FIELDS}
    scores = []
    for (number, _), row in zip(content[1:], rows[1:]):
        if len(row) < len(header):
            raise ScoresError(f"{name}: line {number}: {len(row)} cells, the header has {len(header)}")
        scores.append(_score({field: row[i] for field, i in index.items()}, f"{name}: line {number}"))
    return scores


def _parse_json(text: str, name: str) -> list[Score]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ScoresError(f"{name}: not valid JSON: {error}") from None
    if isinstance(data, dict) and "scores" in data:
        data = data["scores"]
    if not isinstance(data, list):
        raise ScoresError(f"{name}: expected an array of objects with keys {', '.join(FIELDS)}")
    scores = []
    for position, item in enumerate(data, start=1):
        where = f"{name}: row {position}"
        if not isinstance(item, dict):
            raise ScoresError(f"{where}: expected an object, got {type(item).__name__}")
        missing = [field for field in FIELDS if field not in item]
        if missing:
            raise ScoresError(f"{where}: missing {', '.join(missing)}")
        scores.append(_score(item, where))
    return scores


def _score(row: Mapping[str, object], where: str) -> Score:
    text = {field: _text(row[field]) for field in ("model", "benchmark", "source", "date")}
    for field, value in text.items():
        if not value:
            raise ScoresError(f"{where}: {field} is empty")
    if not _DATE.match(text["date"]):
        raise ScoresError(f"{where}: date {text['date']!r} is not YYYY-MM-DD or YYYY-MM")
    raw = row["score"]
    if isinstance(raw, bool):
        raise ScoresError(f"{where}: score must be a number, got {raw!r}")
    try:
        value = float(raw.strip().removesuffix("%").strip()) if isinstance(raw, str) else float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ScoresError(f"{where}: score {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ScoresError(f"{where}: score must be finite, got {raw!r}")
    return Score(text["model"], text["benchmark"], value, text["source"], text["date"])


def _text(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def latest_scores(scores: Iterable[Score]) -> list[Score]:
    """The most recent score per (model, benchmark, source), sorted by those keys."""
    latest: dict[tuple[str, str, str], Score] = {}
    for score in scores:
        key = (score.model, score.benchmark, score.source)
        if key not in latest or score.date > latest[key].date:
            latest[key] = score
    return [latest[key] for key in sorted(latest)]
