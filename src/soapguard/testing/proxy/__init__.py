"""The fault-injecting, TLS-record-aware proxy (:class:`FaultProxy`) and its parts.

:mod:`.server` accepts and tracks connections, :mod:`.conn` pumps bytes, :mod:`.session`
decides per record what to do, :mod:`.phases` and :mod:`.records` read TLS framing,
:mod:`.faults` and :mod:`.queue` say which fault is next, :mod:`.hub` and :mod:`.stats`
keep what was observed.
"""
