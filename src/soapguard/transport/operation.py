"""The operation a plain ``zeep.Client`` posts, for the retry rules of a standalone transport."""

from __future__ import annotations

import re

from lxml import etree

_ACTION = re.compile(r'action\s*=\s*"?([^";]+)"?', re.IGNORECASE)


def operation_name(headers: dict[str, str], message: bytes | str) -> str | None:
    """The operation a standalone transport posts: SOAPAction, else the first Body element."""
    for name, value in headers.items():
        low = name.lower()
        action = None
        if low == "soapaction":
            action = value.strip().strip('"')
        elif low == "content-type":
            found = _ACTION.search(value)
            action = found.group(1) if found else None
        if action:
            return re.split(r"[/#:]", action.rstrip("/"))[-1] or None
    try:
        root = etree.fromstring(
            message.encode() if isinstance(message, str) else message,
            parser=etree.XMLParser(resolve_entities=False, no_network=True),
        )
    except etree.XMLSyntaxError:
        return None
    for body in root:
        if etree.QName(body).localname == "Body":
            for child in body:
                return str(etree.QName(child).localname)
    return None
