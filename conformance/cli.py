"""``hfconform``: run the conformance suite against a build and report per clause.

    hfconform [--profile NAME] [--hv SPEC] [--clause ID ...] [-n N] [--json PATH] [--report PATH]
              [--waivers FILE] [--list-clauses] [--list-profiles] [-- extra pytest args]

Runs ``pytest --pyargs <the profile's tests package>`` in-process with the plugin loaded exactly once, and
returns pytest's exit code (0 conformant, 1 failures, 2 interrupted, 3 internal error, 4 usage
error, 5 no tests collected — said in words, too).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import profiles

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def list_clauses(profile: profiles.Profile) -> list[str]:
    """One line per clause of the profile's registry: ID, strength, title."""
    lines = []
    for c in (*profile.clauses, *profile.extra_clauses):
        if profile.wholly_impl(c):
            strength = "impl-defined"
        elif c.impl_defined:
            strength = "MUST+impl"
        else:
            strength = "MUST"
        lines.append(f"{c.id:<8} {strength:<12} {c.title}")
        if c.impl_defined:
            lines.append(f"{'':<8} {'':<12}   implementation-defined: {c.impl_defined}")
        if c.untestable:
            lines.append(f"{'':<8} {'':<12}   not testable through the build protocol: {c.untestable}")
    return lines


def list_profiles() -> list[str]:
    """One line per registered profile: name, clause count, title."""
    lines = []
    for name in profiles.names():
        p = profiles.get(name)
        default = " (default)" if name == profiles.DEFAULT else ""
        lines.append(f"{name:<20} {len(p.clauses):>3} clauses  {p.title}{default}")
    return lines


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hfconform",
        description=f"Run the conformance suite of one ABI profile (default {profiles.DEFAULT}) against a hypervisor build.",
        epilog="Other options, and everything after '--', go to pytest unchanged, e.g. hfconform -x -- -k receive. "
        "'hfconform selftest [--help]' runs the suite against every deliberately wrong build; "
        "'hfconform bench [--quick] [--json PATH]' measures the reference next to bare Unicorn; "
        "'hfconform fuzz [--help]' throws random hypercalls, garbage programs and assembler input at a build; "
        "'hfconform cache [--clear]' shows or empties the assembled-program cache. "
        "Forms of --hv: an entry point name (e.g. 'reference'), 'module:attr' (a build instance, class or factory; "
        "the module is imported from the current directory as 'python -m' would), 'qemu:IMAGE', 'qemu:CONFIG.toml', "
        "'qemu:stub'.",
    )
    p.add_argument(
        "--profile",
        metavar="NAME",
        help=f"the ABI profile to judge (default {profiles.DEFAULT}; see --list-profiles); 'all': every one (at once with -n N)",
    )
    p.add_argument("--list-profiles", action="store_true", help="print the profiles this suite knows and exit")
    p.add_argument("--hv", metavar="SPEC", help="build under test: entry point name or module:attr (default: reference)")
    p.add_argument("--clause", metavar="ID", nargs="+", action="extend", default=[], help="only these clauses (or families)")
    p.add_argument("-n", dest="workers", metavar="N", help="run in N processes (pytest-xdist; 'auto' allowed)")
    p.add_argument("--json", metavar="PATH", help="write the JSON summary")
    p.add_argument("--report", metavar="PATH", help="write a report (.html or .md)")
    p.add_argument(
        "--junit", metavar="PATH", help="write JUnit XML of the verdicts (ERROR as error, DEVIATION/WAIVED as skipped)"
    )
    p.add_argument("--waivers", metavar="FILE", help="waiver file (TOML or JSON)")
    p.add_argument("--list-clauses", action="store_true", help="print the clause registry and exit")
    p.add_argument("--version", action="store_true", help="print the suite's version, commit and profiles, and exit")
    return p


