"""requirements.lock agrees with requirements*.txt: every direct pin is locked at its version, with hashes.

`make install` installs the lock only, so a pin edited in requirements.txt
without `make lock` would silently not take effect.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def direct_pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line, following `-r other.txt`."""
    pins: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins.update(direct_pins(path.parent / line[3:].strip()))
        elif line:
            match = PIN.match(line)
            assert match, f"{path.name}: {raw!r} is not pinned as name==version"
            pins[_normal(match.group(1))] = match.group(3)
    return pins


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of every package in a `--generate-hashes` lock."""
    out: dict[str, tuple[str, int]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            current = _normal(match.group(1))
            out[current] = (match.group(3), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = out[current]
            out[current] = (version, hashes + 1)
    return out


def _same_version(pinned: str, locked_version: str) -> bool:
    # PEP 440: a pin without a local label (torch==2.13.0) matches a local build (2.13.0+cpu)
    return locked_version == pinned or locked_version.split("+", 1)[0] == pinned and "+" not in pinned


def disagreements(requirements: Path, lock_file: Path) -> dict[str, tuple[str, str]]:
    """name -> (pinned, locked) for every direct pin the lock does not hold at its version."""
    lock = locked(lock_file)
    return {
        name: (version, lock.get(name, ("missing", 0))[0])
        for name, version in direct_pins(requirements).items()
        if name not in lock or not _same_version(version, lock[name][0])
    }


def test_every_direct_pin_is_locked_at_its_version():
    assert {"torch", "pytest", "dvc"} <= set(direct_pins(ROOT / "requirements-dev.txt"))
    wrong = disagreements(ROOT / "requirements-dev.txt", ROOT / "requirements.lock")
    assert not wrong, f"requirements*.txt and requirements.lock disagree (pin, locked): {wrong}; run `make lock`"


def test_every_locked_package_has_a_hash():
    lock = locked(ROOT / "requirements.lock")
    assert len(lock) > 100  # the transitive closure, not just the direct pins
    assert not [name for name, (_, hashes) in lock.items() if hashes == 0]


@pytest.mark.parametrize(
    ("requirements", "lock", "agrees"),
    [
        ("torch==2.13.0\n", "torch==2.13.0+cpu \\\n    --hash=sha256:ab\n", True),
        ("torch==2.13.1\n", "torch==2.13.0+cpu \\\n    --hash=sha256:ab\n", False),
        ("PyYAML==6.0.3\n", "pyyaml==6.0.3 \\\n    --hash=sha256:ab\n", True),
        ("rich==14.3.4\n", "pyyaml==6.0.3 \\\n    --hash=sha256:ab\n", False),
    ],
)
def test_the_check_itself_catches_a_disagreement(tmp_path, requirements, lock, agrees):
    (tmp_path / "requirements.txt").write_text(requirements)
    (tmp_path / "requirements.lock").write_text(lock)
    assert (not disagreements(tmp_path / "requirements.txt", tmp_path / "requirements.lock")) is agrees
