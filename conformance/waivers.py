"""Waivers: known deviations of a build, declared in a file and reported as WAIVED.

A waived test still runs. If it fails (FAIL, or TIMEOUT) it is reported ``WAIVED`` with the
waiver's reason — never as a pass. A clause waiver covers a failure only when the failed check
states that clause (the clause the failure counts against), not every clause the test is tagged
with. The report says a waiver was not needed when what it names passed: the test, for a test
waiver; the whole clause, for a clause waiver. An ERROR (a broken build or environment) is never
waived.

File format (``--waivers FILE``), TOML::

    [[waiver]]
    clause = "SEND-6"                 # every test that names SEND-6 in its clause marker
                                      # ("hafnium-2018-10:SEND-6": only when that profile is judged)
    reason = "mailbox-full check not implemented yet (BUG-12)"

    [[waiver]]
    test = "profiles/hafnium_2018_10/tests/test_send.py::test_send_to_full_mailbox"   # one test, or a prefix
    reason = "flaky on the FPGA model"

or JSON: ``{"waivers": [{"clause": "SEND-6", "reason": "..."}, {"test": "...", "reason": "..."}]}``
(a bare JSON list of entries is accepted too). The format is chosen by the extension
(``.toml`` / ``.json``); anything else is tried as JSON, then TOML.

A ``test`` key matches a node ID exactly, as a prefix ending at ``::`` or ``[`` (a module, a class,
every parametrization of a function), or as a suffix after a ``/`` (so IDs relative to another
root directory still match).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import profiles
from profiles import Profile


class WaiverError(ValueError):
    """The waiver file is unreadable or malformed (a usage error)."""


@dataclass(frozen=True)
class Waiver:
    kind: str  # "clause" or "test"
    key: str
    reason: str

    def matches(self, nodeid: str, clause_ids: Iterable[str]) -> bool:
        if self.kind == "clause":
            return self.key in clause_ids
        key = self.key
        return (
            nodeid == key
            or nodeid.startswith((key + "::", key + "["))
            or nodeid.endswith("/" + key)
            or ("/" + key + "::") in nodeid
            or ("/" + key + "[") in nodeid
        )

    def describe(self) -> str:
        return f"{self.kind} {self.key}: {self.reason}"


@dataclass(frozen=True)
class Waivers:
    entries: tuple[Waiver, ...] = ()
    source: str = ""

    def match(self, nodeid: str, clause_ids: Sequence[str]) -> Waiver | None:
        """The first waiver that covers this test (test waivers before clause waivers)."""
        for kind in ("test", "clause"):
            for w in self.entries:
                if w.kind == kind and w.matches(nodeid, clause_ids):
                    return w
        return None

    def match_test(self, nodeid: str) -> Waiver | None:
        """The first test waiver that names this test."""
        return next((w for w in self.entries if w.kind == "test" and w.matches(nodeid, ())), None)

    def clause_waivers(self) -> list[Waiver]:
        return [w for w in self.entries if w.kind == "clause"]

    def __bool__(self) -> bool:
        return bool(self.entries)


def parse(data: object, source: str = "<waivers>", profile: Profile | None = None) -> Waivers:
    """Waivers from already-decoded JSON/TOML data, for a run that judges ``profile`` (default: the
    default profile). A clause may be qualified (``hafnium-2018-10:SEND-6``): a waiver of another
    profile's clause is checked against that profile and left out of this run."""
    profile = profile or profiles.get(profiles.DEFAULT)
    if isinstance(data, Mapping):
        raw = data.get("waiver", data.get("waivers", []))
    else:
        raw = data
    if not isinstance(raw, list):
        raise WaiverError(f"{source}: expected a list of waivers under 'waiver' (TOML) or 'waivers' (JSON)")
    out: list[Waiver] = []
    for n, entry in enumerate(raw, 1):
        if not isinstance(entry, Mapping):
            raise WaiverError(f"{source}: waiver #{n} is not a table/object")
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise WaiverError(f"{source}: waiver #{n} has no 'reason'")
        has_clause, has_test = "clause" in entry, "test" in entry
        if has_clause == has_test:
            raise WaiverError(f"{source}: waiver #{n} needs exactly one of 'clause' or 'test'")
        if has_clause:
            keys = entry["clause"]
            for key in keys if isinstance(keys, list) else [keys]:
                if not isinstance(key, str):
                    raise WaiverError(f"{source}: waiver #{n} names unknown clause {key!r}")
                named, cid = profiles.split_qualified(key, profile.name)
                try:
                    owner = profiles.get(named)
                except LookupError as e:
                    raise WaiverError(f"{source}: waiver #{n} names clause {key!r}: {e}") from None
                if cid not in owner.by_id:
                    raise WaiverError(f"{source}: waiver #{n} names unknown clause {key!r} (profile {owner.name})")
                if owner.name == profile.name:
                    out.append(Waiver("clause", cid, reason.strip()))
        else:
            key = entry["test"]
            if not isinstance(key, str) or not key:
                raise WaiverError(f"{source}: waiver #{n} has an empty 'test'")
            out.append(Waiver("test", key, reason.strip()))
    return Waivers(tuple(out), source)


def load(path: str | Path, profile: Profile | None = None) -> Waivers:
    """Read a waiver file (JSON or TOML, see the module docstring)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise WaiverError(f"cannot read waiver file {p}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise WaiverError(f"waiver file {p} is not UTF-8 text (byte {e.start}: {e.reason})") from None
    suffix = p.suffix.lower()
    try:
        if suffix == ".toml":
            data: object = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                data = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise WaiverError(f"waiver file {p} is not valid {suffix.lstrip('.') or 'JSON/TOML'}: {e}") from None
    except RecursionError:
        raise WaiverError(f"waiver file {p} is nested too deeply") from None
    except ValueError as e:  # e.g. an integer longer than Python's digit limit
        raise WaiverError(f"waiver file {p} cannot be read: {e}") from None
    return parse(data, str(p), profile)
