"""Export: the public sample columns as CSV or JSON, streamed, with the filters `probe export` offers; the rows
read back equal to the samples stored."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app
from probe.export import SAMPLE_FIELDS, TRACE_FIELDS, columns, write_csv, write_json
from probe.model import ChunkTrace, Sample
from probe.store import SAMPLE_COLUMNS, Store

INT_FIELDS = {f.name for f in dataclasses.fields(Sample) if "int" in str(f.type)}
FLOAT_FIELDS = {f.name for f in dataclasses.fields(Sample) if "float" in str(f.type)}


def stored_samples() -> list[Sample]:
    """Two providers, two models, two workloads, successes and failures, over three days, one with odd text."""
    samples = []
    for index in range(12):
        ok = index % 4 != 3
        samples.append(
            Sample(
                id=f"s{index:02d}",
                run_id="run-1",
                provider=("openai", "azure")[index % 2],
                model=("gpt-4.1-mini", "gpt-4.1-nano")[index // 2 % 2],
                api="openai-chat",
                started_at=f"2025-06-0{1 + index // 4}T12:{index:02d}:00.000Z",
                status="ok" if ok else "error",
                error_kind=None if ok else "rate_limited",
                error_message=None if ok else 'Too many, "slow down",\nplease',
                http_status=200 if ok else 429,
                ttft_s=0.5 + index / 10 if ok else None,
                output_tps=80.25 + index if ok else None,
                output_tokens=300 if ok else None,
                tokens_source="usage" if ok else None,
                region="eu-west",
                workload=("1k", "10k")[index % 3 == 0],
                max_tokens=300,
                trace=ChunkTrace((500_000, 600_000), (1, 299), "aa") if ok else ChunkTrace(),
            )
        )
    return samples


SAMPLES = stored_samples()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "results.db"
    with Store.open(path) as store:
        store.insert_samples(SAMPLES)
    return path


def as_record(sample: Sample, *, traces: bool = False) -> dict[str, object]:
    record = {name: getattr(sample, name) for name in SAMPLE_FIELDS}
    if traces:
        record.update(offsets_us=list(sample.trace.offsets_us), tokens=list(sample.trace.tokens), channels=sample.trace.channels)
    return record


def from_csv_row(row: dict[str, str]) -> dict[str, object]:
    """A CSV row typed back: empty cells are None, numbers are numbers, trace arrays are lists."""
    record: dict[str, object] = {}
    for name, text in row.items():
        if name in ("offsets_us", "tokens"):
            record[name] = json.loads(text)
        elif name == "channels":
            record[name] = text
        elif text == "":
            record[name] = None
        elif name in INT_FIELDS:
            record[name] = int(text)
        elif name in FLOAT_FIELDS:
            record[name] = float(text)
        else:
            record[name] = text
    return record


def export(db: Path, *args: str):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["export", "--db", str(db), *args])
    assert result.exit_code == 0, result.output
    return result


# --------------------------------------------------------------------------- writers


def test_columns_are_the_public_sample_columns_in_order() -> None:
    assert SAMPLE_FIELDS == SAMPLE_COLUMNS
    assert columns(traces=True) == SAMPLE_COLUMNS + TRACE_FIELDS


def test_csv_writes_a_header_then_one_line_per_sample_with_empty_cells_for_none() -> None:
    out = io.StringIO()
    assert write_csv(SAMPLES[2:4], out) == 2
    lines = out.getvalue().splitlines()
    assert lines[0] == ",".join(SAMPLE_COLUMNS)
    assert [from_csv_row(row) for row in csv.DictReader(io.StringIO(out.getvalue()))] == [as_record(s) for s in SAMPLES[2:4]]


def test_json_is_an_array_of_one_object_per_line_with_null_for_none() -> None:
    out = io.StringIO()
    assert write_json(SAMPLES[:3], out, traces=True) == 3
    assert out.getvalue().count("\n") == 5  # "[", three objects, "]"
    assert json.loads(out.getvalue()) == [as_record(s, traces=True) for s in SAMPLES[:3]]
    empty = io.StringIO()
    write_json([], empty)
    assert json.loads(empty.getvalue()) == []


def test_rows_reach_the_stream_as_they_are_read() -> None:
    """Nothing is collected first: when the source fails at its fourth sample, three rows are already written."""

    def failing() -> Iterator[Sample]:
        yield from SAMPLES[:3]
        raise RuntimeError("source failed")

    out = io.StringIO()
    with pytest.raises(RuntimeError):
        write_json(failing(), out)
    assert out.getvalue().count('"id": ') == 3


# --------------------------------------------------------------------------- probe export


def test_csv_to_stdout_round_trips_every_sample(db: Path) -> None:
    result = export(db)
    rows = [from_csv_row(row) for row in csv.DictReader(io.StringIO(result.stdout))]
    assert rows == [as_record(s) for s in SAMPLES]


def test_json_with_traces_round_trips_every_sample(db: Path) -> None:
    result = export(db, "--format", "json", "--traces")
    assert json.loads(result.stdout) == [as_record(s, traces=True) for s in SAMPLES]


@pytest.mark.parametrize(
    ("args", "keep"),
    [
        (["--since", "2025-06-02", "--until", "2025-06-03"], lambda s: s.started_at.startswith("2025-06-02")),
        (["--since", "2025-06-02T12:05:00+00:00"], lambda s: s.started_at >= "2025-06-02T12:05"),
        (["--provider", "azure"], lambda s: s.provider == "azure"),
        (["-p", "azure", "-p", "openai", "--model", "gpt-4.1-nano"], lambda s: s.model == "gpt-4.1-nano"),
        (["--status", "error"], lambda s: s.status == "error"),
        (["--workload", "10k", "--status", "ok"], lambda s: s.workload == "10k" and s.status == "ok"),
    ],
)
def test_filters_keep_exactly_the_matching_samples(db: Path, args: list[str], keep) -> None:  # type: ignore[no-untyped-def]
    expected = [as_record(s) for s in SAMPLES if keep(s)]
    assert expected and len(expected) < len(SAMPLES)
    assert json.loads(export(db, "-f", "json", *args).stdout) == expected
    assert [from_csv_row(r) for r in csv.DictReader(io.StringIO(export(db, *args).stdout))] == expected


def test_a_span_back_from_now_reaches_no_old_sample(db: Path) -> None:
    assert json.loads(export(db, "-f", "json", "--since", "72h").stdout) == []


def test_out_writes_a_file_in_the_format_its_name_says(db: Path, tmp_path: Path) -> None:
    target = tmp_path / "samples.json"
    result = export(db, "--out", str(target), "--status", "ok")
    assert result.stdout == f"exported 9 samples to {target}\n"
    assert json.loads(target.read_text(encoding="utf-8")) == [as_record(s) for s in SAMPLES if s.status == "ok"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.json"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "--format 'xml': choose csv or json"),
        (["--status", "failed"], "--status 'failed': choose ok or error"),
        (["--since", "yesterday"], "--since 'yesterday': give an ISO 8601 date or time"),
    ],
)
def test_bad_options_are_one_line_exit_2(db: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["export", "--db", str(db), *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"probe: {message}") and result.stderr.count("\n") == 1


def test_a_missing_database_is_one_line_exit_2_and_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    result = CliRunner().invoke(app, ["export", "--db", str(db)])
    assert result.exit_code == 2
    assert result.stderr == f"probe: {db}: does not exist\n"
    assert not db.exists()
