"""VISA resource names compared as VISA compares them."""

from __future__ import annotations


def resource_identity(resource: str) -> str:
    """The address a VISA resource string stands for, to tell whether two spellings name one
    instrument: ``tcpip::10.0.0.5::inst0`` and ``TCPIP0::10.0.0.5::INSTR`` are one.

    VISA resource names are case-insensitive, an interface's board number defaults to 0 and
    the resource class to ``INSTR`` (VPP-4.3, The VISA Library, section 4.3.1.1 "Address
    String Grammar"); pyvisa's ``rname.to_canonical_name`` fills in those defaults. A string
    pyvisa cannot parse is compared as written, in capitals. Different host names of one
    machine (``localhost``, ``127.0.0.1``) are not resolved here: the instruments' ``*IDN?``
    answers tell those apart once opened.
    """
    from pyvisa import rname

    text = resource.strip().upper()
    try:
        return str(rname.to_canonical_name(text)).upper()
    except (rname.InvalidResourceName, ValueError):
        return text
