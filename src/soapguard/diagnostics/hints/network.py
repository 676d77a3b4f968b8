"""Hints about reaching the endpoint and the call's limits: addresses, proxies, redirects,
timeouts, and why the attempt loop stopped."""

from __future__ import annotations

from ...retry.rules import TRANSIENT_TYPES
from ._rule import Event, HintRule, integer, number, reason, target, text, when

__all__ = ["ATTEMPTS_RULE", "CONNECT_TIMEOUT_RULE", "LIMIT_RULES", "ROUTE_RULES", "STOP_RULES"]

_TRANSIENT_TYPES = TRANSIENT_TYPES | {"http.status"}


def _redirect(event: Event) -> bool:
    status = integer(event, "http.response.status_code")
    return event.get("error.type") == "http.status" and status is not None and 300 <= status < 400


def _redirect_text(event: Event) -> str:
    where = event.get("http.response.header.location") or "an address the event does not show"
    return (
        f"The server redirected the call to {where}, which soapguard does not follow (only "
        "307/308 to the same scheme, host and port: another redirect could send the envelope "
        "and its credentials in clear text or to another host), so call the final address "
        "directly (client.create_service(binding, address) sets it)."
    )


def _tunnel(event: Event) -> bool:
    return event.get("error.type") == "http.status" and event.get("phase") == "connect"


def _tunnel_text(event: Event) -> str:
    status = integer(event, "http.response.status_code")
    if status == 407:
        return (
            "The HTTPS proxy refused the tunnel with 407 Proxy Authentication Required, so give "
            "it credentials in the proxy URL (HTTPS_PROXY=http://user:password@proxy:port) or "
            "check that they are still valid; nothing was sent to the service."
        )
    return (
        f"The HTTPS proxy could not open a tunnel to {target(event)} (HTTP {status} to CONNECT), "
        "so nothing was sent to the service; check that the proxy can reach it, or list the "
        "host in NO_PROXY if it should be reached directly."
    )


def _refused_text(event: Event) -> str:
    return (
        f"Nothing is listening on {target(event)} (the connection was refused), so check that "
        "the service runs there and that the address is right: the WSDL's, the one given to "
        "client.create_service, or one of SOAPGUARD_FAILOVER_ADDRESSES."
    )


def _dns_text(event: Event) -> str:
    host = event.get("server.address") or "the server's host name"
    return (
        f"The host name {host} could not be resolved, so check its spelling in the address "
        "(the WSDL's, the one given to client.create_service, or SOAPGUARD_FAILOVER_ADDRESSES) "
        "and this machine's DNS settings."
    )


def _handshake_stalled(event: Event) -> bool:
    return event.get("error.type") == "timeout.connect" and event.get("phase") == "handshake"


def _handshake_stalled_text(event: Event) -> str:
    return (
        f"TCP connected to {target(event)} but the TLS handshake did not finish within "
        "SOAPGUARD_CONNECT_TIMEOUT, so whatever listens there does not speak TLS on that port "
        "or is overloaded: check the port with `soapguard probe URL`, or raise "
        "SOAPGUARD_CONNECT_TIMEOUT for a slow server."
    )


def _circuit_text(event: Event) -> str:
    wait = number(event, "retry_after_s")
    when_next = f"in {wait:.1f} s" if wait is not None else "after SOAPGUARD_BREAKER_OPEN_SECONDS"
    return (
        "Every endpoint's circuit breaker is open after repeated failures, so the call was not "
        f"sent and the next probe call is allowed {when_next}: investigate the endpoint, or "
        "tune SOAPGUARD_BREAKER_FAILURE_RATIO and SOAPGUARD_BREAKER_MIN_CALLS if it opens on "
        "short blips."
    )


def _not_idempotent(event: Event) -> bool:
    return reason("not_idempotent")(event) and event.get("error.type") in _TRANSIENT_TYPES


#: where the request went: proxy tunnels and redirects (ranked before record evidence)
ROUTE_RULES: tuple[HintRule, ...] = (
    HintRule("proxy_tunnel", _tunnel, _tunnel_text),
    HintRule("redirect", _redirect, _redirect_text),
)
#: the endpoint's address and the call's time limits
LIMIT_RULES: tuple[HintRule, ...] = (
    HintRule("refused", when("connection.refused"), _refused_text),
    HintRule("dns", when("connection.dns"), _dns_text),
    HintRule("circuit_open", when("circuit.open"), _circuit_text),
    HintRule(
        "deadline",
        when("timeout.deadline"),
        text(
            "The call's overall deadline ran out across attempts and backoff, so raise "
            "SOAPGUARD_DEADLINE or lower SOAPGUARD_MAX_ATTEMPTS / SOAPGUARD_READ_TIMEOUT to fit."
        ),
    ),
    HintRule(
        "read_timeout",
        when("timeout.read"),
        text(
            "The server accepted the request but sent no response within the read timeout, so "
            "raise SOAPGUARD_READ_TIMEOUT if the operation is legitimately slow, otherwise "
            "investigate the server's slowness."
        ),
    ),
    HintRule("handshake_stalled", _handshake_stalled, _handshake_stalled_text),
)
#: why the attempt loop stopped, when the failure itself says nothing more specific
STOP_RULES: tuple[HintRule, ...] = (
    HintRule(
        "budget",
        reason("budget"),
        text(
            "The retry budget for this endpoint is spent, meaning it is failing broadly rather "
            "than intermittently, so investigate the endpoint before raising "
            "SOAPGUARD_RETRY_BUDGET."
        ),
    ),
    HintRule(
        "deadline_reached",
        reason("deadline"),
        text(
            "No time was left within SOAPGUARD_DEADLINE for another attempt, so raise it if the "
            "endpoint needs longer to recover, or lower SOAPGUARD_READ_TIMEOUT so that attempts "
            "fail sooner."
        ),
    ),
    HintRule(
        "not_idempotent",
        _not_idempotent,
        lambda e: (
            f"This transient {e['error.type']} happened after the request was sent and the "
            "operation is not declared idempotent, so it was not retried; add it to "
            "SOAPGUARD_IDEMPOTENT_OPERATIONS only if repeating it is really safe."
        ),
    ),
)
CONNECT_TIMEOUT_RULE = HintRule(
    "connect_timeout",
    when("timeout.connect"),
    lambda e: (
        f"No TCP connection to {target(e)} could be made in time, so check firewalls and "
        "routing to the server, or raise SOAPGUARD_CONNECT_TIMEOUT for a slow network."
    ),
)
ATTEMPTS_RULE = HintRule(
    "attempts_exhausted",
    reason("attempts_exhausted"),
    text(
        "Every attempt failed with a retryable error, so the endpoint is unhealthy for "
        "longer than SOAPGUARD_MAX_ATTEMPTS and SOAPGUARD_BACKOFF_MAX cover."
    ),
)
