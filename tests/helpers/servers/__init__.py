"""Test-only SOAP servers (imported as ``servers.*``; see ``tests/conftest.py``)."""
