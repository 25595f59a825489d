#!/usr/bin/env python
"""Rule `sample`: one melt-quench-anneal MD trajectory -> its snapshots (extxyz), unlabelled.

Example (what the rule runs):
  python scripts/sample_md.py --settings @settings.json --density 2.5 --anneal-temperature 2500 \
      --seed 1001 --out results/default/sampling/traj-0003.xyz
"""

from __future__ import annotations

import time

from synpre.atomic import write_frames
from synpre.cli import json_arg, parser, setup_logging
from synpre.sampling import AseMD, filter_frames, run_mqa
from synpre.threads import limit_threads


def driver_factory(driver: dict, timestep_fs: float):
    if driver["kind"] == "lammps":
        from synpre.lammps_driver import LammpsMD, LammpsPotential

        pot = LammpsPotential(driver.get("potential", "lcbop"), driver.get("pair_style"), driver.get("potential_file"))
        return lambda atoms, seed: LammpsMD(atoms, pot, timestep_fs, seed)
    from synpre.teachers import make_calculator

    calc = make_calculator(driver)
    return lambda atoms, seed: AseMD(atoms, calc, timestep_fs, seed)


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--settings", type=json_arg, required=True,
                   help="sampling settings (JSON or @file): driver, species, n_atoms, protocol, ...")
    p.add_argument("--density", type=float, required=True, help="g/cm^3")
    p.add_argument("--anneal-temperature", type=float, required=True, help="K")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--trajectory", type=int, default=0, help="index of this trajectory in the grid")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    limit_threads(args.threads)
    s = args.settings
    symbols = [sp for sp, n in s["composition"].items() for _ in range(int(n))]
    t0 = time.perf_counter()
    frames = run_mqa(driver_factory(s["driver"], float(s["timestep_fs"])), symbols, args.density,
                     args.anneal_temperature, s["protocol"], int(s["snapshot_every"]),
                     float(s["start_min_distance"]), args.seed, info={"trajectory": args.trajectory})
    kept, dropped = filter_frames(frames, float(s["filter_min_distance"]))
    log.info("trajectory %d (density %.3f g/cm3, anneal %.0f K, seed %d): %d snapshots, kept %d, dropped %d %s "
             "in %.1f s", args.trajectory, args.density, args.anneal_temperature, args.seed, len(frames),
             len(kept), len(frames) - len(kept), dropped or "", time.perf_counter() - t0)
    write_frames(args.out, kept)


if __name__ == "__main__":
    main()
