"""What importing soapguard and building a client load, each in a fresh interpreter.

Heavy or rarely needed modules load only when they are used: the async client's stack,
the PKCS#12 and OpenSSL-bridge support, the command line, and everything only a failure
needs (the classifier's rules, the hint rules, the retry library).  A new eager import of
one of them makes ``from soapguard import Client`` slower for every user; these tests say
which one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from soapguard.testing.ledger import wsdl_dir

#: never loaded by ``import soapguard`` (its public names load on first use)
NOT_ON_IMPORT = (
    "zeep",
    "requests",
    "urllib3",
    "lxml",
    "httpx",
    "cryptography",
    "asyncio",
    "tenacity",
    "ctypes",
    "soapguard.cli",
    "soapguard.client",
    "soapguard.transport",
)
#: never loaded by ``from soapguard import Client``, nor by building a client with default
#: settings: the async stack, optional TLS support, the CLI, failure-only modules
NOT_FOR_A_CLIENT = (
    "asyncio",
    "anyio",
    "httpcore",
    "cryptography",
    "ctypes",
    "tenacity",
    "html",
    "soapguard.cli",
    "soapguard.testing",
    "soapguard.async_errors",
    "soapguard.transport.asyncio",
    "soapguard.tls._openssl",
    "soapguard.tls.pkcs12",
    "soapguard.classify.rules",
    "soapguard.classify.tls",
    "soapguard.diagnostics.hints",
)


def _loaded(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def _present(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n in loaded or any(m.startswith(n + ".") for m in loaded)]


def _added_to_zeep(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    """``_present``, minus what ``import zeep`` alone loads here: zeep imports httpx when it
    is installed, and httpx before 0.28 imports httpcore and anyio at once; soapguard
    cannot make its own dependency lighter, only add nothing to it."""
    return _present(loaded - _loaded("import zeep"), names)


def test_import_soapguard_loads_none_of_its_dependencies() -> None:
    assert _present(_loaded("import soapguard"), NOT_ON_IMPORT) == []


def test_the_client_class_loads_no_optional_or_failure_only_module() -> None:
    assert _added_to_zeep(_loaded("from soapguard import Client"), NOT_FOR_A_CLIENT) == []


def test_building_a_client_loads_them_only_when_its_settings_need_them() -> None:
    wsdl = str(Path(wsdl_dir()) / "ledger.wsdl")
    build = f"import soapguard\nsoapguard.Client({wsdl!r}, config=soapguard.Config({{settings}}))\n"
    plain = _loaded(build.format(settings=""))
    assert _added_to_zeep(plain, NOT_FOR_A_CLIENT) == []
    # a record cap needs the OpenSSL bridge: then (and only then) ctypes loads
    capped = _loaded(build.format(settings="max_record_size=4096"))
    assert "soapguard.tls._openssl" in capped
    assert "ctypes" in capped
