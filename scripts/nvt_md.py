#!/usr/bin/env python
"""Rule `nvt` (campaigns synthetic and reference-build): plain NVT MD at chosen temperatures from given
structures (e.g. the real training pool, or a molecule), snapshots unlabelled; part k of K takes runs
k, k+K, ...

The driver is any teacher kind (ASE Langevin dynamics, so any cell shape works), e.g. LAMMPS LCBOP.

Example:
  python scripts/nvt_md.py --inputs results/default/reference/train_pool.xyz --part 0 --parts 2 \
      --settings '{"driver": {"kind": "lammps", "potential": "lcbop"}, "temperatures": [1000],
                   "steps": 500, "snapshot_every": 100, "timestep_fs": 1.0, "filter_min_distance": 0.8}' \
      --out results/default/synthetic/nvt/part-0.xyz
"""

from __future__ import annotations

import time

from synpre.atomic import write_frames
from synpre.cli import part_parser, setup_logging, source_structures
from synpre.sampling import AseMD, filter_frames, run_nvt
from synpre.teachers import make_calculator
from synpre.threads import limit_threads


def main(argv=None) -> None:
    args = part_parser(__doc__).parse_args(argv)
    log = setup_logging(args.log)
    limit_threads(args.threads)
    s = args.settings
    sources = source_structures(args)
    driver = dict(s["driver"], name="nvt-driver")
    if driver["kind"] == "lammps":
        driver["species"] = sorted({el for a in sources for el in a.get_chemical_symbols()})
    calc = make_calculator(driver)
    frames, t0 = [], time.perf_counter()
    temps, repeats = s["temperatures"], int(s.get("repeats", 1))
    # one work item per (structure, temperature, repeat); part k of K takes items k, k+K, ... so even a
    # single start structure (a molecule) spreads over every part
    items = [(i, j, r) for i in range(len(sources)) for j in range(len(temps)) for r in range(repeats)]
    for i, j, r in items[args.part :: args.parts]:
        md = AseMD(sources[i], calc, float(s["timestep_fs"]), seed=args.seed * 100_000 + i * 100 + j + 1_000_000 * r)
        # `trajectory` lets a reference set built from these runs be split by trajectory
        frames += run_nvt(md, float(temps[j]), int(s["steps"]), int(s["snapshot_every"]),
                          info={"config_type": s.get("config_type", "nvt"),
                                "source_index": sources[i].info["source_index"],
                                "trajectory": (i * len(temps) + j) * repeats + r})
        md.close()
    kept, dropped = filter_frames(frames, float(s["filter_min_distance"]))
    log.info("NVT: %d of %d runs (%d structures x %s K x %d repeats): %d snapshots, kept %d, dropped %d %s "
             "in %.1f s", len(items[args.part :: args.parts]), len(items), len(sources), temps, repeats, len(frames), len(kept),
             len(frames) - len(kept), dropped or "", time.perf_counter() - t0)
    write_frames(args.out, kept)


if __name__ == "__main__":
    main()
