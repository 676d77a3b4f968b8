"""The exit codes of every ``soapguard`` command, defined once."""

from __future__ import annotations

#: everything is fine
OK = 0
#: a problem was found (a failed check, a wrong behaviour, an unusable setting)
PROBLEM = 1
#: a usage or configuration error (including a bad ``SOAPGUARD_*`` variable)
USAGE = 2
