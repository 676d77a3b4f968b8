#!/usr/bin/env python3
"""Rewrite the private-attributes table of docs/architecture.md from soapguard._compat.

Usage: python scripts/architecture-table.py   (tests/unit/test_compat.py checks the result)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from soapguard._compat import PRIVATE_ATTRIBUTES  # noqa: E402

START = "<!-- private-attributes (kept in sync with _compat.PRIVATE_ATTRIBUTES by a test) -->"
END = "<!-- /private-attributes -->"


def main() -> None:
    page = ROOT / "docs" / "architecture.md"
    rows = ["| attribute | why |", "|---|---|"]
    rows += [f"| `{item.qualname}` | {item.why} |" for item in PRIVATE_ATTRIBUTES]
    text = page.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    page.write_text(pattern.sub(START + "\n" + "\n".join(rows) + "\n" + END, text), "utf-8")


if __name__ == "__main__":
    main()
