#!/usr/bin/env python3
"""Print ``name==floor`` for every ``>=`` floor in pyproject.toml's dependencies and extras.

The minimum versions soapguard declares are the ones CI tests; this reads them from the
one place they are stated.  Tooling (the ``dev`` extra) is left at its newest versions.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
_FLOOR = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)")


def floors() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project.get("dependencies", []))
    for extra, deps in project.get("optional-dependencies", {}).items():
        if extra != "dev":
            specs.extend(deps)
    pins = {}
    for spec in specs:
        found = _FLOOR.match(spec)
        if found:
            pins[found.group(1).lower()] = found.group(2)
    if "opentelemetry-api" in pins:  # the tests' SDK must match the API it implements
        pins["opentelemetry-sdk"] = pins["opentelemetry-api"]
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


if __name__ == "__main__":
    print(" ".join(floors()))
    sys.exit(0)
