"""Client certificates for mutual-TLS tests: one key in every form a user may hand soapguard.

:func:`make_identity` issues a client certificate from a trustme CA and writes it
as PEM with a plain key, PEM with an encrypted key, a modern PKCS#12 file (AES)
and a legacy one (3DES, what old Windows and Java tools write); :func:`rc2_p12`
adds the RC2 file OpenSSL 3 refuses without its legacy provider, made by the
``openssl`` command line when it can.  :meth:`ClientIdentity.leaks_in` tells
whether some bytes hold the key in a readable form.
"""

from __future__ import annotations

import base64
import datetime
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12


@dataclass
class ClientIdentity:
    common_name: str
    password: str
    cert: str
    key: str
    encrypted_key: str
    p12: str
    p12_3des: str
    key_object: Any

    def needles(self) -> list[bytes]:
        """Byte strings that appear wherever the key is stored unencrypted (DER or PEM)."""
        found: list[bytes] = []
        numbers = self.key_object.private_numbers()
        secret = getattr(numbers, "private_value", None) or numbers.d
        found.append(secret.to_bytes((secret.bit_length() + 7) // 8, "big"))
        for fmt in (
            serialization.PrivateFormat.PKCS8,
            serialization.PrivateFormat.TraditionalOpenSSL,
        ):
            pem = self.key_object.private_bytes(
                serialization.Encoding.PEM, fmt, serialization.NoEncryption()
            )
            lines = pem.splitlines()[1:-1]
            found.extend(line for line in lines[1:] if len(line) == 64)  # key-specific lines
            der = base64.b64decode(b"".join(lines))
            found.append(der[-24:])  # the tail of the DER holds key bytes, never a header
        return found

    def leaks_in(self, data: bytes) -> bool:
        return any(needle in data for needle in self.needles())


def make_identity(
    ca: trustme.CA,
    directory: Path,
    *,
    password: str,
    common_name: str = "soapguard-test-client",
    not_after: datetime.datetime | None = None,
) -> ClientIdentity:
    leaf = ca.issue_cert("client@example.test", common_name=common_name, not_after=not_after)
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    certificate = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    secret = password.encode()
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )
    modern = pkcs12.serialize_key_and_certificates(
        b"client", key, certificate, None, serialization.BestAvailableEncryption(secret)
    )
    legacy_encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())
        .build(secret)
    )
    legacy = pkcs12.serialize_key_and_certificates(
        b"client", key, certificate, None, legacy_encryption
    )
    files = {
        "cert.pem": leaf.cert_chain_pems[0].bytes(),
        "key.pem": leaf.private_key_pem.bytes(),
        "key-encrypted.pem": encrypted,
        "client.p12": modern,
        "client-3des.pfx": legacy,
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return ClientIdentity(
        common_name=common_name,
        password=password,
        cert=str(directory / "cert.pem"),
        key=str(directory / "key.pem"),
        encrypted_key=str(directory / "key-encrypted.pem"),
        p12=str(directory / "client.p12"),
        p12_3des=str(directory / "client-3des.pfx"),
        key_object=key,
    )


def rc2_p12(identity: ClientIdentity, directory: Path) -> str | None:
    """An RC2-40 PKCS#12 file (``openssl pkcs12 -export -legacy``), or None if not possible."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    out = directory / "client-rc2.p12"
    result = subprocess.run(
        [
            openssl,
            "pkcs12",
            "-export",
            "-legacy",
            "-in",
            identity.cert,
            "-inkey",
            identity.key,
            "-out",
            str(out),
            "-passout",
            "env:P12_PASSWORD",
        ],
        env={"P12_PASSWORD": identity.password, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        check=False,
        timeout=30,
    )
    if result.returncode != 0 or not out.exists():
        return None
    return str(out)
