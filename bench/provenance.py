"""The lines every benchmark prints first: the machine, the date (UTC), the load and the command.
Imported at the top of a benchmark, so the load at start is the load before it ran."""

from __future__ import annotations

import datetime
import os
import platform
import sys

LOAD_AT_START = os.getloadavg()[0]


def header(extra: str = "", command: str | None = None) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    parts = [f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores",
             f"date: {now:%Y-%m-%d %H:%M} UTC", *([extra] if extra else []),
             f"load average at start {LOAD_AT_START:.2f}, at end {os.getloadavg()[0]:.2f}"]
    command = command or " ".join(["python", f"bench/{os.path.basename(sys.argv[0])}", *sys.argv[1:]])
    return "; ".join(parts) + f"\ncommand: {command}"
