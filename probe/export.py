"""Samples out as CSV or JSON, one record per sample, written as they are read.

The columns are the public ``samples`` columns (`probe.store.SAMPLE_COLUMNS`, the fields of `probe.model.Sample`),
in that order; with traces, three more hold the sample's `ChunkTrace` as ``sample_traces`` stores it. Rows stream
from any iterable of samples to any text stream, so an export of a million samples never holds them in memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import fields
from operator import attrgetter
from typing import Any, Literal, TextIO, TypeAlias

from probe.model import Sample

ExportFormat: TypeAlias = Literal["csv", "json"]
EXPORT_FORMATS: tuple[str, ...] = ExportFormat.__args__  # type: ignore[attr-defined]

SAMPLE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Sample) if f.name != "trace")
"""The exported sample columns: every scalar field of `Sample`, which are exactly the ``samples`` columns."""
TRACE_FIELDS: tuple[str, ...] = ("offsets_us", "tokens", "channels")
"""With ``traces``: arrival offsets (µs) and token counts of each token-bearing chunk, and its channel codes."""

_values = attrgetter(*SAMPLE_FIELDS)
_compact = json.JSONEncoder(separators=(",", ":")).encode


def columns(*, traces: bool = False) -> tuple[str, ...]:
    """The exported columns, in order."""
    return SAMPLE_FIELDS + TRACE_FIELDS if traces else SAMPLE_FIELDS


def write_csv(samples: Iterable[Sample], out: TextIO, *, traces: bool = False) -> int:
    """A header line, then one line per sample; return how many samples were written.

    A value not measured is an empty cell. Trace arrays are compact JSON (``[0,2051,4100]``), as stored.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns(traces=traces))
    count = 0
    for sample in samples:
        row = _values(sample)
        if traces:
            trace = sample.trace
            row = (*row, _compact(trace.offsets_us), _compact(trace.tokens), trace.channels)
        writer.writerow(row)
        count += 1
    return count


def write_json(samples: Iterable[Sample], out: TextIO, *, traces: bool = False) -> int:
    """A JSON array of one object per sample, one object per line; return how many samples were written.

    A value not measured is ``null``. Trace arrays are JSON arrays of integers.
    """
    count = 0
    out.write("[")
    for sample in samples:
        record: dict[str, Any] = dict(zip(SAMPLE_FIELDS, _values(sample)))
        if traces:
            trace = sample.trace
            record.update(offsets_us=list(trace.offsets_us), tokens=list(trace.tokens), channels=trace.channels)
        out.write(("\n" if count == 0 else ",\n") + json.dumps(record, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_samples(samples: Iterable[Sample], out: TextIO, fmt: ExportFormat, *, traces: bool = False) -> int:
    """Write ``samples`` to ``out`` in ``fmt``; return how many were written."""
    if fmt == "csv":
        return write_csv(samples, out, traces=traces)
    if fmt == "json":
        return write_json(samples, out, traces=traces)
    raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
