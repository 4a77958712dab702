"""Reports split latency by region when the samples of a pair come from more than one place, and only then."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from markdown_it import MarkdownIt

from probe.model import RegionGroup, Sample, SampleGroup
from probe.report import Evidence, build_comparison, parse_window, render_markdown
from probe.reporting import write_reports
from probe.store import Store

NOW = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)
HOSTILE = "eu <b>[west](https://evil.example)</b>"


def evidence(regions: list[RegionGroup]) -> Evidence:
    groups = [
        SampleGroup("openai", model, "2025-06-04", "ok", None, 2, "2025-06-04T10:00:00.000Z", "2025-06-04T11:00:00.000Z",
                    ttft_s=(0.5, 0.7), ttfat_s=(0.5, 0.7), output_tps=(80.0, 90.0))  # fmt: skip
        for model in ("mini", "nano")
    ]
    return Evidence(groups, prices={}, scores=[], metadata={}, window=parse_window("72h", NOW), regions=regions)


def test_several_regions_give_a_row_per_model_provider_and_region() -> None:
    regions = [
        RegionGroup("us-east", "openai", "mini", 3, 2, (0.9, 0.7), (70.0, None)),
        RegionGroup(HOSTILE, "openai", "mini", 2, 2, (0.3, 0.5), (90.0, 100.0)),
        RegionGroup(None, "openai", "nano", 1, 0),
    ]
    comparison = build_comparison(evidence(regions), "mini", "nano", slug="mini-vs-nano")
    assert [(r.model, r.region, r.samples, r.ok, r.ttft_s, r.output_tps) for r in comparison.regions] == [
        ("mini", HOSTILE, 2, 2, 0.4, 95.0),
        ("mini", "us-east", 3, 2, 0.8, 70.0),
        ("nano", None, 1, 0, None, None),
    ]
    text = render_markdown(comparison)
    section = text.split("## By region\n", 1)[1].split("\n## ", 1)[0]
    assert "| mini | openai | us-east | 3 | 66.7% | 0.80 s | 70.0 tok/s |" in section
    assert "| nano | openai | not recorded | 1 | 0% | No data | No data |" in section
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "evil.example" in html and 'href="https://evil.example' not in html and "<b>" not in html
    assert text.index("## Providers") < text.index("## By region") < text.index("## When to choose each model")


def test_one_region_gives_no_section() -> None:
    regions = [RegionGroup("eu-west", "openai", model, 2, 2, (0.5, 0.7), (80.0, 90.0)) for model in ("mini", "nano")]
    comparison = build_comparison(evidence(regions), "mini", "nano", slug="mini-vs-nano")
    assert comparison.regions == ()
    assert "## By region" not in render_markdown(comparison)


def sample(index: int, model: str, region: str | None, workload: str = "1k") -> Sample:
    return Sample(f"{model}-{region}-{index}", "run", "openai", model, "openai-chat", f"2025-06-04T0{index}:00:00.000Z",
                  "ok", ttft_s=0.5 + index / 100, output_tps=80.0, region=region, workload=workload)  # fmt: skip


def test_write_reports_reads_regions_only_when_there_are_several(tmp_path: Path) -> None:
    """One region in the window: no section. A merged database with a second region: the section appears."""
    db = tmp_path / "results.db"
    with Store.open(db) as store:
        store.insert_samples([sample(i, m, "eu-west") for i in range(5) for m in ("mini", "nano")])
        single = write_reports(store, tmp_path / "one", now=NOW, pairs=[("mini", "nano")])
        store.insert_samples([sample(i, "mini", "us-east") for i in range(3)])
        store.insert_samples([sample(9, "nano", "ap-south", workload="audit")])  # an audit request is no latency sample
        several = write_reports(store, tmp_path / "two", now=NOW, pairs=[("mini", "nano")])
    assert "## By region" not in single.reports[0].read_text(encoding="utf-8")
    text = several.reports[0].read_text(encoding="utf-8")
    assert "| mini | openai | eu-west | 5 |" in text and "| mini | openai | us-east | 3 |" in text
    assert "ap-south" not in text
