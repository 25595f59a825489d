#!/usr/bin/env python
"""Rule `label`: one shard of a campaign's structures labelled by a teacher (energy referenced to the
teacher's own isolated atoms, forces, stress for periodic cells): the synthetic set by a pre-training
teacher, or reference_build's structures by its labeller.

Example:
  python scripts/label.py --teacher @results/default/teachers/gap-fit/teacher.json \
      --inputs results/default/synthetic/md/traj-0000.xyz results/default/synthetic/md/traj-0002.xyz \
      --out results/default/gap-fit/labels/shard-0.xyz
"""

from __future__ import annotations

import time

from synpre.atomic import write_frames
from synpre.cli import fail, json_arg, parser, setup_logging
from synpre.datasets import read_frames
from synpre.labels import label_with
from synpre.teachers import make_calculator
from synpre.threads import limit_threads


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--teacher", type=json_arg, required=True, help="teacher.json (JSON or @file)")
    p.add_argument("--inputs", nargs="+", required=True, help="unlabelled extxyz files, labelled in order")
    p.add_argument("--out", required=True)
    p.add_argument("--progress-every", type=int, default=50)
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    limit_threads(args.threads)
    teacher = args.teacher
    calc = make_calculator(teacher)
    isolated = teacher["isolated_atom_energies"]
    out, t0 = [], time.perf_counter()
    for path in args.inputs:
        for i, atoms in enumerate(read_frames(path)):
            missing = set(atoms.get_chemical_symbols()) - set(isolated)
            if missing:
                fail(f"{path} structure {i}: elements {sorted(missing)} are not covered by teacher "
                     f"{teacher['name']!r} (isolated-atom energies known for {sorted(isolated)}); "
                     "use a teacher for every element of the data")
            out.append(label_with(atoms, calc, isolated, info={"teacher": teacher["name"], "source_file": str(path),
                                                               "source_index": i}))
            if len(out) % args.progress_every == 0:
                log.info("labelled %d structures (%.3f s each)", len(out), (time.perf_counter() - t0) / len(out))
    dt = time.perf_counter() - t0
    log.info("labelled %d structures from %d files with %s in %.1f s (%.3f s/structure)", len(out),
             len(args.inputs), teacher["name"], dt, dt / max(len(out), 1))
    write_frames(args.out, out)


if __name__ == "__main__":
    main()
