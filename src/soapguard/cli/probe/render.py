"""The human-readable output of ``soapguard probe`` (``--json`` prints the report as is).

Every value the report holds as ``None`` was not measured (nothing connected, the
interpreter cannot trace records, the budget ran out): it is printed as such, never
as ``None``.
"""

from __future__ import annotations

from typing import Any

from .. import _origin
from .._failure import headline
from . import identity, legacy

NOT_MEASURED = "not measured"


def render(report: dict[str, Any]) -> None:
    """Print the probe report for people."""
    target = report["target"]
    print(f"soapguard probe {report['url']}  ({target['host']} port {target['port']})\n")
    for line in _origin.lines(report["environment"]):
        print(line)
    if report["environment"]["from_env"] or report["environment"]["ignored_env"]:
        print()
    print("Handshakes:")
    for row in report["handshakes"]:
        label = "current settings" if row["kind"] == "current" else f"{row['kind']} {row['name']}"
        unverified = "" if row.get("verified") or not row["ok"] else "  [certificate NOT verified]"
        if row["ok"]:
            print(
                f"  {label:<22} ok      TLS {row['tls_version']} {row['cipher']}  "
                f"({_ms(row['handshake_ms'])}){unverified}{legacy.row_suffix(row)}"
            )
        else:
            print(f"  {label:<22} failed  {_error(row['error'])}")
    _print_certificate(report["certificate"])
    identity.render(report["identity"])
    _print_record_size(report.get("record_size"))
    timings = report["timings"]
    print(
        f"\nTimings: connect {_ms(timings['connect_ms'])}, "
        f"handshake {_ms(timings['handshake_ms'])}, first byte {_ms(timings['first_byte_ms'])}"
    )
    if report.get("calls"):
        _print_calls(report["calls"])
    legacy.render(report)
    if report.get("idle"):
        _print_idle(report["idle"])
    for text in report["notes"]:
        print(f"\nnote: {text}")
    for text in report["problems"]:
        print(f"\nPROBLEM: {text}")
    print("\nRecommended settings:" if report["recommendations"] else "\nNo changes recommended.")
    for rec in report["recommendations"]:
        print(f"  {rec['line']}\n      # {rec['reason']}")


def _ms(value: float | None) -> str:
    return NOT_MEASURED if value is None else f"{value} ms"


def _shown(value: Any, unit: str = "") -> str:
    return NOT_MEASURED if value is None else f"{value}{unit}"


def _error(error: dict[str, Any] | None) -> str:
    if not error:
        return "unknown error"
    reason = f" [{error['openssl.reason']}]" if error.get("openssl.reason") else ""
    origin = f" ({error['error.origin']})" if error.get("error.origin") else ""
    kind = error.get("error.type") or "unclassified"
    return f"{kind}{origin}{reason}"


def _print_certificate(cert: dict[str, Any]) -> None:
    status = "verified" if cert["verified"] else "NOT VALID" if cert["error"] else "not checked"
    match = {True: "yes", False: "NO", None: "not checked"}[cert["hostname_match"]]
    print(f"\nCertificate: {status} (trusting {cert.get('trust_store')}); hostname match: {match}")
    if cert["error"]:
        why = cert["error"].get("verify_message") or cert["error"].get("error.message")
        print(f"  {_error(cert['error'])}: {why or 'no detail'}")
    if cert["chain_read_unverified"]:
        print("  (chain below read WITHOUT verification, for information only)")
    for number, item in enumerate(cert["chain"]):
        days = _shown(item.get("days_left"), " days")
        print(
            f"  [{number}] subject {item['subject'] or '(empty)'}\n"
            f"      issuer  {item['issuer'] or '(empty)'}\n"
            f"      expires {item['not_after'] or 'unknown'} ({days})\n"
            f"      sha256  {item['sha256']}\n      pin     {item.get('spki_pin') or 'unreadable'}"
        )


def _print_record_size(record: dict[str, Any] | None) -> None:
    if not record:
        print(f"\nRecord size: {NOT_MEASURED} (no handshake succeeded, or no time left)")
        return
    print(
        f"\nRecord size (max_fragment_length={record['cap']}): {record['verdict']}"
        f" - {record['detail']}"
    )
    before = record["uncapped"]
    if not before["ok"]:
        print(f"  without the cap: the GET failed ({_error(before.get('error'))})")
        return
    largest = before["largest_record_in"]
    shown = "not traced" if largest is None else f"{largest} bytes"
    print(f"  without the cap: largest record {shown}, {before['bytes_in']} bytes received")


def _print_calls(result: dict[str, Any]) -> None:
    print(f"\nCalls: {result['operation']} x{result['repeat']} per candidate, no retries")
    kinds = sorted({kind for c in result["candidates"] for kind in c["failures"]})
    header = f"  {'candidate':<22} {'calls':>5} {'ok':>5}" + "".join(f" {k:>20}" for k in kinds)
    print(header)
    for cand in result["candidates"]:
        line = f"  {cand['name']:<22} {cand['calls']:>5} {cand['ok']:>5}"
        line += "".join(f" {cand['failures'].get(k, 0):>20}" for k in kinds)
        setup = cand["setup_error"]
        if setup:
            line += f"  (WSDL not loaded: {setup['error.type']})"
        print(line)
    wsdl = result.get("wsdl_error")
    if wsdl:
        print(f"  the WSDL could not be loaded: {headline(wsdl)}")
        if wsdl.get("hint"):
            print(f"  hint: {wsdl['hint']}")


def _print_idle(idle: dict[str, Any]) -> None:
    if not idle.get("measured"):
        print(f"\nIdle connection: {NOT_MEASURED} ({_error(idle.get('error'))})")
    elif idle.get("closed_after_s") is None:
        print(f"\nIdle connection: still open after {idle['waited_s']} s")
    else:
        closed, how = idle["closed_after_s"], idle["how"]
        print(f"\nIdle connection: closed by the server after {closed} s ({how})")
