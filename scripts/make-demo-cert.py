#!/usr/bin/env python3
"""Generate the PUBLIC demo CA and server certificate shipped in ``soapguard/_data``.

Run once; the output is committed.  These keys are public by design: they serve
the loopback-only ``soapguard demo`` and ``LedgerServer.demo()``.  Never trust
``demo-ca.pem`` anywhere else.

    /tmp/venv/bin/python scripts/make-demo-cert.py [OUTPUT_DIR]
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import trustme

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "soapguard" / "_data"


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


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT)
