"""The human-readable output of ``soapguard probe`` (``--json`` prints the report as is)."""

from __future__ import annotations

from typing import Any

from . import identity, legacy


def render(report: dict[str, Any]) -> None:
    """Print the probe report for people."""
    target = report["target"]
    print(f"soapguard probe {report['url']}  ({target['host']} port {target['port']})\n")
    print("Handshakes:")
    for row in report["handshakes"]:
        label = "current settings" if row["kind"] == "current" else f"{row['kind']} {row['name']}"
        unverified = "" if row.get("verified") or not row["ok"] else "  [certificate NOT verified]"
        if row["ok"]:
            print(
                f"  {label:<22} ok      TLS {row['tls_version']} {row['cipher']}  "
                f"({row['handshake_ms']} ms){unverified}{legacy.row_suffix(row)}"
            )
        else:
            print(f"  {label:<22} failed  {_error(row['error'])}")
    _print_certificate(report["certificate"])
    identity.render(report["identity"])
    record = report.get("record_size")
    if not record:
        print("\nRecord size: not measured (no handshake succeeded, or no time left)")
    else:
        print(
            f"\nRecord size (max_fragment_length={record['cap']}): {record['verdict']}"
            f" - {record['detail']}"
        )
        before = record["uncapped"]
        print(
            f"  without the cap: largest record {before['largest_record_in']} bytes, "
            f"{before['bytes_in']} bytes received"
        )
    timings = report["timings"]
    print(
        f"\nTimings: connect {timings['connect_ms']} ms, handshake {timings['handshake_ms']} ms,"
        f" first byte {timings['first_byte_ms']} ms"
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


def _error(error: dict[str, Any] | None) -> str:
    if not error:
        return "unknown error"
    reason = f" [{error['openssl.reason']}]" if error.get("openssl.reason") else ""
    origin = f" ({error['error.origin']})" if error.get("error.origin") else ""
    return f"{error.get('error.type')}{origin}{reason}"


def _print_certificate(cert: dict[str, Any]) -> None:
    status = "verified" if cert["verified"] else "NOT VALID" if cert["error"] else "not checked"
    print(
        f"\nCertificate: {status} (trusting {cert.get('trust_store')}); "
        f"hostname match: {cert['hostname_match']}"
    )
    if cert["error"]:
        print(f"  {_error(cert['error'])}: {cert['error'].get('verify_message')}")
    if cert["chain_read_unverified"]:
        print("  (chain below read WITHOUT verification, for information only)")
    for number, item in enumerate(cert["chain"]):
        print(
            f"  [{number}] subject {item['subject']}\n      issuer  {item['issuer']}\n"
            f"      expires {item['not_after']} ({item['days_left']} days)\n"
            f"      sha256  {item['sha256']}\n      pin     {item.get('spki_pin')}"
        )


def _print_calls(result: dict[str, Any]) -> None:
    print(f"\nCalls: {result['operation']} x{result['repeat']} per candidate, no retries")
    kinds = sorted({kind for c in result["candidates"] for kind in c["failures"]})
    header = f"  {'candidate':<22} {'calls':>5} {'ok':>5}" + "".join(f" {k:>20}" for k in kinds)
    print(header)
    for cand in result["candidates"]:
        line = f"  {cand['name']:<22} {cand['calls']:>5} {cand['ok']:>5}"
        line += "".join(f" {cand['failures'].get(k, 0):>20}" for k in kinds)
        if cand["setup_error"]:
            line += f"  (WSDL not loaded: {cand['setup_error']})"
        print(line)


def _print_idle(idle: dict[str, Any]) -> None:
    if not idle.get("measured"):
        print(f"\nIdle connection: not measured ({_error(idle.get('error'))})")
    elif idle.get("closed_after_s") is None:
        print(f"\nIdle connection: still open after {idle['waited_s']} s")
    else:
        closed, how = idle["closed_after_s"], idle["how"]
        print(f"\nIdle connection: closed by the server after {closed} s ({how})")
