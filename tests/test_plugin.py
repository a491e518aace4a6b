"""The conformance plugin, reports and CLI, tested with pytester on fake tests and a fake build."""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import profiles
from conformance import cli, report
from conformance.protocol import TraceRecord
from conformance.waivers import WaiverError
from conformance.waivers import load as load_waivers

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ["-p", "no:hafnium_conformance", "-p", "conformance.plugin"]

FAKE_BUILD = """
TRACE = [  # plain dicts, as a build that does not import the suite emits them; the last is garbage
    {"seq": 0, "kind": "hvc", "vm": 0, "vcpu": 0, "call": "HF_VCPU_RUN", "args": [0xFF00, 1, 0, 0], "result": None},
    {"seq": 1, "kind": "switch", "vm": 1, "vcpu": 0, "detail": "HF_VCPU_RUN"},
    {"seq": 2, "kind": "hvc", "vm": 1, "vcpu": 0, "call": "HF_MAILBOX_SEND", "args": [0xFF04, 0, 22, 0]},
    {"seq": 3, "kind": "switch", "vm": 0, "vcpu": 0, "result": 0x16_0000_0003, "detail": "hypercall"},
    "#4 <script>alert('guest')</script> | `x` **y**",
]
CLOSED = []

class Session:
    def __init__(self, config):
        self.config = config
        self.trace = list(TRACE)
    def call(self, x0, x1=0, x2=0, x3=0, *, regs=None, insn="hvc #0"):
        raise NotImplementedError
    def base(self, vm):
        return 0x1000_0000 * vm
    def read(self, vm, addr, size):
        return bytes(size)
    def write(self, vm, addr, data):
        pass
    def close(self):
        CLOSED.append(self)
        if getattr(self.config, "time_slice", 0) == 13:
            raise OSError("close failed")

class FakeBuild:
    name = "fake"
    capabilities = frozenset({"fault_continue"})
    def boot(self, config):
        if config.time_slice == 7:
            raise RuntimeError("no such board")
        return Session(config)

INSTANCE = FakeBuild()

def factory():
    return FakeBuild()

NOT_A_BUILD = object()
"""

FAKE_TESTS = """
import pytest
from conformance.outcomes import CallTimeout, ConformanceFailure, GuestFault

@pytest.mark.clause("SEND-6")
def test_pass(boot):
    boot()

@pytest.mark.clause("SEND-6", "SEND-1")
def test_fail(boot):
    hv = boot()
    hv.log.append("hvc #0 x0=0xff04 x1=0x1 x2=0x16 x3=0x0 -> 0x0")
    raise ConformanceFailure("send to a full mailbox", 0xFFFF_FFFF_FFFF_FFFF, 0)

@pytest.mark.clause("CALL-5")
def test_guest_fault(boot):
    raise GuestFault("VM 1 faulted at 0x1234")

@pytest.mark.clause("RUN-4")
def test_timeout(boot):
    raise CallTimeout("budget")

@pytest.mark.clause("RUN-5")
def test_error(boot):
    raise RuntimeError("suite bug")

@pytest.mark.clause("RECV-1")
def test_boot_error(boot):
    boot(time_slice=7)

@pytest.mark.clause("VM-3")
@pytest.mark.impl_defined
def test_impl(boot):
    assert 1 == 2

@pytest.mark.clause("CALL-1")
@pytest.mark.requires("ready_vcpus")
def test_requires(boot):
    pass

@pytest.mark.clause("CALL-2")
@pytest.mark.requires("fault_continue")
def test_requires_ok(boot):
    pass

def test_plain():
    pass
"""


@pytest.fixture
def fake(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makepyfile(fakebuild=FAKE_BUILD)
    pytester.syspathinsert()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(pytester.path), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return pytester


def run(p: pytest.Pytester, *args: str) -> pytest.RunResult:
    return p.runpytest(*PLUGIN, "--hv", "fakebuild:FakeBuild", *args)


def props_by_test(xml_path: Path) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for tc in ET.parse(xml_path).iter("testcase"):
        out[tc.get("name", "")] = {p.get("name", ""): p.get("value", "") for p in tc.iter("property")}
    return out


# --- outcomes ---------------------------------------------------------------------------------


def test_outcomes_letters_and_exit_status(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_fake=FAKE_TESTS)
    result = run(fake, "-v", "--junitxml=j.xml", "--conformance-json=out.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*test_fake.py::test_timeout TIMEOUT*",
            "*test_fake.py::test_impl DEVIATION*",
            "*test_requires SKIPPED (unsupported by fake: ready_vcpus)*",
            "*hafnium-2018-10 conformance of build 'fake'*",
            "SEND-1 * FAIL * 0/1  test_fake.py::test_fail: send to*",
            "*MUST clauses [[]fake]:*",
        ]
    )
    data = json.loads((fake.path / "out.json").read_text())
    got = {t["nodeid"].split("::")[1]: t["outcome"] for t in data["tests"]}
    assert got == {
        "test_pass": "PASS",
        "test_fail": "FAIL",
        "test_guest_fault": "FAIL",
        "test_timeout": "TIMEOUT",
        "test_error": "ERROR",
        "test_boot_error": "ERROR",
        "test_impl": "DEVIATION",
        "test_requires": "SKIP",
        "test_requires_ok": "PASS",
    }
    by_id = {c["id"]: c for c in data["clauses"]}
    assert by_id["SEND-6"]["status"] == "FAIL" and (by_id["SEND-6"]["passed"], by_id["SEND-6"]["total"]) == (1, 2)
    assert by_id["SEND-2"]["status"] == "NOT RUN"
    assert by_id["CALL-1"]["status"] == "SKIP"
    assert [c["id"] for c in data["clauses"]] == [c.id for c in profiles.get(profiles.DEFAULT).clauses]
    assert {c["id"]: c["status"] for c in data["impl_defined"]}["VM-3"] == "DEVIATION"
    fail = next(t for t in data["tests"] if t["nodeid"].endswith("test_fail"))
    assert (fail["what"], fail["expected"], fail["actual"]) == (
        "send to a full mailbox",
        "0xffffffffffffffff (-1)",
        "0x0000000000000000",
    )
    assert fail["calls"] == ["hvc #0 x0=0xff04 x1=0x1 x2=0x16 x3=0x0 -> 0x0"]
    switch = {"seq": 1, "kind": "switch", "vm": 1, "vcpu": 0, "call": "", "args": [], "result": None, "detail": "HF_VCPU_RUN"}
    assert fail["trace"][1] == switch  # the records, as JSON
    assert fail["trace"][4]["kind"] == "note" and fail["trace"][4]["detail"].startswith("unreadable trace entry #4: ")
    boot_error = next(t for t in data["tests"] if t["nodeid"].endswith("test_boot_error"))
    assert "no such board" in boot_error["message"]
    props = props_by_test(fake.path / "j.xml")
    assert props["test_fail"]["clause"] == "SEND-6,SEND-1" and props["test_fail"]["outcome"] == "FAIL"
    assert props["test_timeout"]["outcome"] == "TIMEOUT"
    assert "clause" not in props["test_plain"]


