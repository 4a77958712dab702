"""Audits in reports: the comparison's table, page names, and a provider's audit page against a golden file.

Regenerate the golden page with ``PROBE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_report_audits.py``
after checking that the diff is intended.
"""

from __future__ import annotations

import os
from pathlib import Path

from markdown_it import MarkdownIt

from probe.audit.canaries import CANARIES
from probe.audit.scoring import AuditScore, audit_provider
from probe.model import AUDIT_WORKLOAD, AuditProbe, ChunkTrace, OutcomeCount, Sample
from probe.report.audits import NO_AUDITS, AuditRow, audit_pages, audit_table, render_audit_page, score_cell

GOLDEN = Path(__file__).parent / "fixtures" / "report" / "golden-audit.md"
HOSTILE = "<img src=x>[free](https://evil.example)"


def _sample(id: str, minute: int, **fields: object) -> Sample:
    tokens = fields.pop("tokens", (1,) * 40)
    offsets = fields.pop("offsets", tuple(400_000 + 12_000 * i for i in range(len(tokens))))  # type: ignore[arg-type]
    base: dict[str, object] = dict(output_tokens=sum(tokens), tokens_source="usage", max_tokens=300, finish_reason="stop")  # type: ignore[arg-type]
    base.update(fields)
    return Sample(id, "run", "reseller", "gpt-4.1-mini", "openai-chat", f"2025-06-04T10:{minute:02d}:00.000Z", "ok",
                  trace=ChunkTrace(offsets, tokens, "a" * len(tokens)), **base)  # type: ignore[arg-type]


def build_audit():  # type: ignore[no-untyped-def]
    """A reseller with one inflated bill, one buffered stream, a wrong and a hostile canary answer, an ignored
    maximum and a few errors."""
    samples = [
        _sample("ok-1", 1),
        _sample("ok-2", 2),
        _sample("inflated", 3, output_tokens=80),
        _sample("burst", 4, offsets=(2_000_000,) * 40),
        _sample("uncapped", 5, max_tokens=16, tokens=(1,) * 40),
    ]
    probes = []
    for index, (canary, answer) in enumerate(zip(CANARIES, ("391", "sydney", HOSTILE, "32"))):
        sample = _sample(f"canary-{canary.id}", 10 + index, tokens=(1,), max_tokens=32, workload=AUDIT_WORKLOAD,
                         response_model="gpt-4.1-mini-2025-04-14" if index else HOSTILE)  # fmt: skip
        probes.append((sample, AuditProbe(sample.id, "canary", "gpt-4.1-mini", False, canary.id, canary.expected, answer)))
    reference = [(s, AuditProbe(s.id, "canary", "gpt-4.1-mini", True, p.canary, p.expected, p.expected))
                 for s, p in probes]  # fmt: skip
    outcomes = [OutcomeCount("reseller", "gpt-4.1-mini", "ok", None, True, 9),
                OutcomeCount("reseller", "gpt-4.1-mini", "error", "rate_limited", True, 1),
                OutcomeCount("reseller", "gpt-4.1-mini", "error", "server", False, 2)]  # fmt: skip
    return audit_provider("reseller", "gpt-4.1-mini", samples=samples, probes=probes, reference=reference, outcomes=outcomes)


def test_audit_page_matches_golden_file() -> None:
    text = render_audit_page(HOSTILE, [build_audit()], {"gpt-4.1-mini": "GPT-4.1 mini"},
                             "2025-05-28T12:00:00.000Z", "2025-06-04T12:00:00.000Z")  # fmt: skip
    if os.environ.get("PROBE_UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8", newline="\n")
    assert text == GOLDEN.read_text(encoding="utf-8"), f"audit page changed; if intended, regenerate {GOLDEN}"


def test_endpoint_text_on_the_page_stays_inert() -> None:
    """A provider name, a reported model and a canary answer full of markup render as their own text."""
    text = render_audit_page(HOSTILE, [build_audit()], {}, "2025-05-28T12:00:00.000Z", "2025-06-04T12:00:00.000Z")
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "evil.example" in html and 'href="https://evil.example' not in html and "<img" not in html


def test_every_group_of_the_dishonest_reseller_is_judged() -> None:
    audit = build_audit()
    verdicts = {label: score.verdict for label, score in audit.scores}
    assert verdicts == {"Billing integrity": "warn", "Streaming integrity": "warn", "Model integrity": "fail",
                        "Availability": "fail"}  # fmt: skip


def test_score_cells_and_the_empty_table() -> None:
    assert score_cell(AuditScore(100.0, 40, "pass")) == "100 pass (40)"
    assert score_cell(AuditScore(87.5, 8, "warn")) == "87.5 warn (8)"
    assert score_cell(AuditScore(0.0, 1_200, "fail")) == "0 **fail** (1,200)"
    assert score_cell(AuditScore(99.25, 52, "warn"), percent=True) == "99.2% warn (52)"
    assert score_cell(AuditScore(None, 0, "no data")) == "no data"
    assert audit_table((), None, None) == [NO_AUDITS]
    row = AuditRow("a|b", "m", "M", "audit-a-b.md", build_audit())
    assert "| a\\|b | M | " in audit_table((row,), "2025-05-28T12:00:00.000Z", "2025-06-04T12:00:00.000Z")[-1]


def test_page_names_are_distinct_slugs() -> None:
    pages = audit_pages(["openai", "Open AI!", "open-ai", HOSTILE])
    assert pages["openai"] == "audit-openai.md"
    assert pages["Open AI!"] != pages["open-ai"] and pages["Open AI!"].startswith("audit-open-ai-")
    assert len(set(pages.values())) == 4 and all("/" not in page for page in pages.values())
