"""How much each benchmark section runs: the full plan, the ``--quick`` plan, and scaling."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

MB = 1024 * 1024


@dataclass(frozen=True)
class Plan:
    """Iteration counts of every section (blocks alternate variants ABBA; >= 2 each)."""

    # 1 and 6: client CPU per small call
    cpu_blocks: int = 10
    cpu_calls: int = 200
    trace_blocks: int = 20
    trace_calls: int = 150
    #: 1 MiB downloads per variant and block (the tracer's cost is ~2%: it needs many)
    trace_downloads: int = 10
    # 2: calls that open a connection
    connect_blocks: int = 6
    connect_calls: int = 10
    # 3: recovery from one bad_record_mac
    recoveries: int = 20
    normal_calls: int = 50
    handshakes: int = 30
    # 4: record caps
    cap_sizes: tuple[int, ...] = (1 * MB, 10 * MB)
    cap_rounds: int = 5
    # 5: memory over many calls with random faults
    memory_warmup: int = 1000
    memory_calls: int = 10_000
    fault_rate: float = 0.01
    # 7: import time
    import_runs: int = 10
    # 8: redaction of hostile bodies (runs per body and path)
    redaction_runs: int = 9
    # 11: client CPU per kept-alive call, pool checks on / off
    pool_blocks: int = 20
    pool_calls: int = 200
    # 12: 16 threads, one soapguard client vs 16 zeep clients (rounds ABBA, calls per thread)
    thread_rounds: int = 6
    thread_calls: int = 25
    # 13: building clients (second client in a warm process; first in fresh interpreters)
    startup_blocks: int = 10
    startup_clients: int = 30
    startup_runs: int = 10

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            cpu_blocks=6,
            cpu_calls=60,
            trace_blocks=6,
            trace_calls=60,
            trace_downloads=5,
            connect_blocks=4,
            connect_calls=3,
            recoveries=5,
            normal_calls=20,
            handshakes=10,
            cap_sizes=(1 * MB,),
            cap_rounds=2,
            memory_warmup=200,
            memory_calls=1000,
            import_runs=3,
            redaction_runs=3,
            pool_blocks=6,
            pool_calls=60,
            thread_rounds=3,
            thread_calls=8,
            startup_blocks=6,
            startup_clients=10,
            startup_runs=3,
        )

    def scaled(self, factor: float) -> Plan:
        """Every count multiplied by ``factor`` (blocks stay >= 2, others >= 1)."""
        if not factor > 0:
            raise ValueError(f"scale must be > 0, got {factor!r}")
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int):
                floor = 2 if f.name.endswith("blocks") else 1
                changes[f.name] = max(floor, math.ceil(value * factor))
        return dataclasses.replace(self, **changes)