def pytest_args(ns: argparse.Namespace, extra: Sequence[str]) -> list[str]:
    """The pytest command line for ``ns``; the plugin is blocked under its entry-point name and
    loaded by module name, so it is registered once whether or not the package is installed."""
    profile = profiles.get(ns.profile or profiles.DEFAULT)
    args = ["--pyargs", profile.tests, "-p", "no:hafnium_conformance", "-p", "conformance.plugin"]
    if not any(a == "--rootdir" or a.startswith("--rootdir=") for a in extra):
        args.append(f"--rootdir={PACKAGE_ROOT}")  # stable node IDs: profiles/<name>/tests/test_x.py::...
    if ns.profile:
        args += ["--profile", ns.profile]
    if ns.hv:
        args += ["--hv", ns.hv]
    for cid in ns.clause:
        args += ["--clause", cid]
    if ns.workers is not None:
        args += ["-n", str(ns.workers)]
    if ns.json:
        args += ["--conformance-json", ns.json]
    if ns.report:
        args += ["--conformance-report", ns.report]
    if ns.junit:
        args += ["--conformance-junit", ns.junit]
    if ns.waivers:
        args += ["--waivers", ns.waivers]
    return [*args, *extra]


def _run_pytest(args: list[str]) -> int:
    """``pytest.main(args)``, with usage errors printed as ``hfconform``'s, not ``pytest.main()``'s."""
    import inspect

    import pytest

    try:
        from _pytest.config import _main  # pytest >= 8.4 names the program in its usage line
    except ImportError:
        return int(pytest.main(args))
    if "prog" not in inspect.signature(_main).parameters:  # another pytest's private signature
        return int(pytest.main(args))
    return int(_main(args=args, plugins=None, prog="hfconform"))


ALL_PROFILES = "all"
REPORT_OPTIONS = ("--json", "--report", "--junit")


def _per_profile(path: str, name: str) -> str:
    """``out.json`` -> ``out.hafnium-2018-10.json``: one report per profile of ``--profile all``."""
    p = Path(path)
    return str(p.with_name(f"{p.stem}.{name}{p.suffix}"))


def _python() -> list[str]:
    """The interpreter for a per-profile run. Installed (the usual case): ``-P`` keeps the current
    directory off ``sys.path``, or pytest, finding the packages there, warns that it cannot
    rewrite their asserts; from a source tree that is not installed the directory must stay."""
    try:
        metadata.distribution("hafnium-conformance")
    except metadata.PackageNotFoundError:
        return [sys.executable]
    return [sys.executable, "-P"]


def _workers(value: str | None) -> int:
    """``-n``'s value as a number of processes (``auto``: the CPUs; absent or not a number: 1)."""
    if value is None:
        return 1
    if value == "auto":
        return os.cpu_count() or 1
    try:
        return max(1, int(value))
    except ValueError:
        return 1


def _without_workers(args: list[str]) -> list[str]:
    """``args`` without ``-n N`` / ``-nN`` (before a ``--``, which starts pytest's own arguments)."""
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return out + args[i:]
        if a == "-n":
            i += 2
            continue
        if a.startswith("-n") and len(a) > 2 and not a.startswith("--"):
            i += 1
            continue
        out.append(a)
        i += 1
    return out


def profile_workers(workers: int, count: int) -> int:
    """The ``-n`` of each profile's run when ``--profile all`` has ``workers`` processes for
    ``count`` profiles run side by side: a share of them when each gets two or more, else 0 (each
    profile in one process; with fewer processes than profiles the system shares the CPUs)."""
    share = workers // count
    return share if share >= 2 else 0


