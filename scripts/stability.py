#!/usr/bin/env python
"""Rules `stability` and `teacher_stability`: NVT MD with one model (or a teacher) under the stability
protocol; records the first alarm (time and kind) in --out, and with the options a time series
(--series, stability.csv) and snapshots (--frames, stability.xyz). With ``--rdf-reference``, the hold
phase's radial distribution function against that reference MD as well (--rdf: rdf.json, --rdf-curve:
rdf.csv; synpre.rdf).

Example:
  M=results/default/direct/pretrain-0/finetune-25/scratch/seed-0
  python scripts/stability.py --model $M/model.nequip.zip \
      --start results/default/reference/test.xyz --forces-from results/default/reference/train_pool.xyz \
      --settings '{"t_start": 300, "t_max": 3000, "ramp_ps": 0.3, "hold_ps": 0.7, ...}' \
      --rdf-reference results/default/teachers/gap-fit/stability.xyz \
      --series $M/stability.csv --frames $M/stability.xyz --rdf $M/rdf.json --rdf-curve $M/rdf.csv \
      --out $M/stability.json
"""

from __future__ import annotations

import pandas as pd

from synpre.atomic import write_csv, write_frames, write_json
from synpre.cli import fail, json_arg, parser, setup_logging
from synpre.datasets import read_frames
from synpre.models import add_calculator_args, calculator_from_args
from synpre.rdf import RDFReferenceError, check_reference, rdf_report
from synpre.stability import ProtocolError, check_protocol, force_threshold, run_stability


def start_structure(path: str, config_type: str | None, index: int):
    frames = read_frames(path)
    pool = [a for a in frames if config_type is None or a.info.get("config_type") == config_type]
    if not pool:
        fail(f"{path}: no structure of config_type {config_type!r} to start the stability MD from; set "
             "stability.start.config_type (or null for any)")
    return pool[index % len(pool)]


def main(argv=None) -> None:
    p = parser(__doc__)
    add_calculator_args(p)
    p.add_argument("--start", required=True, help="structures to start from (the real test set)")
    p.add_argument("--forces-from", help="training structures that set the max_force alarm (none: no such alarm, "
                                         "as for a teacher's reference MD, whose forces are its own)")
    p.add_argument("--settings", type=json_arg, required=True, help="the config's stability section (JSON)")
    p.add_argument("--run-info", type=json_arg, default={})
    p.add_argument("--rdf-reference", help="reference MD snapshots (extxyz): also write --rdf and --rdf-curve")
    p.add_argument("--out", required=True, help="the result (stability.json)")
    p.add_argument("--series", help="also write the time series here (stability.csv)")
    p.add_argument("--frames", help="also write the MD snapshots here (stability.xyz)")
    p.add_argument("--rdf", help="with --rdf-reference: the RDF summary (rdf.json)")
    p.add_argument("--rdf-curve", help="with --rdf-reference: g(r) of the model and the reference (rdf.csv)")
    args = p.parse_args(argv)
    if args.rdf_reference and not (args.rdf and args.rdf_curve):
        p.error("--rdf-reference needs --rdf and --rdf-curve (where to write the RDF)")
    log = setup_logging(args.log)
    s = args.settings
    try:
        check_protocol(s)
    except ProtocolError as exc:
        fail(str(exc))
    reference = read_frames(args.rdf_reference) if args.rdf_reference else None
    start = start_structure(args.start, s["start"].get("config_type"), int(s["start"].get("index", 0)))
    if reference is not None:
        try:
            check_reference(reference, args.rdf_reference, float(s.get("ramp_ps", 0.0)), start.get_chemical_symbols())
        except RDFReferenceError as exc:
            fail(str(exc))
    f_max = (force_threshold(read_frames(args.forces_from), float(s["force_sigma"])) if args.forces_from
             else float("inf"))
    calc, who = calculator_from_args(args)
    log.info("%s: %d atoms, %s K -> %s K over %s ps, hold %s ps; alarms: band %s eV/atom, d_min %s A, "
             "F_max %.1f eV/A", who, len(start), s["t_start"], s["t_max"], s["ramp_ps"], s["hold_ps"],
             s["energy_band"], s["min_distance"], f_max)
    run = run_stability(start, calc, s, f_max, int(s["seed"]), log)
    if args.series:
        write_csv(args.series, pd.DataFrame(run.rows))
    if args.frames:
        write_frames(args.frames, run.frames)
    result = dict(run.summary(), **args.run_info, model=args.model or who, force_threshold_eV_per_A=f_max,
                  steps_per_second=(run.rows[-1]["step"] / run.seconds) if run.seconds else None,
                  start=args.start, settings=s)
    if reference is not None:
        try:
            summary, curve = rdf_report(run.frames, reference, args.rdf_reference, float(s.get("ramp_ps", 0.0)))
        except RDFReferenceError as exc:
            fail(str(exc))
        write_csv(args.rdf_curve, pd.DataFrame(curve))
        write_json(args.rdf, dict(args.run_info, **summary))
        log.info("RDF from %d snapshots against %d reference snapshots: RMS error %.3f", summary["n_frames"],
                 summary["n_reference_frames"], summary["rdf_error"] if summary["rdf_error"] is not None else float("nan"))
    write_json(args.out, result)
    log.info("%s: %s after %.2f ps (%.1f steps/s)", who, "survived" if run.alarm is None else f"alarm {run.alarm}",
             result["simulated_ps"], result["steps_per_second"] or 0)


if __name__ == "__main__":
    main()
