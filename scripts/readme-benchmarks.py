"""Write the README's benchmark table from one ``benchmarks/run.py --json FILE`` report.

Usage: python scripts/readme-benchmarks.py REPORT.json [--date YYYY-MM-DD]

Replaces what stands between the ``<!-- benchmarks -->`` markers in README.md: the
machine the run was on and every row of the report (section, metric, result with its
spread, target, status), so the table is always one run, never figures pasted together.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(<!-- benchmarks -->\n).*?(<!-- /benchmarks -->)", re.S)


def table(report: dict[str, object], date: str) -> str:
    machine = report["machine"]
    assert isinstance(machine, dict)
    rows = report["rows"]
    assert isinstance(rows, list)
    head = (
        f"One full run on {date}: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['python']}, {machine['openssl']}"
        f"{' (--quick)' if report.get('quick') else ''}.\n\n"
        "| section | metric | result | target | status |\n|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['section']} | {r['metric']} | {r['result']} | {r['target']} | {r['status']} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report")
    parser.add_argument("--date", default=datetime.date.today().isoformat())
    args = parser.parse_args()
    report = json.loads(Path(args.report).read_text(encoding="utf-8"))
    text = README.read_text(encoding="utf-8")
    if not BLOCK.search(text):
        raise SystemExit("README.md has no <!-- benchmarks --> block")
    new = BLOCK.sub(lambda m: m.group(1) + table(report, args.date) + m.group(2), text)
    README.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
