"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package lists its public names and the submodule that defines each; a name's
submodule is imported on first access.  This keeps ``import soapguard`` (and the
pytest plugin, and ``soapguard config``) cheap, and it keeps the subpackages free of
import cycles: no package imports its submodules just by being imported.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def attach(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``names`` maps a public name to the
    relative submodule defining it (``".context"``)."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            loaded = importlib.import_module(module, package)
        except AttributeError as exc:
            # raised while importing the submodule: an AttributeError would make
            # ``from package import name`` report "cannot import name", hiding the cause
            raise ImportError(f"importing {package}{module} failed: {exc}") from exc
        value = getattr(loaded, name)
        setattr(sys.modules[package], name, value)  # later look-ups are plain attribute access
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
