"""Pure statistics over samples: percentiles and per-(provider, model) summaries. No I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from probe.model import Sample


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between order statistics; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 50)


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """What one provider serving one model looked like over a set of samples."""

    provider: str
    model: str
    samples: int
    ok: int
    error_kinds: tuple[tuple[str, int], ...]
    ttft_s: float | None
    ttfat_s: float | None
    output_tps: float | None
    e2e_s: float | None

    @property
    def success_rate(self) -> float | None:
        return self.ok / self.samples if self.samples else None


def summarize(samples: Iterable[Sample]) -> list[SummaryRow]:
    """Medians of the successful samples per (provider, model), with error counts by kind, sorted by name."""
    groups: dict[tuple[str, str], list[Sample]] = {}
    for sample in samples:
        groups.setdefault((sample.provider, sample.model), []).append(sample)
    rows = []
    for (provider, model), group in sorted(groups.items()):
        ok = [s for s in group if s.status == "ok"]
        kinds: dict[str, int] = {}
        for s in group:
            if s.status != "ok":
                kinds[s.error_kind or "unknown"] = kinds.get(s.error_kind or "unknown", 0) + 1
        rows.append(
            SummaryRow(
                provider=provider,
                model=model,
                samples=len(group),
                ok=len(ok),
                error_kinds=tuple(sorted(kinds.items(), key=lambda item: (-item[1], item[0]))),
                ttft_s=median(_present(s.ttft_s for s in ok)),
                ttfat_s=median(_present(s.ttfat_s for s in ok)),
                output_tps=median(_present(s.output_tps for s in ok)),
                e2e_s=median(_present(s.e2e_s for s in ok)),
            )
        )
    return rows


def _present(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]
