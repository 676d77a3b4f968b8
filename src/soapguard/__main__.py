"""``python -m soapguard``: the same as the ``soapguard`` command."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
