"""``soapguard probe`` against a server that does not honour max_fragment_length.

An OpenSSL (hence Python) server always honours the extension, so the peer is a
small Java (JSSE) HTTPS server on 127.0.0.1, started with
``-Djdk.tls.server.disableExtensions=max_fragment_length``: it ignores the
request and keeps sending 16 KB records.  The same server without the property
honours it: the positive control that the verdict follows the server.
Skipped where no ``java`` (JDK 11+, for single-file source launch) is installed.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from soapguard.cli import main
from soapguard.config import Config
from soapguard.tls import context as tls

JAVA = shutil.which("java")
pytestmark = [
    pytest.mark.skipif(JAVA is None, reason="needs java (apt openjdk-17-jdk-headless)"),
    pytest.mark.timeout(90),
    pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning"),
]

SERVER = """
import javax.net.ssl.*;
import java.io.*;
import java.net.InetAddress;
import java.security.KeyStore;
import java.util.Arrays;

public class MflServer {
    public static void main(String[] args) throws Exception {
        char[] pass = args[1].toCharArray();
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = new FileInputStream(args[0])) { store.load(in, pass); }
        String algorithm = KeyManagerFactory.getDefaultAlgorithm();
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(algorithm);
        kmf.init(store, pass);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), null, null);
        SSLServerSocket listener = (SSLServerSocket) ctx.getServerSocketFactory()
            .createServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        Thread reaper = new Thread(() -> {  // bounded: never outlive the test run
            try { Thread.sleep(60000); } catch (InterruptedException e) { }
            System.exit(0);
        });
        reaper.setDaemon(true);
        reaper.start();
        System.out.println("PORT " + listener.getLocalPort());
        System.out.flush();
        byte[] body = new byte[20000];
        Arrays.fill(body, (byte) 'x');
        while (true) {
            try (SSLSocket s = (SSLSocket) listener.accept()) {
                s.setSoTimeout(10000);
                BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream()));
                String line;
                while ((line = r.readLine()) != null && !line.isEmpty()) { }
                OutputStream out = s.getOutputStream();
                out.write(("HTTP/1.1 200 OK\\r\\nContent-Length: " + body.length
                           + "\\r\\nConnection: close\\r\\n\\r\\n").getBytes());
                out.write(body);
                out.flush();
            } catch (IOException e) {
                // a probe handshake that the server refused: next connection
            }
        }
    }
}
"""


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(PKCS12 keystore, CA file)`` for a localhost/127.0.0.1 server certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    directory = tmp_path_factory.mktemp("java-server")
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    leaf = ca.issue_cert("localhost", "127.0.0.1", key_type=trustme.KeyType.RSA)
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    chain = [x509.load_pem_x509_certificate(blob.bytes()) for blob in leaf.cert_chain_pems]
    store = pkcs12.serialize_key_and_certificates(
        b"server",
        key,
        chain[0],
        chain[1:],
        serialization.BestAvailableEncryption(b"changeit"),  # type: ignore[arg-type]
    )
    (directory / "server.p12").write_bytes(store)
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    (directory / "MflServer.java").write_text(SERVER)
    return directory / "server.p12", directory / "ca.pem"


@pytest.fixture(scope="module")
def java_servers(keystore: tuple[Path, Path]) -> Iterator[dict[bool, int]]:
    """Ports of two started JSSE servers: ``{honours_mfl: port}`` (both start at once)."""
    store, _ = keystore
    program = [str(store.parent / "MflServer.java")]  # single-file source launch (JDK 11+)
    fast = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    ignore_mfl = "-Djdk.tls.server.disableExtensions=max_fragment_length"
    procs = {
        honour: subprocess.Popen(
            [str(JAVA), *fast, *([] if honour else [ignore_mfl]), *program, str(store), "changeit"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for honour in (True, False)
    }
    try:
        yield {honour: _port(proc) for honour, proc in procs.items()}
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()


def _port(proc: subprocess.Popen[str]) -> int:
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    first = lines.get(timeout=60)
    if not first.startswith("PORT "):
        pytest.fail(f"the Java server did not start: {first}")
    return int(first.split()[1])


@pytest.mark.skipif(
    not tls.caps_state(tls.context_for(Config(max_record_size=512))).applied,
    reason="this interpreter cannot request max_fragment_length",
)
@pytest.mark.parametrize(("honour", "verdict"), [(False, "not_honoured"), (True, "honoured")])
def test_max_fragment_length_verdict_follows_the_server(
    java_servers: dict[bool, int],
    keystore: tuple[Path, Path],
    honour: bool,
    verdict: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"https://127.0.0.1:{java_servers[honour]}/"
    code = main(["probe", url, "--ca-bundle", str(keystore[1]), "--timeout", "20", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["problems"]
    record = report["record_size"]
    assert record["verdict"] == verdict, record["detail"]
    assert record["uncapped"]["largest_record_in"] > 16000
    capped = record["capped"]
    assert capped["bytes_in"] > 20000
    if honour:
        assert capped["negotiated_mfl"] == 512
        assert capped["largest_record_in"] <= 512 + 64
    else:
        assert capped["negotiated_mfl"] is None
        assert capped["largest_record_in"] > 16000
        assert any("ignores max_fragment_length" in note for note in report["notes"])
