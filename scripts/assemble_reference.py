#!/usr/bin/env python
"""Rule `assemble_reference`: labelled reference shards -> one reference extxyz with a ``split`` key.

The split is by trajectory (every ``test_every``-th MD run, and every ``test_every``-th crystal, goes
to the test set), so no test structure has a near-copy from the same run in training.

Example:
  python scripts/assemble_reference.py --inputs shard-*.xyz --test-every 4 --out data/carbon-gfn1.extxyz.gz
"""

from __future__ import annotations

from ase.io import read

from synpre.atomic import write_frames
from synpre.cli import json_arg, parser, setup_logging
from synpre.labels import reference_energy, with_labels


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--inputs", nargs="+", required=True)
    p.add_argument("--teacher", type=json_arg, required=True,
                   help="the labeller's teacher.json: its isolated atoms are added back, so the file holds "
                        "total energies like any DFT file (the config gives the isolated-atom energies)")
    p.add_argument("--test-every", type=int, default=4)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    isolated = args.teacher["isolated_atom_energies"]
    frames = []
    for path in args.inputs:
        for a in read(path, ":"):
            total = a.get_potential_energy() + reference_energy(a, isolated)
            stress = a.calc.results.get("stress")
            frames.append(with_labels(a, total, a.get_forces(), stress,
                                      info={"reference_method": args.teacher.get("method", args.teacher["kind"])}))
    for a in frames:
        a.info.setdefault("config_type", "amorphous")
        group = a.info.get("crystal_index") if a.info.get("trajectory", -1) < 0 else a.info["trajectory"]
        a.info["split"] = "test" if int(group) % args.test_every == args.test_every - 1 else "train"
        for k in ("source_file", "source_index", "teacher"):
            a.info.pop(k, None)
    n_test = sum(a.info["split"] == "test" for a in frames)
    log.info("reference set: %d structures, %d train / %d test (split by trajectory)", len(frames),
             len(frames) - n_test, n_test)
    write_frames(args.out, frames)


if __name__ == "__main__":
    main()
