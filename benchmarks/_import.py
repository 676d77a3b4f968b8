"""Section 7: import time of ``soapguard`` vs ``zeep``, each in a fresh interpreter.

Wall time of ``python -c "import X"`` (median of N, interleaved with a bare
``python -c pass`` so interpreter start-up can be subtracted), plus
``-X importtime`` to name the modules soapguard adds on top of zeep.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from _measure import Row, Spread, judged, ms

#: soapguard imports zeep, requests and urllib3 anyway; its own share should stay small
TARGET_RATIO = 1.1


def _environment(cache: str) -> dict[str, str]:
    """This environment, with bytecode cached under ``cache`` as an installed package has it.

    Without that, ``PYTHONDONTWRITEBYTECODE`` (set on some machines) would make
    every run compile soapguard from source while zeep's site-packages
    bytecode is already there.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


def _run(code: str, env: dict[str, str], *flags: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *flags, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    return time.perf_counter() - start, done.stderr


def import_time(runs: int) -> list[Row]:
    """Median wall time of fresh interpreters importing soapguard, zeep, nothing."""
    codes = {
        "nothing": "pass",
        "zeep": "import zeep",
        "soapguard": "import soapguard",
        # soapguard's public names load lazily (PEP 562): this is what using it costs
        "soapguard.Client": "from soapguard import Client",
    }
    seconds: dict[str, list[float]] = {name: [] for name in codes}
    with tempfile.TemporaryDirectory(prefix="soapguard-pycache-") as cache:
        env = _environment(cache)
        for code in codes.values():  # warm-up: compile and cache the bytecode
            _run(code, env)
        for i in range(max(1, runs)):
            for name in list(codes) if i % 2 == 0 else reversed(list(codes)):
                seconds[name].append(_run(codes[name], env)[0])
        added = _added_modules(env)
    base = statistics.median(seconds["nothing"])
    zeep = Spread.of([s - base for s in seconds["zeep"]])
    bare = Spread.of([s - base for s in seconds["soapguard"]])
    guard = Spread.of([s - base for s in seconds["soapguard.Client"]])
    ratio = guard.median / zeep.median
    return [
        Row(
            section="7 import time",
            metric="from soapguard import Client / import zeep (interpreter start subtracted)",
            result=f"{ratio:.2f}x",
            target=f"<= {TARGET_RATIO}x",
            status=judged(ratio <= TARGET_RATIO),
            detail=(
                f"soapguard.Client {ms(guard.median)}, zeep {ms(zeep.median)}, "
                f"bare 'import soapguard' {ms(bare.median)}, interpreter {ms(base)}; median of "
                f"{len(seconds['nothing'])}, bytecode cached; heaviest modules soapguard adds: "
                f"{added}"
            ),
            data={"seconds": seconds, "ratio": ratio},
        )
    ]


def _added_modules(env: dict[str, str], top: int = 4) -> str:
    """The modules imported after zeep by ``from soapguard import Client``, by own time."""
    _, report = _run("import zeep; from soapguard import Client", env, "-X", "importtime")
    after_zeep, seen_zeep = [], False
    for line in report.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, _, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if not self_us.isdigit():
            continue  # the header line
        if seen_zeep:
            after_zeep.append((int(self_us), name))
        elif name == "zeep":
            seen_zeep = True
    total = sum(us for us, _ in after_zeep)
    heaviest = sorted(after_zeep, reverse=True)[:top]
    named = ", ".join(f"{name} {us / 1000:.1f} ms" for us, name in heaviest)
    return f"{named} (all {len(after_zeep)} added: {total / 1000:.1f} ms self time)"
