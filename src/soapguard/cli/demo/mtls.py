"""``soapguard demo --mtls``: the demo's service requires a client certificate.

The client presents the PUBLIC demo client certificate shipped in the package,
as PEM with an encrypted key (``pem``) or as a PKCS#12 file (``p12``, which
needs the ``mtls`` extra), both under the public password ``soapguard-demo``;
an extra scene checks that the server saw it.
"""

from __future__ import annotations

from typing import Any

from .scenes import Scene

__all__ = ["client_identity", "mutual_tls_scene"]


def client_identity(mtls: str | None) -> dict[str, Any]:
    """The Config fields that present the PUBLIC demo client certificate."""
    from ...testing import ledger

    if mtls is None:
        return {}
    # TLS 1.2: the fault proxy reads record headers only, and in TLS 1.3 a client's
    # encrypted certificate records look like its first request to it
    common = {"client_key_password": ledger.DEMO_CLIENT_PASSWORD, "tls_max_version": "1.2"}
    if mtls == "p12":
        return {"client_cert": ledger.DEMO_CLIENT_P12_FILE, **common}
    return {
        "client_cert": ledger.DEMO_CLIENT_CERT_FILE,
        "client_key": ledger.DEMO_CLIENT_KEY_FILE,
        **common,
    }


def mutual_tls_scene(mtls: str, subjects: list[dict[str, str]]) -> Scene:
    """The scene that checks the server saw the demo certificate (``subjects``: what it saw)."""
    form = "a PKCS#12 file" if mtls == "p12" else "PEM with an encrypted key"
    scene = Scene(
        0,
        "Mutual TLS: every connection presented the demo client certificate",
        f"The service requires a client certificate; the client loaded it from {form} "
        "without writing the decrypted key anywhere (TLS 1.2 in this demo: its fault "
        "proxy cannot tell a TLS 1.3 client certificate from the request).",
    )
    names = {subject.get("commonName") for subject in subjects}
    scene.facts["client_certificates_seen"] = len(subjects)
    scene.expect("the server saw the demo client certificate", names == {"soapguard demo client"})
    return scene
