#!/usr/bin/env python
"""Benchmark: labelling and sampling through the pipeline's scripts against the raw tools.

Labelling: the teacher's raw single-point rate (energy+forces+stress in one process, no I/O) against
`scripts/label.py` on the same structures, as one shard and as two shards side by side. Two raw
processes side by side give the machine's own two-core rate, so the two-shard figure is judged
against that (pipeline overhead, target >= 90 %) and the raw pair against one raw process (scaling).
Sampling: LAMMPS MD steps/s in-process against `scripts/sample_md.py` on a trajectory as long as the
default study's (6000 steps, a snapshot every 200).
Prints the machine, the date and the command. Needs a teacher.json (run a study first).

  python bench/throughput.py --teacher results/default/teachers/gap-fit/teacher.json \
      --structures results/default/reference/test.xyz --n 40
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import header  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from ase.io import read, write  # noqa: E402

from synpre.labels import label_with  # noqa: E402
from synpre.teachers import make_calculator  # noqa: E402
from synpre.threads import limit_threads  # noqa: E402


def run_label(teacher: str, files: list[str], out: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "label.py"), "--teacher", f"@{teacher}",
                             "--inputs", *files, "--out", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def raw_rate(teacher: str, structures: str, n: int | None = None) -> float:
    """Structures/s of the bare calculator in this process: no start-up, no file output."""
    frames = read(structures, f":{n}" if n else ":")
    spec = json.loads(Path(teacher).read_text())
    calc = make_calculator(spec)
    label_with(frames[0].copy(), calc, spec["isolated_atom_energies"])  # warm-up
    t0 = time.perf_counter()
    for a in frames:
        label_with(a, calc, spec["isolated_atom_energies"])
    return len(frames) / (time.perf_counter() - t0)


def raw_pair(teacher: str, halves: list[str]) -> float:
    """Two raw processes side by side (each times its own loop): the machine's two-core rate."""
    procs = [subprocess.Popen([sys.executable, __file__, "--raw-only", "--teacher", teacher, "--structures", h],
                              stdout=subprocess.PIPE, text=True) for h in halves]
    return sum(float(pr.communicate()[0].split()[-1]) for pr in procs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", required=True)
    p.add_argument("--structures", required=True)
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--md-steps", type=int, default=6000)
    p.add_argument("--raw-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    limit_threads(1)
    if args.raw_only:
        print(raw_rate(args.teacher, args.structures))
        return
    frames = read(args.structures, f":{args.n}")
    spec = json.loads(Path(args.teacher).read_text())
    raw = raw_rate(args.teacher, args.structures, args.n)

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
        raw2 = raw_pair(args.teacher, halves)
        rows += [("raw teacher, 1 process", raw, 1, raw, "100 %"),
                 ("label.py, 1 shard (incl. start-up)", one, 1, raw, f"{100 * one / raw:.0f} %"),
                 ("raw teacher, 2 processes side by side", raw2, 2, raw, f"scaling {100 * raw2 / 2 / raw:.0f} %"),
                 ("label.py, 2 shards in parallel", two, 2, raw2, f"{100 * two / raw2:.0f} %")]

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
                    "timestep_fs": 1.0, "snapshot_every": 200, "start_min_distance": 1.0, "filter_min_distance": 0.8,
                    "protocol": {"melt": {"temperature": 3000, "steps": 0}, "quench": {"steps": 0},
                                 "anneal": {"steps": args.md_steps}, "cool": {"steps": 0}}}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "scripts" / "sample_md.py"), "--settings", json.dumps(settings),
                        "--density", "2.5", "--anneal-temperature", "3000", "--seed", "1", "--out", f"{tmp}/t.xyz"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        md_pipe = args.md_steps / (time.perf_counter() - t0)

    print(header())
    print(f"\nlabelling with teacher {spec['name']} ({spec['kind']}), {len(frames)} structures of {len(frames[0])} atoms")
    print(f"{'':40s} {'structures/s':>12s} {'cores':>5s}  of raw on the same cores")
    for name, rate, cores, _, pct in rows:
        print(f"{name:40s} {rate:12.2f} {cores:5d}  {pct}")
    print(f"\nsampling MD, LCBOP, 64 atoms, {args.md_steps} steps")
    print(f"{'raw LAMMPS, in-process':40s} {md_raw:12.0f} steps/s")
    print(f"{'sample_md.py (incl. start-up, snapshots)':40s} {md_pipe:12.0f} steps/s ({100 * md_pipe / md_raw:.0f} %)")


if __name__ == "__main__":
    main()
