#!/usr/bin/env python
"""Benchmark: labelling and sampling through the pipeline's scripts against the raw tools.

Labelling: the teacher's raw single-point rate (energy+forces+stress in one process, no I/O) against
`scripts/label.py` on the same structures, as one shard and as two shards side by side (structures/s
per core; target >= 90 % of raw). Sampling: LAMMPS MD steps/s in-process against `scripts/sample_md.py`.
Prints the machine, the date and the command. Needs a teacher.json (run a study first).

  python bench/throughput.py --teacher results/default/teachers/gap-fit/teacher.json \
      --structures results/default/reference/test.xyz --n 40
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from ase.io import read, write  # noqa: E402

from synpre.labels import label_with  # noqa: E402
from synpre.teachers import make_calculator  # noqa: E402
from synpre.threads import limit_threads  # noqa: E402


def run_label(teacher: str, files: list[str], out: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "label.py"), "--teacher", f"@{teacher}",
                             "--inputs", *files, "--out", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", required=True)
    p.add_argument("--structures", required=True)
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--md-steps", type=int, default=3000)
    args = p.parse_args()
    limit_threads(1)
    frames = read(args.structures, f":{args.n}")
    spec = json.loads(Path(args.teacher).read_text())
    calc = make_calculator(spec)
    label_with(frames[0], calc, spec["isolated_atom_energies"])  # warm-up
    t0 = time.perf_counter()
    for a in frames:
        label_with(a, calc, spec["isolated_atom_energies"])
    raw = len(frames) / (time.perf_counter() - t0)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        halves = [f"{tmp}/a.xyz", f"{tmp}/b.xyz"]
        write(f"{tmp}/all.xyz", frames)
        write(halves[0], frames[0::2])
        write(halves[1], frames[1::2])
        t0 = time.perf_counter()
        run_label(args.teacher, [f"{tmp}/all.xyz"], f"{tmp}/o.xyz").wait()
        one = len(frames) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        procs = [run_label(args.teacher, [h], f"{tmp}/o{i}.xyz") for i, h in enumerate(halves)]
        for pr in procs:
            pr.wait()
        two = len(frames) / (time.perf_counter() - t0)
        rows += [("raw teacher, in-process", raw, 1, 100.0),
                 ("label.py, 1 shard (incl. start-up)", one, 1, 100 * one / raw),
                 ("label.py, 2 shards in parallel", two, 2, 100 * two / 2 / raw)]

        from synpre.lammps_driver import LammpsMD, LammpsPotential
        from synpre.structures import random_cell
        import numpy as np

        atoms = random_cell(["C"] * 64, 2.5, 1.0, np.random.default_rng(0))
        md = LammpsMD(atoms, LammpsPotential("lcbop"), 1.0, 1)
        md.set_velocities(3000)
        t0 = time.perf_counter()
        md.run(args.md_steps, 3000, 3000)
        md_raw = args.md_steps / (time.perf_counter() - t0)
        md.close()
        settings = {"composition": {"C": 64}, "driver": {"kind": "lammps", "potential": "lcbop"},
                    "timestep_fs": 1.0, "snapshot_every": 100, "start_min_distance": 1.0, "filter_min_distance": 0.8,
                    "protocol": {"melt": {"temperature": 3000, "steps": 0}, "quench": {"steps": 0},
                                 "anneal": {"steps": args.md_steps}, "cool": {"steps": 0}}}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "scripts" / "sample_md.py"), "--settings", json.dumps(settings),
                        "--density", "2.5", "--anneal-temperature", "3000", "--seed", "1", "--out", f"{tmp}/t.xyz"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        md_pipe = args.md_steps / (time.perf_counter() - t0)

    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores; "
          f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"command: python bench/throughput.py --teacher {args.teacher} --structures {args.structures} --n {args.n}")
    print(f"\nlabelling with teacher {spec['name']} ({spec['kind']}), {len(frames)} structures of {len(frames[0])} atoms")
    print(f"{'':40s} {'structures/s':>12s} {'cores':>5s} {'% of raw per core':>18s}")
    for name, rate, cores, pct in rows:
        print(f"{name:40s} {rate:12.2f} {cores:5d} {pct:18.0f}")
    print(f"\nsampling MD, LCBOP, 64 atoms, {args.md_steps} steps")
    print(f"{'raw LAMMPS, in-process':40s} {md_raw:12.0f} steps/s")
    print(f"{'sample_md.py (incl. start-up, snapshots)':40s} {md_pipe:12.0f} steps/s ({100 * md_pipe / md_raw:.0f} %)")


if __name__ == "__main__":
    main()
