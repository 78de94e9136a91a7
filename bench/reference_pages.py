"""Regenerate the reference pages docs/pruners.md, docs/detectors.md and docs/scorers.md from the
built-in components' declarations (their options, defaults, when each applies, metrics).

    python bench/reference_pages.py            # write the pages
    python bench/reference_pages.py --check    # exit 1 naming each stale page (what the test runs)

Only built-ins are described (entry points are not loaded), so the pages do not depend on what
else is installed. Nothing is measured: the pages hold no numbers but declared defaults.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sculptbench.cli.describe import reference_page
from sculptbench.plugin.registry import load_registry

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = {"pruner": "pruners.md", "detector": "detectors.md", "scorer": "scorers.md"}


def pages() -> dict[Path, str]:
    """Each reference page's path and its text, from the built-ins' declarations."""
    registry = load_registry(entry_points=False)
    return {DOCS / name: reference_page(registry, kind) for kind, name in PAGES.items()}


def main(argv: list[str] | None = None) -> int:
    """Write the pages, or with ``--check`` report the stale ones and exit 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Only report pages that differ from their declarations.")
    args = parser.parse_args(argv)
    stale = []
    for path, text in pages().items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"stale: {', '.join(stale)}; run `python bench/reference_pages.py`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
