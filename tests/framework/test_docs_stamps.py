"""The user pages (README.md and docs/*.md) say what is: no dated measurements and no time stamps.
A measurement's date and machine belong beside it on its results page (docs/results/), what changed
when in CHANGELOG.md; both are left out here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USER_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
#: What dates a sentence: an ISO date or year-month, a month with a day or year, a weekday, or a
#: time relative to when it was written.
STAMPS = [
    re.compile(r"(?<![\w-])(?:19|20)\d\d-(?:0[1-9]|1[0-2])(?:-\d\d)?(?![\w-])"),
    re.compile(rf"\b(?:{MONTHS}) (?:\d{{1,2}}(?:st|nd|rd|th)?,? )?\d{{4}}\b|\b\d{{1,2}} (?:{MONTHS}) \d{{4}}\b"),
    re.compile(r"\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"),
    re.compile(r"\b(?:this|last|next) (?:week|month|morning)\b|\btoday\b|\byesterday\b|"
               r"\bearlier the same day\b|\bthe same (?:morning|day)\b", re.I),
]


def stamps(text: str) -> list[tuple[int, str]]:
    """(line, what) for every date or time stamp in ``text``."""
    return [(n, m.group(0)) for n, line in enumerate(text.splitlines(), 1) for pattern in STAMPS
            for m in pattern.finditer(line)]


@pytest.mark.parametrize("page", USER_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_user_page_carries_no_dated_measurement_or_time_stamp(page):
    found = [f"{page.relative_to(ROOT)}:{n}: {what}" for n, what in stamps(page.read_text())]
    assert not found, ("dates belong on docs/results/ pages (a measurement) or in CHANGELOG.md (a change):\n"
                       + "\n".join(found))


def test_the_stamps_are_found():
    text = ("Measured on 2026-12-04 on the Xeon.\n"
            "the engine of 2026-11 and (measured 4 December 2026)\n"
            "as of December 4, 2026, and on Tuesday\n"
            "this week's engine, and earlier the same day\n"
            "run 20261127-193344-348d88, commit dae13ab, schema sculptbench.leaderboard/3, --seeds 2026\n")
    assert [n for n, _ in stamps(text)] == [1, 2, 2, 3, 3, 4, 4]
