"""pytest plugin: run zeep's own test suite with ``zeep.Client`` replaced by ``soapguard.Client``.

Loaded by ``scripts/zeep-compat`` with ``-p zeep_compat_plugin``; zeep's files
are never edited.  At import (before zeep's test modules are collected) it
rebinds ``zeep.Client`` and ``zeep.client.Client``, so ``from zeep import
Client`` in a test module already gets soapguard's class; after collection it
also rebinds ``Client`` in any module that still holds zeep's original.

It counts the clients constructed, by class, and writes them as JSON to the
file named by ``ZEEP_COMPAT_STATS`` so the script can prove the swap took effect.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import sys
from typing import Any

import pytest
import zeep
import zeep.client

try:
    import soapguard
except ImportError as exc:  # the swapped run is meaningless without it
    raise pytest.UsageError(f"zeep-compat: cannot import soapguard: {exc}") from exc

ORIGINAL: Any = zeep.client.Client
GUARDED: Any = getattr(soapguard, "Client", None)
if not (isinstance(GUARDED, type) and issubclass(GUARDED, ORIGINAL)):
    raise pytest.UsageError(
        "zeep-compat: soapguard.Client is missing or not a zeep.Client subclass"
    )

_constructed: collections.Counter[str] = collections.Counter()
_swapped_modules: set[str] = set()
_original_init: Any = ORIGINAL.__init__


@functools.wraps(_original_init)
def _counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    _constructed[f"{cls.__module__}.{cls.__qualname__}"] += 1
    _original_init(self, *args, **kwargs)


def _swap() -> None:
    """Rebind ``Client`` wherever it still names zeep's original class."""
    for name, module in [("zeep", zeep), ("zeep.client", zeep.client), *sys.modules.items()]:
        if getattr(module, "Client", None) is ORIGINAL:
            module.__dict__["Client"] = GUARDED
            _swapped_modules.add(name)


ORIGINAL.__init__ = _counting_init
_swap()


def pytest_report_header(config: pytest.Config) -> str:
    return f"zeep-compat: zeep.Client is {GUARDED.__module__}.{GUARDED.__qualname__}"


def pytest_collection_finish(session: pytest.Session) -> None:
    _swap()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("ZEEP_COMPAT_STATS")
    if path:
        stats = {
            "client_class": f"{GUARDED.__module__}.{GUARDED.__qualname__}",
            "constructed": dict(_constructed),
            "swapped_modules": sorted(_swapped_modules),
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(stats, handle, indent=2)
