"""Each profile's clause registry is its spec's clause list, no more and no less."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import profiles

ROOT = Path(__file__).resolve().parent.parent
SHARED_SPEC = ROOT.parent / "shared" / "spec"


def spec_clause_ids(text: str) -> list[str]:
    return re.findall(r"^\| ([A-Z]+-\d+) \|", text, flags=re.M)


@pytest.mark.parametrize("name", profiles.names())
def test_registry_matches_the_spec(name: str) -> None:
    profile = profiles.get(name)
    ids = spec_clause_ids(profile.spec.read_text())
    assert ids, f"{profile.spec} has no clause table"
    assert [c.id for c in profile.clauses] == ids
    assert not {c.id for c in profile.extra_clauses} & set(ids)


@pytest.mark.parametrize("name", profiles.names())
def test_vendored_spec_is_the_shared_one(name: str) -> None:
    # The workspace's shared/ sits beside the repository in CI and a team checkout; a fresh
    # clone elsewhere has none, and skips -- unless HFCONFORM_REQUIRE_SHARED=1 (set by .ci/run).
    profile = profiles.get(name)
    shared = SHARED_SPEC / profile.spec_name
    if not shared.exists():
        if os.environ.get("HFCONFORM_REQUIRE_SHARED") == "1":
            pytest.fail(f"HFCONFORM_REQUIRE_SHARED=1 but the normative text is not at {shared}")
        pytest.skip(f"no workspace spec at {shared}: clone beside shared/ (or set HFCONFORM_REQUIRE_SHARED=1 to require it)")
    assert profile.spec.read_text() == shared.read_text(), f"{profile.spec} is out of date: copy {shared} again"


def test_hafnium_2018_10_sections_and_impl_defined_parts() -> None:
    profile = profiles.get("hafnium-2018-10")
    assert len(profile.clauses) == 55
    prefix_section = {"CALL": 1, "ID": 2, "VM": 3, "RUN": 4, "CFG": 5, "SEND": 6, "RECV": 7, "CLR": 8}
    for c in profile.clauses:
        assert c.section == prefix_section[c.id.split("-")[0]], c.id
        assert c.rule and c.source
    assert {c.id for c in profile.clauses if c.impl_defined} == {"CALL-6", "VM-3", "VM-5", "RUN-4"}
    assert profile.get("FAULT").impl_defined
    assert profile.qualified("SEND-6") == "hafnium-2018-10:SEND-6"
    with pytest.raises(KeyError, match="no clause 'SEND-99' in profile hafnium-2018-10"):
        profile.get("SEND-99")


def test_unknown_profile_names_the_known_ones() -> None:
    known = "ffa-1.1-indirect, hafnium-2018-10, hafnium-2019-03"
    with pytest.raises(LookupError, match=rf"unknown profile 'hafnium-1999'; known profiles: {known}$"):
        profiles.get("hafnium-1999")


def test_split_qualified() -> None:
    assert profiles.split_qualified("hafnium-2018-10:SEND-5", "x") == ("hafnium-2018-10", "SEND-5")
    assert profiles.split_qualified("SEND-5", "hafnium-2018-10") == ("hafnium-2018-10", "SEND-5")
