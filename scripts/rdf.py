#!/usr/bin/env python
"""Rule `rdf`: the radial distribution function of one model's stability MD (hold phase) against the
reference MD (a teacher's run of the same protocol, or a given trajectory): rdf.csv and its RMS error.

Example:
  python scripts/rdf.py --frames results/default/direct/pretrain-0/finetune-25/scratch/seed-0/stability.xyz \
      --reference results/default/teachers/gap-fit/stability.xyz --ramp-ps 0.3 \
      --out results/default/direct/pretrain-0/finetune-25/scratch/seed-0/rdf.json
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synpre.atomic import write_csv, write_json
from synpre.cli import fail, json_arg, parser, setup_logging
from synpre.datasets import read_frames
from synpre.rdf import hold_frames, rdf, rdf_error


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--frames", required=True, help="the model's stability.xyz")
    p.add_argument("--reference", required=True, help="reference MD snapshots (extxyz)")
    p.add_argument("--ramp-ps", type=float, default=0.0, help="snapshots before this time are left out")
    p.add_argument("--r-max", type=float, default=6.0)
    p.add_argument("--run-info", type=json_arg, default={})
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    frames = hold_frames(read_frames(args.frames), args.ramp_ps)
    ref = hold_frames(read_frames(args.reference), args.ramp_ps)
    if not ref:
        fail(f"{args.reference}: no reference snapshots after {args.ramp_ps} ps; the reference MD did not reach "
             "the hold (see its stability.json) or give stability.rdf_reference.file with a longer trajectory")
    ref_elements = {el for a in ref for el in a.get_chemical_symbols()}
    own = {el for a in frames for el in a.get_chemical_symbols()}
    if frames and not own <= ref_elements:
        fail(f"{args.reference}: holds elements {sorted(ref_elements)}, but the model's MD has {sorted(own)}; "
             "give a reference trajectory of the same system")
    r, g = rdf(frames, args.r_max)
    _, g_ref = rdf(ref, args.r_max)
    err = rdf_error(g, g_ref)
    write_csv(Path(args.out).with_suffix(".csv"), pd.DataFrame({"r": r, "g": g, "g_reference": g_ref}))
    write_json(args.out, dict(args.run_info, rdf_error=err if frames else None, n_frames=len(frames),
                              n_reference_frames=len(ref), reference=args.reference,
                              note=None if frames else "no snapshots in the hold: the MD failed during the ramp"))
    log.info("RDF from %d snapshots against %d reference snapshots: RMS error %.3f", len(frames), len(ref), err)


if __name__ == "__main__":
    main()
