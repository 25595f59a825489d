#!/usr/bin/env python
"""Rules `stability` and `teacher_stability`: the stability protocol (synpre.stability) at one hold
temperature, ``replicas`` runs from different quenched test cells with different velocity seeds, with
one model (or a teacher). --out (stability-<T>K.json) holds every run's outcome (survived, first alarm
and its time, extremes) and the alarm thresholds used; --series (stability-<T>K.csv) the time series of
every run, --frames (stability-<T>K.xyz) snapshots. With ``--rdf-reference``, the hold phase's radial
distribution function against that reference MD as well (--rdf: rdf-<T>K.json, --rdf-curve:
rdf-<T>K.csv; synpre.rdf).

Alarm thresholds: with --calibrate (the teacher's reference MD) no alarm but non_finite stops a run; the
thresholds this MD calibrates (with the --forces-from cells) are recorded, with a leave-one-out check.
Otherwise they are calibrated from --forces-from (the real training cells) and --calibration (the
teacher's stability-<T>K.json from --calibrate), and every alarm stops its run.

Example:
  M=results/default/direct/pretrain-0/finetune-25/scratch/seed-0 T=results/default/teachers/gap-fit
  python scripts/stability.py --model $M/model.nequip.zip --temperature 1000 \
      --start results/default/reference/test.xyz --forces-from results/default/reference/train_pool.xyz \
      --calibration $T/stability-1000K.json --settings "$(python -c '...')" \
      --rdf-reference $T/stability-1000K.xyz --rdf $M/rdf-1000K.json --rdf-curve $M/rdf-1000K.csv \
      --series $M/stability-1000K.csv --frames $M/stability-1000K.xyz --out $M/stability-1000K.json
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from synpre.atomic import write_csv, write_frames, write_json
from synpre.cli import fail, json_arg, parser, setup_logging
from synpre.datasets import read_frames
from synpre.models import add_calculator_args, calculator_from_args
from synpre.rdf import RDFReferenceError, check_reference, rdf_report
from synpre.stability import (Alarms, ProtocolError, alarms_from, calibrate, check_protocol, fired, leave_one_out,
                              protocol_steps, ramp_ps, replica_rng, run_stability, start_cells)


def main(argv=None) -> None:
    p = parser(__doc__)
    add_calculator_args(p)
    p.add_argument("--start", required=True, help="structures to start from (the real test set)")
    p.add_argument("--temperature", type=float, required=True, help="the hold temperature (K)")
    p.add_argument("--forces-from", help="real training structures whose largest force (start config_type) sets "
                                         "the max_force alarm, times alarm_margin")
    p.add_argument("--calibration", help="the teacher's stability-<T>K.json (--calibrate): its MD calibrates the alarms")
    p.add_argument("--calibrate", action="store_true",
                   help="this is the calibrating (teacher's) MD: only non_finite stops a run; record the thresholds")
    p.add_argument("--settings", type=json_arg, required=True, help="the config's stability section (JSON)")
    p.add_argument("--run-info", type=json_arg, default={})
    p.add_argument("--rdf-reference", help="reference MD snapshots (extxyz): also write --rdf and --rdf-curve")
    p.add_argument("--out", required=True, help="the result (stability-<T>K.json)")
    p.add_argument("--series", help="also write the time series of every run here (stability-<T>K.csv)")
    p.add_argument("--frames", help="also write the MD snapshots here (stability-<T>K.xyz)")
    p.add_argument("--rdf", help="the RDF summary (rdf-<T>K.json); without --rdf-reference it says there is none")
    p.add_argument("--rdf-curve", help="g(r) of the model and the reference (rdf-<T>K.csv)")
    args = p.parse_args(argv)
    if (args.rdf_reference or args.rdf or args.rdf_curve) and not (args.rdf and args.rdf_curve):
        p.error("--rdf-reference, --rdf and --rdf-curve: give --rdf and --rdf-curve both (where to write the RDF)")
    if args.calibrate and args.calibration:
        p.error("--calibrate (this MD calibrates the alarms) and --calibration (alarms from another MD) exclude each other")
    log = setup_logging(args.log)
    s, t_hold = args.settings, args.temperature
    try:
        check_protocol(s)
        starts = start_cells(read_frames(args.start), s["start"], int(s["replicas"]))
    except ProtocolError as exc:
        fail(f"{args.start}: {exc}")
    ramp = ramp_ps(s, t_hold)
    reference = read_frames(args.rdf_reference) if args.rdf_reference else None
    if reference is not None:
        try:
            check_reference(reference, args.rdf_reference, ramp, starts[0][1].get_chemical_symbols())
        except RDFReferenceError as exc:
            fail(str(exc))
    training = read_frames(args.forces_from) if args.forces_from else None
    teacher_runs = None
    if args.calibration:
        cal = json.loads(Path(args.calibration).read_text())
        if float(cal.get("temperature_K", t_hold)) != t_hold:
            fail(f"--calibration {args.calibration}: calibrated at {cal['temperature_K']} K, not {t_hold:g} K")
        teacher_runs = cal["runs"]
    thresholds = calibrate(s, training, teacher_runs)
    alarms = Alarms() if args.calibrate else alarms_from(thresholds)
    calc, who = calculator_from_args(args)
    ramp_steps, hold_steps = protocol_steps(s, t_hold)
    log.info("%s: %d replicas of %d atoms, %s K -> %g K at %s K/ps (%d steps), hold %s ps (%d steps); %s",
             who, len(starts), len(starts[0][1]), s["t_start"], t_hold, s["ramp_rate_K_per_ps"], ramp_steps,
             s["hold_ps"], hold_steps,
             "calibrating: only non_finite stops a run" if args.calibrate else
             f"alarms: band {alarms.energy_band:.3g} eV/atom, d_min {alarms.min_distance:.3g} A, "
             f"F_max {alarms.max_force:.3g} eV/A")
    runs, rows, frames = [], [], []
    for replica, (index, atoms) in enumerate(starts):
        run = run_stability(atoms, calc, s, t_hold, alarms, replica_rng(int(s["seed"]), replica, t_hold), replica, log)
        runs.append(dict(run.summary(), start_index=index, seed=[int(s["seed"]), replica, t_hold]))
        rows += run.rows
        frames += run.frames
        log.info("%s replica %d (test cell %d): %s after %.2f ps (%.1f steps/s)", who, replica, index,
                 "survived" if run.alarm is None else f"alarm {run.alarm}", runs[-1]["simulated_ps"],
                 runs[-1]["steps_per_second"] or 0)
    result = dict(args.run_info, model=args.model or who, temperature_K=t_hold, t_start_K=s["t_start"],
                  ramp_ps=ramp, hold_ps=float(s["hold_ps"]), protocol_ps=runs[0]["protocol_ps"],
                  replicas=len(runs), survived=sum(r["survived"] for r in runs), calibrating=args.calibrate,
                  runs=runs, start=args.start, calibration_file=args.calibration, settings=s)
    if args.calibrate:  # the thresholds this MD defines, and how they fare on a run left out of them
        own = calibrate(s, training, runs)
        result["alarms"] = own
        result["own_alarms"] = sum(fired(r, alarms_from(own)) is not None for r in runs)
        result["leave_one_out"] = leave_one_out(s, training, runs)
        log.info("calibrated alarms: band %.3g eV/atom (%s), d_min %.3g A (%s), F_max %.3g eV/A (%s); "
                 "leave-one-out: %d of %d runs would alarm", own["energy_band"], own["sources"]["energy_band"],
                 own["min_distance"], own["sources"]["min_distance"], own["max_force"], own["sources"]["max_force"],
                 result["leave_one_out"]["would_alarm"], len(runs))
    else:
        result["alarms"] = thresholds
    if args.series:
        write_csv(args.series, pd.DataFrame(rows))
    if args.frames:
        write_frames(args.frames, frames)
    if reference is None and args.rdf:  # no reference MD (no teacher, no file): the files say so
        write_csv(args.rdf_curve, pd.DataFrame(columns=["r", "g", "g_reference", "temperature_K"]))
        write_json(args.rdf, dict(args.run_info, temperature_K=t_hold, rdf_error=None, n_frames=0,
                                  n_reference_frames=0, reference=None, note="no reference MD to compare with"))
    if reference is not None:
        try:
            summary, curve = rdf_report(frames, reference, args.rdf_reference, ramp)
        except RDFReferenceError as exc:
            fail(str(exc))
        write_csv(args.rdf_curve, pd.DataFrame(dict(curve, temperature_K=t_hold)))
        write_json(args.rdf, dict(args.run_info, temperature_K=t_hold, **summary))
        log.info("RDF from %d snapshots against %d reference snapshots: RMS error %.3f", summary["n_frames"],
                 summary["n_reference_frames"], summary["rdf_error"] if summary["rdf_error"] is not None else float("nan"))
    write_json(args.out, result)
    log.info("%s at %g K: %d of %d replicas survived %.2f ps", who, t_hold, result["survived"], len(runs),
             result["protocol_ps"])


if __name__ == "__main__":
    main()
