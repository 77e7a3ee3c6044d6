"""Provenance recorded with every benchmark result: code, versions, machine, command."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("chirpgen", "numpy", "scipy", "h5py", "torch", "timm", "peft", "matplotlib")


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def manifest_sha256(data_dir: str | Path) -> str:
    return hashlib.sha256((Path(data_dir) / "manifest.json").read_bytes()).hexdigest()


def provenance(**extra: Any) -> dict[str, Any]:
    """Git commit and dirty flag, package versions, machine and the command line, plus ``extra``."""
    return {
        "git_commit": _git("rev-parse", "HEAD") or None,
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "versions": versions(),
        "machine": {
            "platform": platform.platform(),
            "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(),
            "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        },
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
    }


def publish(out: Path, record: dict[str, Any], markdown: Callable[[dict[str, Any]], list[str]]) -> None:
    """Write ``record`` to the results JSON ``out`` (atomically), then print its tables and where it went."""
    from chirpgen.plumbing import write_json_atomic

    write_json_atomic(out, record)
    print("\n".join(markdown(record)))
    print(f"wrote {out}")