def test_deviation_alone_does_not_fail_the_run(fake: pytest.Pytester) -> None:
    fake.makepyfile(
        """
        import pytest
        @pytest.mark.clause("VM-3")
        @pytest.mark.impl_defined
        def test_impl(boot):
            assert False, "8 vCPUs expected"
        @pytest.mark.clause("FAULT")
        def test_fault(boot):
            assert False
        """
    )
    result = run(fake, "--conformance-json=out.json")
    assert result.ret == 0
    data = json.loads((fake.path / "out.json").read_text())
    assert {c["id"]: c["status"] for c in data["impl_defined"]}["FAULT"] == "DEVIATION"


def test_teardown_error_and_sessions_closed(fake: pytest.Pytester) -> None:
    fake.makepyfile(
        """
        import pytest, fakebuild
        @pytest.mark.clause("CLR-1")
        def test_close_fails(boot):
            boot(time_slice=13)
        @pytest.mark.clause("CLR-2")
        def test_two_systems(boot):
            boot(); boot()
        def test_closed():
            assert len(fakebuild.CLOSED) == 3
        """
    )
    result = run(fake, "-p", "no:randomly", "--conformance-json=out.json")
    result.assert_outcomes(passed=3, errors=1)
    data = json.loads((fake.path / "out.json").read_text())
    assert {t["nodeid"].split("::")[1]: t["outcome"] for t in data["tests"]} == {
        "test_close_fails": "ERROR",
        "test_two_systems": "PASS",
    }


# --- markers, options ---------------------------------------------------------------------------


def test_unknown_clause_in_marker_is_a_collection_error(fake: pytest.Pytester) -> None:
    fake.makepyfile(
        """
        import pytest
        @pytest.mark.clause("SEND-66")
        def test_bad(boot):
            pass
        """
    )
    result = run(fake)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*test_bad*unknown clause ID(s) 'SEND-66'*"])


def test_clause_selection(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_fake=FAKE_TESTS)
    result = run(fake, "--clause", "send-1", "--clause", "RUN-4,CALL-2", "-q")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*7 deselected*"])
    family = run(fake, "--clause", "SEND", "-q")
    family.assert_outcomes(passed=1, failed=1)


def test_unknown_clause_option_is_a_usage_error(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_fake=FAKE_TESTS)
    result = run(fake, "--clause", "SEND-66")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--clause 'SEND-66'*did you mean*SEND-6*"])


@pytest.mark.parametrize("spec", ["fakebuild:FakeBuild", "fakebuild:INSTANCE", "fakebuild:factory"])
def test_hv_spec_forms(fake: pytest.Pytester, spec: str) -> None:
    fake.makepyfile(
        test_fake="import pytest\n@pytest.mark.clause('ID-1')\ndef test_a(hv_build):\n    assert hv_build.name == 'fake'\n"
    )
    result = fake.runpytest(*PLUGIN, "--hv", spec)
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuch", "*not a known build entry point*Known entry points: *reference*"),
        ("fakebuild:Nope", "*has no attribute 'Nope'*"),
        ("nosuchmodule:X", "*cannot import module 'nosuchmodule'*"),
        ("fakebuild:NOT_A_BUILD", "*is not a build*"),
    ],
)
def test_bad_hv_spec_is_a_usage_error(fake: pytest.Pytester, spec: str, message: str) -> None:
    fake.makepyfile(test_fake=FAKE_TESTS)
    result = fake.runpytest(*PLUGIN, "--hv", spec)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_inert_without_conformance_tests(fake: pytest.Pytester) -> None:
    fake.makepyfile("def test_a():\n    pass\n")
    result = fake.runpytest(*PLUGIN)
    result.assert_outcomes(passed=1)
    assert "conformance of build" not in result.stdout.str()
    assert "CONFORMANCE" not in result.stdout.str()


def test_no_clause_table(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_fake=FAKE_TESTS)
    result = run(fake, "--no-clause-table")
    assert "conformance of build" not in result.stdout.str()


def test_registry_self_check(fake: pytest.Pytester) -> None:
    fake.makeini("[pytest]\nconformance_registry_check = always\n")
    fake.makepyfile(test_fake=FAKE_TESTS)
    result = run(fake)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*clause registry self-check:*have no test:*CALL-3*"])


# --- waivers ----------------------------------------------------------------------------------


