"""Where a command's settings came from: which ``SOAPGUARD_*`` variables it took, and
which it did not because the command (or code) set that field itself.

``soapguard probe --ca-bundle PATH`` wins over ``SOAPGUARD_CA_BUNDLE``, and the demo
trusts its own CA whatever the variable says; an operator who set the variable must
be told that it had no effect, or the command's output is not what their client
would do.  :func:`environment` builds that account (names, and values only where
they are not secret), :func:`lines` prints it.  :func:`shown_value` is the one rule
for how a setting's value may be displayed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..config import _VARS, Config, env_name, ignored_env
from ..config._vars import mask_urls

__all__ = ["environment", "lines", "shown_value", "value_text"]

#: how a field set in code is attributed when the caller does not say more
IN_CODE = "code"


def shown_value(name: str, value: Any) -> Any:
    """Field ``name``'s value as it may be shown: ``None`` when unset, ``***`` for a
    secret (paths, the key password, sensitive element names), URLs without
    credentials, lists for tuples."""
    var = _VARS[name]
    if value is None or value == ():
        return None
    if var.secret:
        return "***"
    if var.urls:
        return mask_urls(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def value_text(value: Any) -> str:
    """A shown value as the variable would spell it."""
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def environment(
    config: Config,
    environ: Mapping[str, str] | None = None,
    set_by: Mapping[str, str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """``from_env``: each setting read from a variable (``variable``, ``value``, secrets
    as ``***``); ``ignored_env``: each variable that is set but had no effect
    (``variable``, ``set_by``: the option or party that set the field instead).

    ``set_by`` maps a Config field to who set it (``"--ca-bundle"``, ``"the demo"``);
    a field it does not name was set by ``"code"``.
    """
    env = os.environ if environ is None else environ
    from_env = [
        {"variable": env_name(name), "value": shown_value(name, getattr(config, name))}
        for name in _VARS
        if config.sources.get(name) == "env"
    ]
    by_variable = {env_name(name): who for name, who in (set_by or {}).items()}
    ignored = [
        {"variable": name, "set_by": by_variable.get(name, IN_CODE)}
        for name in ignored_env(config, env)
    ]
    return {"from_env": from_env, "ignored_env": ignored}


def lines(doc: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    """The account for people: one line for what was read, one for what was not."""
    out = []
    if doc["from_env"]:
        shown = ", ".join(
            f"{row['variable']}={value_text(row['value'])}" for row in doc["from_env"]
        )
        out.append(f"From the environment: {shown}")
    if doc["ignored_env"]:
        shown = ", ".join(
            f"{row['variable']} ({_given(row['set_by'])})" for row in doc["ignored_env"]
        )
        out.append(f"Ignored: {shown}")
    return out


def _given(who: str) -> str:
    return f"{who} given" if who.startswith("--") else f"set by {who}"
