"""What produced a report: the suite's version and commit, the profile, and the tools it ran on.

Every report (terminal, JSON, HTML, Markdown, JUnit) names these, so a verdict pasted in a review
says which suite judged which build with what.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
from pathlib import Path

import profiles

DISTRIBUTION = "hafnium-conformance"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@functools.cache
def suite_version() -> str:
    version = _version(DISTRIBUTION)
    return version if version != "not installed" else "source checkout (not installed)"


@functools.cache
def git_commit() -> str | None:
    """The commit of the checkout the suite runs from (None when it is not a git checkout)."""
    if not (PACKAGE_ROOT / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(PACKAGE_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
        dirty = subprocess.run(
            ["git", "-C", str(PACKAGE_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    if out.returncode or not commit:
        return None
    return commit + ("-dirty" if dirty.stdout.strip() else "")


@functools.cache
def environment(profile: str = profiles.DEFAULT) -> dict[str, str]:
    """Suite version and commit, the profile judged, and the Python/Unicorn/Keystone/pytest versions."""
    env = {
        "suite": suite_version(),
        "commit": git_commit() or "-",
        "profile": profile,
        "python": platform.python_version(),
        "unicorn": _version("unicorn"),
        "keystone": _version("keystone-engine"),
        "pytest": _version("pytest"),
    }
    return env


def one_line(profile: str = profiles.DEFAULT) -> str:
    e = environment(profile)
    commit = f" @ {e['commit'][:12]}" if e["commit"] != "-" else ""
    return (
        f"hafnium-conformance {e['suite']}{commit}, profile {e['profile']}; "
        f"Python {e['python']}, Unicorn {e['unicorn']}, Keystone {e['keystone']}, pytest {e['pytest']}"
    )
