#!/usr/bin/env python3
"""Generate the PUBLIC demo certificates shipped in ``soapguard/_data``.

Run once; the output is committed.  These keys are public by design: they serve
the loopback-only ``soapguard demo`` and ``LedgerServer.demo()``.  Never trust
``demo-ca.pem`` or ``demo-client-ca.pem`` anywhere else.

    /tmp/venv/bin/python scripts/make-demo-cert.py [OUTPUT_DIR]           # server CA and cert
    /tmp/venv/bin/python scripts/make-demo-cert.py --client [OUTPUT_DIR]  # mutual TLS client

The client set (for ``soapguard demo --mtls``) is a separate CA and one client
certificate, its key encrypted with the public password ``soapguard-demo``, and the
same pair as a PKCS#12 file under that password.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "soapguard" / "_data"
#: PUBLIC: the password of the demo client key and PKCS#12 file
DEMO_CLIENT_PASSWORD = b"soapguard-demo"


def main(out: Path) -> None:
    # RSA so that TLS-variant demo servers can also offer static-RSA suites.
    ca = trustme.CA(
        organization_name="soapguard PUBLIC demo CA (loopback only)",
        key_type=trustme.KeyType.RSA,
    )
    leaf = ca.issue_cert(
        "localhost",
        "127.0.0.1",
        common_name="localhost",
        organization_name="soapguard PUBLIC demo server (loopback only)",
        not_before=datetime.datetime(2024, 1, 1),
        not_after=datetime.datetime(2100, 1, 1),
        key_type=trustme.KeyType.RSA,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo-ca.pem").write_bytes(ca.cert_pem.bytes())
    (out / "demo-cert.pem").write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    (out / "demo-key.pem").write_bytes(leaf.private_key_pem.bytes())
    print(f"wrote demo-ca.pem, demo-cert.pem, demo-key.pem to {out}")


def client(out: Path) -> None:
    ca = trustme.CA(organization_name="soapguard PUBLIC demo client CA (loopback only)")
    leaf = ca.issue_cert(
        "demo-client@soapguard.invalid",
        common_name="soapguard demo client",
        organization_name="soapguard PUBLIC demo client (loopback only)",
        not_before=datetime.datetime(2024, 1, 1),
        not_after=datetime.datetime(2100, 1, 1),
    )
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    encryption = serialization.BestAvailableEncryption(DEMO_CLIENT_PASSWORD)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    bundle = pkcs12.serialize_key_and_certificates(
        b"soapguard demo client",
        key,
        cert,
        None,
        encryption,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo-client-ca.pem").write_bytes(ca.cert_pem.bytes())
    (out / "demo-client.pem").write_bytes(leaf.cert_chain_pems[0].bytes())
    (out / "demo-client-key.pem").write_bytes(encrypted)
    (out / "demo-client.p12").write_bytes(bundle)
    names = "demo-client-ca.pem, demo-client.pem, demo-client-key.pem, demo-client.p12"
    print(f"wrote {names} to {out}")


if __name__ == "__main__":
    args = sys.argv[1:]
    make = main
    if args[:1] == ["--client"]:
        make, args = client, args[1:]
    make(Path(args[0]) if args else DEFAULT_OUT)
