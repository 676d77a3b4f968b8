"""pytest plugin: run zeep's own test suite with zeep's clients replaced by soapguard's.

Loaded by ``scripts/zeep-compat`` with ``-p zeep_compat_plugin``; zeep's files
are never edited.  At import (before zeep's test modules are collected) it
rebinds ``zeep.Client``/``zeep.client.Client`` to ``soapguard.Client``,
``zeep.AsyncClient``/``zeep.client.AsyncClient`` to ``soapguard.AsyncClient`` and
``zeep.transports.AsyncTransport`` to ``soapguard.AsyncTransport``, so ``from zeep
import Client`` in a test module already gets soapguard's class; after collection it
also rebinds those names in any module that still holds zeep's originals.

It counts the clients and async transports constructed, by class, and writes them as
JSON to the file named by ``ZEEP_COMPAT_STATS`` so the script can prove the swap
took effect.
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
import zeep.transports

try:
    import soapguard
except ImportError as exc:  # the swapped run is meaningless without it
    raise pytest.UsageError(f"zeep-compat: cannot import soapguard: {exc}") from exc

ORIGINAL: Any = zeep.client.Client
GUARDED: Any = getattr(soapguard, "Client", None)
#: (name, zeep's class, soapguard's class) for every name the swap rebinds
SWAPS: list[tuple[str, Any, Any]] = [
    ("Client", ORIGINAL, GUARDED),
    ("AsyncClient", zeep.client.AsyncClient, getattr(soapguard, "AsyncClient", None)),
    ("AsyncTransport", zeep.transports.AsyncTransport, getattr(soapguard, "AsyncTransport", None)),
]
for _name, _original, _guarded in SWAPS:
    if not (isinstance(_guarded, type) and issubclass(_guarded, _original)):
        raise pytest.UsageError(
            f"zeep-compat: soapguard.{_name} is missing or not a zeep {_name} subclass"
        )

_constructed: collections.Counter[str] = collections.Counter()
_swapped_modules: set[str] = set()
_original_init: Any = ORIGINAL.__init__


@functools.wraps(_original_init)
def _counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    _constructed[f"{cls.__module__}.{cls.__qualname__}"] += 1
    _original_init(self, *args, **kwargs)


def _counting(init: Any) -> Any:
    """``init`` that also counts the instances of its class and subclasses built."""

    @functools.wraps(init)
    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        _constructed[f"{cls.__module__}.{cls.__qualname__}"] += 1
        init(self, *args, **kwargs)

    return counted


def _swap() -> None:
    """Rebind each swapped name wherever it still names zeep's original class."""
    modules = [
        ("zeep", zeep),
        ("zeep.client", zeep.client),
        ("zeep.transports", zeep.transports),
        *sys.modules.items(),
    ]
    for name, module in modules:
        for attribute, original, guarded in SWAPS:
            if getattr(module, attribute, None) is original:
                module.__dict__[attribute] = guarded
                _swapped_modules.add(f"{name}.{attribute}")


ORIGINAL.__init__ = _counting_init
# soapguard's AsyncTransport does not call zeep's __init__: count both, each on its own
for _cls in (SWAPS[2][1], SWAPS[2][2]):
    _cls.__init__ = _counting(_cls.__dict__["__init__"])
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
            "async_classes": [f"{g.__module__}.{g.__qualname__}" for _, _, g in SWAPS[1:]],
            "constructed": dict(_constructed),
            "swapped_modules": sorted(_swapped_modules),
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(stats, handle, indent=2)
