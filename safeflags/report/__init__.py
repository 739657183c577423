"""Reporters: an Outcome in, text out. One class per format; the CLI only
picks one and writes what it returns."""
from __future__ import annotations

from safeflags.report.base import Reporter
from safeflags.report.github import GithubReporter
from safeflags.report.json_report import JsonReporter
from safeflags.report.sarif import SarifReporter
from safeflags.report.summary import markdown_summary
from safeflags.report.text import TextReporter

REPORTERS: dict[str, type[Reporter]] = {
    "text": TextReporter,
    "json": JsonReporter,
    "sarif": SarifReporter,
    "github": GithubReporter,
}

__all__ = ["REPORTERS", "Reporter", "SarifReporter", "markdown_summary"]
