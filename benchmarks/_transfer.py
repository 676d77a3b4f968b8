"""Section 4: large responses with TLS record caps (max_record_size) vs uncapped.

A plain HTTPS GET of ``/bytes/N`` through each ``soapguard.Transport``'s
session (the cap is a TLS-layer matter, SOAP parsing would only add noise).
512/1024/4096 also ask the server for max_fragment_length (RFC 6066); the
canned server is OpenSSL via Python's ``ssl`` and honours it.  Each row
reports the largest record actually received, so a server that ignored the
request would show.
"""

from __future__ import annotations

import time
from typing import Any

from _clients import demo_ca
from _measure import Row, Spread, interleaved, judged, ratios
from _plan import MB, Plan
from _servers import ServerProcess

import soapguard

CAPS = (4096, 1024, 512)
TARGET_AT_4096 = 1.5
#: TLS 1.3 record overhead on top of the plaintext: content type byte + 16-byte AEAD tag
_TLS13_OVERHEAD = 17


def record_caps(plan: Plan) -> list[Row]:
    """Download time capped / uncapped, per size and cap, interleaved rounds."""
    rows: list[Row] = []
    ca = demo_ca()
    variants: dict[str, tuple[int | None, bool]] = {
        "uncapped": (None, True),
        **{str(cap): (cap, True) for cap in CAPS},
        # attribution: the same with the record tracer off
        "uncapped, untraced": (None, False),
        "4096, untraced": (4096, False),
    }
    with ServerProcess() as server:
        transports = {
            name: soapguard.Transport(
                config=soapguard.Config(ca_bundle=ca, max_record_size=cap, trace_records=trace)
            )
            for name, (cap, trace) in variants.items()
        }
        for size in plan.cap_sizes:
            url = f"https://127.0.0.1:{server.port}/bytes/{size}"
            calls = {name: _downloader(t, url, size) for name, t in transports.items()}
            seconds = interleaved(
                calls, blocks=max(2, plan.cap_rounds), per_block=1, clock=time.perf_counter
            )
            base = Spread.of(seconds["uncapped"])
            for cap in CAPS:
                name = str(cap)
                spread = Spread.of(ratios(seconds[name], seconds["uncapped"]))
                largest, mfl = _record_facts(transports[name])
                honoured = largest is not None and largest <= cap + _TLS13_OVERHEAD + 256
                mb_s = size / MB / Spread.of(seconds[name]).median
                rows.append(
                    Row(
                        section="4 record caps",
                        metric=f"{size // MB} MiB download time, cap {cap} / uncapped",
                        result=spread.ratio_text(),
                        target=f"<= {TARGET_AT_4096}x" if cap == 4096 else "-",
                        status=judged(spread.median <= TARGET_AT_4096) if cap == 4096 else "info",
                        detail=(
                            f"{mb_s:.0f} MiB/s vs {size / MB / base.median:.0f} MiB/s uncapped; "
                            f"largest record in {largest} B, negotiated MFL {mfl}"
                            + ("" if honoured else " (server did NOT honour the cap)")
                        ),
                        data={
                            "ratio": vars(spread),
                            "seconds": seconds[name],
                            "uncapped_seconds": seconds["uncapped"],
                            "largest_record_in": largest,
                            "max_fragment_length": mfl,
                        },
                    )
                )
            untraced = Spread.of(ratios(seconds["4096, untraced"], seconds["uncapped, untraced"]))
            rows.append(
                Row(
                    section="4 record caps",
                    metric=f"{size // MB} MiB, cap 4096 / uncapped, both trace_records=False",
                    result=untraced.ratio_text(),
                    target="-",
                    status="info",
                    detail="what the cap itself costs, without the per-record Python callback",
                    data={"ratio": vars(untraced)},
                )
            )
        for transport in transports.values():
            transport.close()
    return rows


def _downloader(transport: soapguard.Transport, url: str, size: int) -> Any:
    session = transport.session

    def download() -> None:
        response = session.get(url, timeout=(10, 60))
        if response.status_code != 200 or len(response.content) != size:
            raise RuntimeError(
                f"bad download: HTTP {response.status_code}, {len(response.content)}"
            )

    return download


def _record_facts(transport: soapguard.Transport) -> tuple[int | None, int | None]:
    """Largest TLS record received and negotiated max_fragment_length, from the pooled connection.

    Reads soapguard's per-connection evidence (``ConnInfo``) off urllib3's pool:
    private structures, good enough for a benchmark; ``None`` when not found.
    """
    manager = transport.adapter.poolmanager
    for key in manager.pools.keys():  # noqa: SIM118 - the container refuses iteration
        pool = manager.pools.get(key)
        for conn in list(getattr(getattr(pool, "pool", None), "queue", [])):
            info = getattr(conn, "_sg_info", None)
            if info is not None and info.records is not None:
                return info.records.largest_record_in, info.max_fragment_length
    return None, None