def test_waivers_toml(fake: pytest.Pytester) -> None:
    fake.makepyfile(
        test_fake="""
        import pytest
        from conformance.outcomes import ConformanceFailure
        @pytest.mark.clause("SEND-6")
        def test_fails(boot):
            raise ConformanceFailure("full mailbox", 1, 0)
        @pytest.mark.clause("SEND-7")
        def test_passes(boot):
            pass
        @pytest.mark.clause("SEND-8")
        def test_errors(boot):
            raise RuntimeError("broken")
        """
    )
    fake.path.joinpath("w.toml").write_text(
        textwrap.dedent(
            """
            [[waiver]]
            clause = "SEND-6"
            reason = "BUG-12"
            [[waiver]]
            test = "test_fake.py::test_passes"
            reason = "was flaky"
            [[waiver]]
            clause = "SEND-8"
            reason = "errors are never waived"
            """
        )
    )
    result = run(fake, "-v", "--waivers=w.toml", "--conformance-json=out.json")
    assert result.ret == 1  # the ERROR
    result.stdout.fnmatch_lines(["*test_fails WAIVED*", "*waiver not needed: test_fake.py::test_passes passed*"])
    data = json.loads((fake.path / "out.json").read_text())
    outcomes = {t["nodeid"].split("::")[1]: (t["outcome"], t["waiver"]) for t in data["tests"]}
    assert outcomes["test_fails"] == ("WAIVED", "clause SEND-6: BUG-12")
    assert outcomes["test_errors"][0] == "ERROR"
    assert data["waivers_not_needed"] == [
        {"nodeid": "test_fake.py::test_passes", "waiver": "test test_fake.py::test_passes: was flaky"}
    ]
    assert {c["id"]: c["status"] for c in data["clauses"]}["SEND-6"] == "WAIVED"


def test_waivers_json_and_exit_zero(fake: pytest.Pytester) -> None:
    fake.makepyfile(
        test_fake="""
        import pytest
        @pytest.mark.clause("CLR-3")
        def test_fails(boot):
            assert 0
        """
    )
    fake.path.joinpath("w.json").write_text(json.dumps({"waivers": [{"test": "test_fake.py::test_fails", "reason": "known"}]}))
    result = run(fake, "--waivers=w.json", "--junitxml=j.xml")
    assert result.ret == 0
    assert props_by_test(fake.path / "j.xml")["test_fails"]["outcome"] == "WAIVED"


def test_bad_waiver_file_is_a_usage_error(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_fake=FAKE_TESTS)
    fake.path.joinpath("w.toml").write_text('[[waiver]]\nclause = "NOPE-1"\nreason = "x"\n')
    result = run(fake, "--waivers=w.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown clause 'NOPE-1'*"])


def test_waiver_parsing(tmp_path: Path) -> None:
    p = tmp_path / "w.json"
    p.write_text(json.dumps([{"clause": ["SEND-1", "SEND-2"], "reason": "r"}, {"test": "a/b.py::t", "reason": "s"}]))
    w = load_waivers(p)
    assert len(w.entries) == 3
    assert w.match("x/a/b.py::t[1]", ["CLR-1"]) is not None
    assert w.match("a/b.py::tt", ["CLR-1"]) is None
    assert w.match("z.py::q", ["SEND-2"]) is not None
    p.write_text(json.dumps([{"clause": "SEND-1"}]))
    with pytest.raises(WaiverError, match="no 'reason'"):
        load_waivers(p)


# --- guard --------------------------------------------------------------------------------------


def test_guard_when_tests_do_not_report(fake: pytest.Pytester) -> None:
    fake.makepyfile(
        test_fake="""
        import pytest
        @pytest.mark.clause("CLR-1")
        def test_a(boot):
            pytest.exit("stopping", returncode=0)
        @pytest.mark.clause("CLR-2")
        def test_b(boot):
            pass
        """
    )
    result = run(fake, "--conformance-json=out.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*CONFORMANCE RUN INCOMPLETE: 2 of 2 selected conformance tests reported no result*"])
    guard = json.loads((fake.path / "out.json").read_text())["guard"]
    assert guard["selected"] == 2 and len(guard["missing"]) == 2


def test_guard_with_x(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_fake=FAKE_TESTS)
    result = run(fake, "-x")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*CONFORMANCE RUN INCOMPLETE*stopped early*"])


# --- xdist: same results, properties in JUnit ----------------------------------------------------


