"""Comparison reports: comparison data in, markdown and SVG text out. Pure: no I/O, no printing.

`Evidence` gathers what was read (samples grouped as columns, prices, scores, metadata); `build_comparison`
computes one pair's numbers and verdicts; `render_markdown`, `render_index` and the SVG functions turn them into
text; `build_reports` does all of it for a set of pairs. `probe.reporting` is the I/O shell that reads the store
and writes the files.
"""

from probe.report.build import ReportSet, all_pairs, build_reports, normalize_pairs, pair_slug, wanted_prices
from probe.report.data import Comparison, Evidence, Settings, Window, WorkloadScope, build_comparison, parse_window
from probe.report.escape import escape_md, escape_xml, slugify
from probe.report.markdown import render_index, render_markdown

__all__ = [
    "Comparison",
    "Evidence",
    "ReportSet",
    "Settings",
    "Window",
    "WorkloadScope",
    "all_pairs",
    "build_comparison",
    "build_reports",
    "escape_md",
    "escape_xml",
    "normalize_pairs",
    "pair_slug",
    "parse_window",
    "render_index",
    "render_markdown",
    "slugify",
    "wanted_prices",
]
