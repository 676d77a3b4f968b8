"""The demo client's settings: the operator's ``SOAPGUARD_*`` variables, under what the
demo must set itself.

Three layers, the last one winning:

1. :data:`DEFAULTS`, where the environment says nothing: short timeouts and backoff
   keep each scene to a few milliseconds;
2. the ``SOAPGUARD_*`` variables, read and validated as ``soapguard.Client`` reads
   them (a bad one is a usage error naming it), so the scenes run with the TLS
   settings, attempts, timeouts, budget and breaker the operator's client would use;
3. :data:`OWN` and the demo's CA (and, with ``--mtls``, its client certificate):
   these variables describe the operator's own service (its CA, pins, failover
   addresses, client identity, which of its operations are idempotent, where its
   events go) and mean nothing for the embedded ledger, so the demo ignores them
   and says so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ...config import Config
from .._origin import environment

__all__ = ["DEFAULTS", "OWN", "SET_BY", "client_config"]

#: used where no SOAPGUARD_* variable is set: a quick demo
DEFAULTS: dict[str, Any] = {
    "backoff_initial": 0.01,
    "backoff_max": 0.05,
    "connect_timeout": 5.0,
    "read_timeout": 5.0,
    "deadline": 20.0,
}
#: always the demo's own: the variables for these name the operator's service
OWN: dict[str, Any] = {
    "idempotent_operations": ("Get*",),
    "pinned_keys": (),
    "failover_addresses": (),
    "diagnostics_file": None,  # the demo's events are not the service's
    "client_cert": None,
    "client_key": None,
    "client_key_password": None,
}
SET_BY = "the demo"


def client_config(
    mtls: str | None,
    on_event: Any,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> tuple[Config, dict[str, list[dict[str, Any]]]]:
    """The demo client's Config and the account of where its settings came from.

    Raises :class:`~soapguard.ConfigError` naming every bad variable.  ``overrides``
    (from code, e.g. a test) win over everything.
    """
    from ...testing.ledger import DEMO_CA_FILE
    from .mtls import client_identity

    env = os.environ if environ is None else environ
    own = {**OWN, "ca_bundle": DEMO_CA_FILE, **client_identity(mtls)}
    read = Config.from_env(env, **own)  # what the environment sets (and whether it is valid)
    quick = {k: v for k, v in DEFAULTS.items() if read.sources.get(k) != "env"}
    fields = {**quick, **own, **overrides}
    config = Config.from_env(env, **fields, on_event=on_event)
    set_by = {name: SET_BY for name in own} | {name: "code" for name in overrides}
    return config, environment(config, env, set_by)