def test_xdist_json_identical_and_junit_properties(fake: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    fake.makepyfile(test_fake=FAKE_TESTS)
    common = [*PLUGIN, "--hv", "fakebuild:FakeBuild", "-p", "no:cacheprovider"]
    serial = fake.runpytest_subprocess(*common, "--conformance-json=serial.json")
    par = fake.runpytest_subprocess(*common, "-n", "2", "--conformance-json=par.json", "--junitxml=j.xml")
    assert serial.ret == par.ret == 1
    a = json.loads((fake.path / "serial.json").read_text())
    b = json.loads((fake.path / "par.json").read_text())
    a.pop("timing")
    b.pop("timing")
    assert a == b
    props = props_by_test(fake.path / "j.xml")
    assert all("clause" in p for name, p in props.items() if name != "test_plain")
    assert props["test_timeout"]["outcome"] == "TIMEOUT"
    par.stdout.fnmatch_lines(["*conformance of build 'fake'*"])


def test_installed_entry_point_loads_once(fake: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the package 'installed' (a dist-info with the pytest11 entry point), autoload and the
    CLI's `-p no:hafnium_conformance -p conformance.plugin` both register the plugin once."""
    site = tmp_path / "site"
    dist = site / "hafnium_conformance-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hafnium-conformance\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(
        "[pytest11]\nhafnium_conformance = conformance.plugin\n\n"
        "[hafnium_conformance.builds]\nreference = reference_hv.build:ReferenceBuild\nfake = fakebuild:FakeBuild\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(fake.path), str(ROOT)]))
    fake.makepyfile(
        test_fake="import pytest\n@pytest.mark.clause('ID-1')\ndef test_a(hv_build):\n    assert hv_build.name == 'fake'\n"
    )
    auto = fake.runpytest_subprocess("--hv", "fake", "-p", "no:cacheprovider")
    auto.assert_outcomes(passed=1)
    cli_like = fake.runpytest_subprocess(*PLUGIN, "--hv", "fake", "-p", "no:cacheprovider")
    cli_like.assert_outcomes(passed=1)
    bad = fake.runpytest_subprocess("--hv", "nosuch", "-p", "no:cacheprovider")
    bad.stderr.fnmatch_lines(["*Known entry points: *fake*reference*"])  # other installed builds may be listed too


# --- reports ------------------------------------------------------------------------------------

TRACE = [
    TraceRecord(0, "hvc", 0, 0, "HF_VCPU_RUN", (0xFF00, 1, 0, 0)),
    TraceRecord(1, "switch", 1, 0, detail="HF_VCPU_RUN"),
    TraceRecord(2, "hvc", 1, 0, "HF_MAILBOX_SEND", (0xFF04, 2, 0x16, 0)),
    TraceRecord(3, "switch", 0, 0, result=0xFFFF_0002_0002, detail="hypercall"),  # WAKE_UP VM 2, no vCPU
    TraceRecord(4, "wfi", 1, 0, detail="at PC 0x40100010"),
    TraceRecord(5, "hvc", 0, 0, "HF_MAILBOX_SEND", (0xFF04, 5, 0x16, 0), 0xFFFF_FFFF_FFFF_FFFF),
    TraceRecord.note("garbage <b>line</b>", 6),
]
DECODE = profiles.get(profiles.DEFAULT).decode
MESSAGE = profiles.get(profiles.DEFAULT).message


def test_sequence_from_records() -> None:
    vms, steps = report.sequence(TRACE, DECODE, MESSAGE)
    assert vms == [0, 1, 2]
    kinds = [(s.kind, s.src, s.dst) for s in steps]
    assert kinds == [
        ("note", 0, 0),
        ("arrow", 0, 1),
        ("note", 1, 1),
        ("arrow", 1, 2),  # the message
        ("arrow", 1, 0),  # back to the primary
        ("note", 1, 1),
        ("note", 0, 0),  # a failed send draws no message arrow
        ("plain", 0, 0),
    ]
    assert steps[4].text == "WAKE_UP VM 2, none waiting (hypercall)"  # the run response, read by the profile
    assert steps[6].text == "vCPU 0: hvc MAILBOX_SEND(0x5, 0x16, 0x0) -> 0xffffffffffffffff (-1)"
    text = "\n".join(report.sequence_ascii(TRACE, decode=DECODE, message=MESSAGE))
    assert "message 22 B" in text and "garbage <b>line</b>" in text and "WAKE_UP VM 2" in text
    assert "WAKE_UP" not in "\n".join(report.sequence_ascii(TRACE))  # no decode: the raw value
    assert "0xffff00020002 (hypercall)" in "\n".join(report.sequence_ascii(TRACE))


def test_sequence_odd_records() -> None:
    odd = [
        TraceRecord(0, "hvc", 3, 1, "", (0x4000FF04, 3, 9, 0), 0x0),  # no call name, a send to itself
        TraceRecord(1, "switch", 0, 0, result=0x1),  # to the vCPU that runs already: a note
        TraceRecord(2, "fault", 7, 0, detail="data abort\nat 0x0"),  # several lines: one in the chart
        TraceRecord.note("-- system 2 of 2 --"),
        TraceRecord(0, "smc", 0, 0, "PSCI_VERSION", (0x84000000,), 2),
    ]
    vms, steps = report.sequence(odd, DECODE, MESSAGE)
    assert vms == [0, 3, 7]
    assert [(s.kind, s.seq, s.src) for s in steps] == [
        ("note", "0", 3),
        ("arrow", "1", 3),
        ("note", "2", 7),
        ("plain", "", 0),
        ("note", "0", 0),
    ]
    assert steps[0].text == "vCPU 1: hvc 0x4000ff04(0x3, 0x9, 0x0) -> 0x0"
    assert steps[2].text == "vCPU 0: fault data abort at 0x0"
    assert steps[4].text == "vCPU 0: smc PSCI_VERSION() -> 0x2"


def test_trace_property_round_trip_and_garbage() -> None:
    text = report.trace_property(TRACE)
    assert isinstance(json.loads(text), list) and report.trace_from_property(text) == TRACE
    (old,) = report.trace_from_property("#0 VM 0 vCPU 0: hvc HF_VCPU_RUN(0x1, 0x0) (switched out)")  # a text trace
    assert old.kind == "note" and old.detail.startswith("unreadable trace (not JSON")
    (obj,) = report.trace_from_property('{"seq": 0}')
    assert obj.detail == "unreadable trace (a JSON dict, not a list of records)"
    bad = report.trace_from_property('[1, {"seq": 0, "kind": "hvc", "vm": 0}, {"seq": 2, "kind": "wfi", "vm": 0, "vcpu": 0}]')
    assert [r.detail for r in bad] == [
        "unreadable trace entry #0: 1 is neither a trace record nor a dict with its keys "
        "(seq, kind, vm, vcpu, call, args, result, detail)",
        "unreadable trace entry #1: missing key 'vcpu'",
        "",
    ]
    result = report.TestResult.from_properties("t.py::test_x", [("outcome", "FAIL"), ("trace", text)])
    assert result.trace == TRACE and result.full()["trace"] == [r.to_json() for r in TRACE]


def test_trace_in_html_and_markdown() -> None:
    summary = _summary()
    page = report.render_html(summary)
    raw = page.split("<summary>raw trace</summary><pre>", 1)[1].split("</pre>", 1)[0]
    assert raw.splitlines()[3] == "#3 switch -&gt; VM 0 vCPU 0: 0x0000ffff00020002 (WAKE_UP VM 2, none waiting) (hypercall)"
    assert "garbage &lt;b&gt;line&lt;/b&gt;" in raw and "<b>line" not in page
    md = report.render_markdown(summary)
    assert "WAKE_UP VM 2, none waiting (hypercall)" in md and "message 22 B" in md


def _summary() -> report.Summary:
    evil = "<script>alert(1)</script> | `code` *x*"
    t = report.TestResult(
        "t.py::test_x",
        ("SEND-6",),
        outcome="FAIL",
        what=evil,
        expected="0x1",
        actual=evil,
        calls=[evil],
        trace=[*TRACE, TraceRecord.note(evil, 7)],
    )
    return report.aggregate([t, report.TestResult("t.py::test_y", ("SEND-6",), outcome="PASS")], "fake<b>")


def test_html_is_escaped_and_self_contained() -> None:
    page = report.render_html(_summary())
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "fake&lt;b&gt;" in page and "<style>" in page and "src=" not in page
    assert "class=arrow" in page and "<th>VM 1</th>" in page


def test_markdown_is_escaped() -> None:
    md = report.render_markdown(_summary())
    assert "\\<script\\>" in md
    table_line = next(line for line in md.splitlines() if line.startswith("| SEND-6 |"))
    assert len(re.findall(r"(?<!\\)\|", table_line)) == 7  # 6 cells: escaped pipes do not add cells
    assert "\n```text\n" in md


def test_terminal_lines() -> None:
    lines = [text for text, _ in report.terminal_lines(_summary(), 100)]
    assert any(line.startswith("SEND-6") and "FAIL" in line and "1/2" in line for line in lines)
    assert any("NOT RUN" in line and "clauses without a test" in line for line in lines)


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_list_clauses(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--list-clauses"]) == 0
    out = capsys.readouterr().out
    assert "SEND-6   MUST" in out and "VM-3     MUST+impl" in out and "FAULT    impl-defined" in out


def test_cli_pytest_args() -> None:
    ns = cli.build_parser().parse_args(["--hv", "x:y", "--clause", "SEND-1", "CLR-2", "-n", "2", "--json", "a.json"])
    args = cli.pytest_args(ns, ["-x"])
    assert args[:6] == ["--pyargs", "profiles.hafnium_2018_10.tests", "-p", "no:hafnium_conformance", "-p", "conformance.plugin"]
    assert args[-1] == "-x"
    assert ["--clause", "SEND-1", "--clause", "CLR-2"] == args[args.index("--clause") : args.index("--clause") + 4]
    assert "-n" in args and "--conformance-json" in args


def test_cli_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--clause", "NOPE-9", "--", "-p", "no:cacheprovider"]) == pytest.ExitCode.USAGE_ERROR


def test_python_dash_m(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    result = pytester.run(sys.executable, "-m", "conformance", "--list-clauses")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["CALL-1 *MUST*"])


# --- exact verdicts: attribution, selection, waiver scope, one label per behaviour ------------------


PRECISE_TESTS = """
import pytest
from conformance.harness import expect
from conformance.outcomes import CallTimeout

@pytest.mark.clause("SEND-6", "CLR-1", "VM-2")
def test_multi_fails_on_clr1(boot):
    expect("send while unread", 0, 0, clause="SEND-6")
    expect("clear", 0xFFFF_FFFF_FFFF_FFFF, 0, clause="CLR-1")

@pytest.mark.clause("SEND-6")
def test_send6_passes(boot):
    expect("send while unread", 0, 0)

@pytest.mark.clause("VM-2", "SEND-1")
def test_vm2_passes(boot):
    pass

@pytest.mark.clause("CALL-6")
@pytest.mark.impl_defined
def test_optional_call_never_returns(boot):
    raise CallTimeout("PSCI CPU_OFF never returned")

@pytest.mark.clause("CALL-6")
@pytest.mark.impl_defined
def test_optional_call_no_value(boot):
    expect("PSCI CPU_OFF returns to the primary", False, True)
"""


SUITE_ERROR_TEST = """
@pytest.mark.clause("RUN-5")
def test_suite_error(boot):
    raise RuntimeError("broken build")
"""


def test_failure_counts_against_the_failed_checks_clause_only(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_fake=PRECISE_TESTS)
    result = run(fake, "--conformance-json=out.json")
    assert result.ret == 1
    data = json.loads((fake.path / "out.json").read_text())
    status = {c["id"]: c["status"] for c in data["clauses"]}
    # CLR-1 fails; SEND-6 and VM-2 passed in their own tests and were only not reached here.
    assert (status["CLR-1"], status["SEND-6"], status["VM-2"]) == ("FAIL", "PASS", "PASS")
    multi = next(t for t in data["tests"] if t["nodeid"].endswith("test_multi_fails_on_clr1"))
    assert (multi["outcome"], multi["blamed"]) == ("FAIL", ["CLR-1"])
    send6 = next(c for c in data["clauses"] if c["id"] == "SEND-6")
    assert {t["nodeid"].split("::")[1]: t["outcome"] for t in send6["tests"]} == {
        "test_multi_fails_on_clr1": "BLOCKED",
        "test_send6_passes": "PASS",
    }
    assert (send6["passed"], send6["total"]) == (1, 2)
    result.stdout.fnmatch_lines(["CLR-1 * FAIL * 0/1  test_fake.py::test_multi_fails_on_clr1: *"])


def test_one_label_per_behaviour(fake: pytest.Pytester) -> None:
    """A call of an implementation-defined part that never returns is a DEVIATION, as is a wrong
    value there; an ERROR is an error in pytest's own summary too; the exit status agrees."""
    fake.makepyfile(test_fake=PRECISE_TESTS + SUITE_ERROR_TEST)
    result = run(fake, "-k", "optional or suite_error", "--conformance-json=out.json", "--junitxml=j.xml")
    data = json.loads((fake.path / "out.json").read_text())
    got = {t["nodeid"].split("::")[1]: t["outcome"] for t in data["tests"]}
    assert got == {
        "test_optional_call_never_returns": "DEVIATION",
        "test_optional_call_no_value": "DEVIATION",
        "test_suite_error": "ERROR",
    }
    # pytest's own summary: 1 error, 2 deviations, nothing "failed"; the exit status is 1 for the error
    assert result.parseoutcomes() == {"deselected": 3, "errors": 1, "deviation": 2}
    assert result.ret == 1


def test_clause_selection_reports_only_the_selected_clauses(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_fake=PRECISE_TESTS.replace('expect("clear", 0xFFFF_FFFF_FFFF_FFFF, 0', 'expect("clear", 0, 0'))
    result = run(fake, "--clause", "SEND-6", "--conformance-json=out.json")
    assert result.ret == 0
    data = json.loads((fake.path / "out.json").read_text())
    status = {c["id"]: c["status"] for c in data["clauses"]}
    assert status["SEND-6"] == "PASS"
    # CLR-1 and VM-2 were touched by a SEND-6 test, but none of their own tests ran.
    assert {cid for cid, s in status.items() if s != "NOT RUN"} == {"SEND-6"}
    assert data["selection"] == {"clauses": ["SEND-6"], "selected_by": "--clause SEND-6"}
    result.stdout.fnmatch_lines(["partial run, tests selected by --clause SEND-6*"])


def test_keyword_selection_judges_own_clauses_only(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_fake=PRECISE_TESTS)
    run(fake, "-k", "vm2_passes", "--conformance-json=out.json")
    data = json.loads((fake.path / "out.json").read_text())
    status = {c["id"]: c["status"] for c in data["clauses"]}
    # test_vm2_passes is VM-2's own test; SEND-1 it only touches on the way.
    assert {cid for cid, s in status.items() if s != "NOT RUN"} == {"VM-2"}
    assert data["selection"]["selected_by"] == "-k 'vm2_passes'"


def test_clause_waiver_covers_only_failures_of_its_clause(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_fake=PRECISE_TESTS)
    fake.path.joinpath("w.toml").write_text('[[waiver]]\nclause = "SEND-6"\nreason = "BUG-12"\n')
    result = run(fake, "--waivers=w.toml", "--conformance-json=out.json")
    data = json.loads((fake.path / "out.json").read_text())
    multi = next(t for t in data["tests"] if t["nodeid"].endswith("test_multi_fails_on_clr1"))
    assert multi["outcome"] == "FAIL" and multi["waiver"] == ""  # a CLR-1 failure is not SEND-6's to waive
    # SEND-6 itself passed: its waiver was not needed -- said once for the clause, not per test.
    assert data["waivers_not_needed"] == [{"clause_waiver": "clause SEND-6: BUG-12"}]
    result.stdout.fnmatch_lines(["waiver not needed: clause SEND-6: BUG-12 (the clause passed)"])
    assert not any("waiver not needed: test_fake.py" in line for line in result.stdout.lines)


def test_clause_waiver_waives_a_failure_of_its_clause_in_a_multi_clause_test(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_fake=PRECISE_TESTS)
    fake.path.joinpath("w.toml").write_text('[[waiver]]\nclause = "CLR-1"\nreason = "BUG-7"\n')
    result = run(fake, "--waivers=w.toml", "--conformance-json=out.json")
    data = json.loads((fake.path / "out.json").read_text())
    multi = next(t for t in data["tests"] if t["nodeid"].endswith("test_multi_fails_on_clr1"))
    assert (multi["outcome"], multi["waiver"]) == ("WAIVED", "clause CLR-1: BUG-7")
    assert data["waivers_not_needed"] == []
    assert result.ret == 0


def _result(nodeid: str, tags: tuple[str, ...], outcome: str, blamed: tuple[str, ...] = ()) -> report.TestResult:
    return report.TestResult(nodeid=nodeid, clauses=tags, outcome=outcome, blamed=blamed)


def test_aggregate_whole_and_partial_runs() -> None:
    tests = [
        _result("t.py::test_model", ("CALL-2", "SEND-1", "SEND-6"), "FAIL", ("SEND-6",)),
        _result("t.py::test_send1", ("SEND-1",), "PASS"),
    ]
    whole = report.aggregate(tests, "b")
    status = {r.clause.id: r.status for r in whole.must}
    assert (status["SEND-6"], status["SEND-1"], status["CALL-2"]) == ("FAIL", "PASS", "BLOCKED")
    partial = report.aggregate(tests[1:], "b", partial=True, selected_by="-k send1")
    status = {r.clause.id: r.status for r in partial.must}
    assert {c for c, s in status.items() if s != "NOT RUN"} == {"SEND-1"} and partial.selected_by == "-k send1"
    # A failure is reported under its clause even when that clause was not selected.
    partial = report.aggregate(tests, "b", selection=["SEND-1"])
    status = {r.clause.id: r.status for r in partial.must}
    assert {c: s for c, s in status.items() if s != "NOT RUN"} == {"SEND-1": "PASS", "SEND-6": "FAIL"}


def test_values_are_decoded_beside_the_hex() -> None:
    decode = profiles.get("hafnium-2018-10")

    assert decode.shown(0x1, "run(1, 0)") == "0x0000000000000001 (WAIT_FOR_INTERRUPT)"
    assert decode.shown(0x3, "HF_VCPU_RUN(0x1, 0x0)") == "0x0000000000000003 (MESSAGE, size 0)"
    assert decode.shown(0x0000FFFF00020002, "run(1, 0): VM 1 sends to VM 2") == "0x0000ffff00020002 (WAKE_UP VM 2, none waiting)"
    assert decode.shown(0x0000001600000001, "VM 1's receive") == "0x0000001600000001 (message from VM 1, size 22)"
    assert decode.shown(0xFFFF_FFFF_FFFF_FFFF, "clear") == "0xffffffffffffffff (-1)"
    assert decode.shown(0xFFFF, "the primary's send") == "0x000000000000ffff (0xffff: no vCPU was waiting)"
    assert decode.shown(5, "HF_VM_GET_COUNT") == "0x0000000000000005"
    assert decode.shown((1, 2), "x") == "(1, 2)"
    assert decode.call_name(0xFF04) == "HF_MAILBOX_SEND" and decode.call_name(0x4000FF04) == "HF_MAILBOX_SEND (x0=0x4000ff04)"
    assert decode.call_name(0x1234) == "0x1234"


def test_conformance_junit_tells_the_same_story(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_fake=PRECISE_TESTS + SUITE_ERROR_TEST)
    result = run(fake, "--conformance-junit=c.xml")
    assert result.ret == 1
    suite = ET.parse(fake.path / "c.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "hafnium-conformance"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("6", "1", "1", "2")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["test_multi_fails_on_clr1"].find("failure")
    assert failure is not None and failure.get("type") == "FAIL"
    assert (failure.get("message") or "").startswith(
        "FAIL CLR-1: clear: expected 0x0000000000000000, got 0xffffffffffffffff (-1)"
    )
    error = cases["test_suite_error"].find("error")
    assert error is not None and error.get("type") == "ERROR"
    for name in ("test_optional_call_never_returns", "test_optional_call_no_value"):
        skipped = cases[name].find("skipped")
        assert skipped is not None and skipped.get("type") == "DEVIATION"
    assert list(cases["test_send6_passes"]) == []
    assert {p.get("name"): p.get("value") for p in suite.iter("property")}["build"] == "fake"
    assert all(c.find("properties") is None for c in suite.iter("testcase"))  # xunit2: suite-level only


# --- hostile input to the CLI: one line and a non-zero exit, never a traceback ---------------------

BAD_MODULES = {
    "raises_runtime": "raise RuntimeError('no board here')",
    "raises_syntax": "def broken(:\n    pass",
    "raises_exit": "raise SystemExit(3)",
    "bad_props": (
        "class B:\n    boot = lambda self, c: None\n    @property\n"
        "    def name(self):\n        raise KeyError('x')\nINSTANCE = B()"
    ),
    "bad_caps": "class B:\n    name = 'b'\n    capabilities = 5\n    def boot(self, c): pass\nINSTANCE = B()",
}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("raises_runtime:X", "*importing module 'raises_runtime' failed: RuntimeError: no board here*"),
        ("raises_syntax:X", "*importing module 'raises_syntax' failed: SyntaxError*line 1*"),
        ("raises_exit:X", "*importing module 'raises_exit' failed: SystemExit: 3*"),
        ("bad_props:INSTANCE", "*reading the build bad_props:INSTANCE's attributes failed: KeyError*"),
        ("bad_caps:INSTANCE", "*capabilities must be a set of strings, not int*"),
        (":", "*not a known build entry point and not 'module:attr'*"),
        (".foo:Bar", "*an absolute module name*"),
        ("", "*--hv '': names no build*"),
    ],
)
def test_bad_build_modules_are_usage_errors(fake: pytest.Pytester, spec: str, message: str) -> None:
    for name, body in BAD_MODULES.items():
        fake.path.joinpath(f"{name}.py").write_text(body + "\n")
    fake.makepyfile(test_fake=FAKE_TESTS)
    result = fake.runpytest(*PLUGIN, "--hv", spec)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str() and "INTERNALERROR" not in result.stdout.str()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe[[waiver]]", "*is not UTF-8 text*"),
        (b"[" * 100_000 + b"]" * 100_000, "*nested too deeply*"),
        (b'{"waivers": [{"clause": ' + b"9" * 5000 + b', "reason": "x"}]}', "*cannot be read*"),
    ],
)
def test_bad_waiver_files_are_usage_errors(fake: pytest.Pytester, content: bytes, message: str) -> None:
    fake.makepyfile(test_fake=FAKE_TESTS)
    fake.path.joinpath("w.json").write_bytes(content)
    result = run(fake, "--waivers=w.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.parametrize(
    ("option", "path", "message"),
    [
        ("--conformance-json", "nowhere/out.json", "*the directory 'nowhere' does not exist*"),
        ("--conformance-report", "adir/x.html", "*is a directory*"),
        ("--conformance-junit", "", "*an empty file name*"),
    ],
)
def test_unwritable_report_paths_fail_before_the_run(fake: pytest.Pytester, option: str, path: str, message: str) -> None:
    fake.makepyfile(test_fake=FAKE_TESTS)
    fake.path.joinpath("adir", "x.html").mkdir(parents=True)
    result = run(fake, f"{option}={path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_empty_clause_selection_is_a_usage_error(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_fake=FAKE_TESTS)
    result = run(fake, "--clause", "")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--clause '': names no clause*"])


def test_html_links_rows_to_failures_marks_the_failing_step_and_renders_rules() -> None:
    page = report.render_html(_summary())
    anchor = 'id="t-t-py-test_x"'
    assert anchor in page and 'href="#t-t-py-test_x"' in page  # the SEND-6 row links down to its failure
    assert "<tr class=last>" in page and page.count("<tr class=last>") == 1  # the step the check came after
    assert "<mark>" in page and "last call before the failed check" in page
    assert "class=seqwrap" in page  # a wide system scrolls inside its box instead of overflowing the page
    row = next(line for line in page.splitlines() if line.startswith("<tr class=FAIL><td>SEND-6"))
    rule_cell = row.split("<td title=", 1)[1].split(">", 1)[1].split("</td>", 1)[0]
    assert "`" not in rule_cell and "\\|" not in rule_cell  # rule text rendered, not raw Markdown
    assert report.rule_html("a `hvc` **MUST** \\| *b*") == "a <code>hvc</code> <b>MUST</b> | <i>b</i>"


#: The JUnit XML structure CI servers read (the xunit2 family that pytest, Jenkins and GitLab
#: share), as rules: which children and attributes each element may have.
JUNIT_RULES: dict[str, tuple[set[str], set[str], set[str]]] = {
    # element: (allowed children, required attributes, allowed attributes)
    "testsuites": ({"testsuite"}, set(), {"name", "time", "tests", "failures", "errors", "skipped"}),
    "testsuite": (
        {"testsuite", "properties", "testcase", "system-out", "system-err"},
        {"name", "tests", "failures", "errors"},
        {"name", "tests", "failures", "errors", "skipped", "time", "timestamp", "hostname", "id", "package", "file"},
    ),
    "properties": ({"property"}, set(), set()),
    "property": (set(), {"name", "value"}, {"name", "value"}),
    "testcase": (
        {"failure", "error", "skipped", "system-out", "system-err"},
        {"name"},
        {"name", "classname", "time", "file", "line"},
    ),
    "failure": (set(), set(), {"type", "message"}),
    "error": (set(), set(), {"type", "message"}),
    "skipped": (set(), set(), {"type", "message"}),
    "system-out": (set(), set(), set()),
    "system-err": (set(), set(), set()),
}


def _junit_problems(element: ET.Element, path: str = "") -> list[str]:
    where = f"{path}/{element.tag}"
    if element.tag not in JUNIT_RULES:
        return [f"{where}: unknown element"]
    children, required, allowed = JUNIT_RULES[element.tag]
    problems = [f"{where}: missing attribute {a}" for a in sorted(required - set(element.attrib))]
    problems += [f"{where}: attribute {a} not allowed" for a in sorted(set(element.attrib) - allowed)]
    if "time" in element.attrib and not re.fullmatch(r"\d+(\.\d+)?", element.attrib["time"]):
        problems.append(f"{where}: time {element.attrib['time']!r} is not a number of seconds")
    for child in element:
        if child.tag not in children:
            problems.append(f"{where}: child {child.tag} not allowed")
        problems += _junit_problems(child, where)
    return problems


def test_conformance_junit_is_valid_xunit2(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_fake=FAKE_TESTS + PRECISE_TESTS.replace("import pytest", ""))
    run(fake, "--conformance-junit=c.xml")
    root = ET.parse(fake.path / "c.xml").getroot()
    assert _junit_problems(root) == []
    kinds = {child.tag for case in root.iter("testcase") for child in case}
    assert {"failure", "error", "skipped"} <= kinds  # every kind of outcome is in this file


def test_a_failing_foundation_blocks_the_failures_above_it() -> None:
    tests = [
        _result("t.py::test_id6", ("ID-6", "RECV-2"), "FAIL", ("ID-6",)),  # ID-6's own test: the root cause
        _result("t.py::test_recv", ("RECV-4",), "FAIL", ("RECV-4",)),  # what a swapped ID does elsewhere
        _result("t.py::test_vm1", ("VM-1",), "FAIL", ("VM-1",)),  # layer 1: still above ID-6
        _result("t.py::test_recv2", ("RECV-2",), "PASS"),
    ]
    summary = report.aggregate(tests, "b")
    status = {r.clause.id: r for r in summary.must}
    assert {c: r.status for c, r in status.items() if r.status != "NOT RUN"} == {
        "ID-6": "FAIL",
        "RECV-4": "BLOCKED",
        "VM-1": "BLOCKED",
        "RECV-2": "PASS",
    }
    assert status["RECV-4"].blocked_by == ["ID-6"]
    line = next(text for text, _ in report.terminal_lines(summary) if text.startswith("RECV-4"))
    assert "ID-6" in line and "fix first" in line
    # A foundation blamed only on the way (not in a test of its own) blocks nothing.
    other = report.aggregate([_result("t.py::test_x", ("RECV-4", "ID-6"), "FAIL", ("ID-6", "RECV-4"))], "b")
    assert {r.clause.id: r.status for r in other.must if r.status != "NOT RUN"} == {"RECV-4": "FAIL", "ID-6": "FAIL"}


def test_budgets_register_keeps_a_profile_already_registered() -> None:
    """``budgets.register`` runs again in every ``hf_settings``; it must not undo the self-test's
    ``hf-ci`` (no shrinking: a mutant needs a verdict, not a minimal example)."""
    from hypothesis import Phase, settings

    from conformance import budgets

    assert budgets.register()
    original = settings.get_profile("hf-ci")
    try:
        settings.register_profile("hf-ci", parent=original, phases=[Phase.explicit, Phase.generate])
        assert budgets.register()
        assert Phase.shrink not in settings.get_profile("hf-ci").phases
    finally:
        settings.register_profile("hf-ci", parent=original)


def test_a_build_scales_the_randomised_budgets(fake: pytest.Pytester) -> None:
    """A build's ``randomised`` share (e.g. the QEMU backend's 0.25) scales every ``hf_settings``
    budget and turns shrinking off; without it the budget is the test's own."""
    fake.makepyfile(
        slowbuild="""
        from fakebuild import FakeBuild

        class SlowBuild(FakeBuild):
            randomised = 0.25

        class WrongBuild(FakeBuild):
            randomised = 2
        """,
        test_budget="""
        import pytest
        from hypothesis import Phase

        @pytest.mark.clause("SEND-6")
        def test_budget(hf_settings, hv_build):
            budget = hf_settings(max_examples=25, stateful_step_count=30)
            slow = getattr(hv_build, "randomised", 1) < 1
            assert (budget.max_examples, budget.stateful_step_count) == ((7, 8) if slow else (25, 30))
            assert (Phase.shrink in budget.phases) is not slow
        """,
    )
    for build in ("fakebuild:FakeBuild", "slowbuild:SlowBuild"):
        result = fake.runpytest(*PLUGIN, "--hv", build, "test_budget.py", "-p", "no:randomly")
        assert result.ret == 0, result.stdout.str()
    wrong = fake.runpytest(*PLUGIN, "--hv", "slowbuild:WrongBuild", "test_budget.py", "-p", "no:randomly")
    wrong.stdout.fnmatch_lines(["*randomised must be a number in (0, 1], not 2*"])