def run_all_profiles(argv: Sequence[str]) -> int:
    """``--profile all``: the suite once per registered profile, each in its own process (one
    pytest session each), report files named per profile; then one line per profile. The exit
    status is the worst of theirs (0 only if every profile's run passed).

    Without ``-n`` (or ``-n 1``) the profiles run in turn, their output live. With ``-n N`` they
    run side by side, their ``N`` processes shared out (:func:`profile_workers`): a profile's run
    is start-up bound (a few seconds), so running profiles at once is what pays on a few cores,
    not pytest-xdist inside each. Each profile's output is printed whole, in profile order, as
    soon as it and the ones before it are done. The verdicts are those of the runs in turn."""
    ns, _ = build_parser().parse_known_args(argv)
    if ns.clause or ns.list_clauses:
        print("hfconform: --clause and --list-clauses need one profile, not --profile all", file=sys.stderr)
        return 4
    rest: list[str] = []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--profile":
            args.pop(0)
        elif not a.startswith("--profile="):
            rest.append(a)
    names = profiles.names()
    workers = _workers(ns.workers)
    side_by_side = workers > 1 and len(names) > 1
    if side_by_side:
        rest = _without_workers(rest)
        share = profile_workers(workers, len(names))
        if share:
            rest = ["-n", str(share), *rest]
        if sys.stdout.isatty() and not any(a.startswith("--color") for a in rest):
            rest = ["--color=yes", *rest]
    commands: list[tuple[str, list[str]]] = []
    for name in names:
        own = []
        for prev, a in zip(["", *rest][: len(rest)], rest, strict=True):
            option, eq, value = a.partition("=")
            if prev in REPORT_OPTIONS:
                a = _per_profile(a, name)
            elif eq and option in REPORT_OPTIONS:
                a = f"{option}={_per_profile(value, name)}"
            own.append(a)
        commands.append((name, [*_python(), "-m", "conformance.cli", "--profile", name, *own]))
    results: list[tuple[str, int]] = []
    if not side_by_side:
        for name, cmd in commands:
            print(f"hfconform: == profile {name} ==", flush=True)
            results.append((name, subprocess.run(cmd, check=False).returncode))
    else:
        print(f"hfconform: {len(names)} profiles side by side ({workers} processes asked for): " + ", ".join(names), flush=True)
        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            runs = [(name, pool.submit(_captured, cmd)) for name, cmd in commands]
            for name, future in runs:
                code, output = future.result()
                print(f"hfconform: == profile {name} ==", flush=True)
                sys.stdout.write(output)
                sys.stdout.flush()
                results.append((name, code))
    print("hfconform: " + "; ".join(f"{name}: exit {code}" for name, code in results))
    return max(code for _, code in results)


def _captured(cmd: list[str]) -> tuple[int, str]:
    """Run ``cmd``; its exit status and its output (stdout and stderr, interleaved as written)."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["selftest"]:  # hfconform selftest [...]: the suite against every mutant
        from conformance import selftest

        return selftest.main(argv[1:])
    if argv[:1] == ["bench"]:  # hfconform bench [...]: the benchmark (python -m bench), also from an install
        from bench.__main__ import main as bench_main

        return bench_main(argv[1:])
    if argv[:1] == ["cache"]:  # hfconform cache [--clear]: the assembler's disk cache, its size; or empty it
        from guest_asm import cache

        return cache.main(argv[1:])
    if argv[:1] == ["fuzz"]:  # hfconform fuzz [...]: fuzz campaigns against a build (conformance/fuzz.py)
        from conformance import fuzz

        return fuzz.main(argv[1:])
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    # Options hfconform does not know (e.g. -q, -x, --junitxml=out.xml) go to pytest too.
    ns, unknown = build_parser().parse_known_args(argv)
    extra = unknown + extra
    if ns.list_profiles:
        print("\n".join(list_profiles()))
        return 0
    if ns.profile == ALL_PROFILES:
        return run_all_profiles(argv + (["--", *extra[len(unknown) :]] if len(extra) > len(unknown) else []))
    try:
        profile = profiles.get(ns.profile or profiles.DEFAULT)
    except LookupError as e:
        print(f"hfconform: --profile: {e}", file=sys.stderr)
        return 4
    if ns.list_clauses:
        print("\n".join(list_clauses(profile)))
        return 0
    if ns.version:
        from conformance import about

        env = about.environment()
        print(f"hfconform (hafnium-conformance) {env['suite']}" + (f", commit {env['commit']}" if env["commit"] != "-" else ""))
        print(f"profiles: {', '.join(profiles.names())} (default {profiles.DEFAULT})")
        print(f"Python {env['python']}, Unicorn {env['unicorn']}, Keystone {env['keystone']}, pytest {env['pytest']}")
        return 0
    import pytest

    code = int(_run_pytest(pytest_args(ns, extra)))
    if code == int(pytest.ExitCode.NO_TESTS_COLLECTED):
        sel = f" for --clause {' '.join(ns.clause)}" if ns.clause else ""
        print(f"hfconform: no conformance test was collected{sel} (exit status 5).", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
