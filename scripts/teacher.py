#!/usr/bin/env python
"""Rule `teacher`: make a teacher usable and describe it in ``teacher.json``.

gap_fit / eam_fit / ace_fit: fit a GAP, an EAM or an ACE to the real training pool; gap_xml: checks a given XML file loads; tblite/lammps/
sevennet/chgnet (universal potentials, weights from their wheels): nothing to fit. Every kind then measures its own isolated-atom energies, to which its labels are
referenced (as the paper does, so that pre-trained models start from sensible predictions).

Example:
  python scripts/teacher.py --name gap-fit --spec '{"kind": "gap_fit", ...}' --elements C \
      --fit-data results/default/reference/train_pool.xyz --out results/default/teachers/gap-fit/teacher.json
"""

from __future__ import annotations

import time
from pathlib import Path

from synpre.atomic import write_json
from synpre.cli import fail, json_arg, parser, setup_logging
from synpre.teachers import (UNIVERSAL, TeacherError, check_coverage, check_gap_loads, check_universal,
                             isolated_atom_energy, make_calculator)
from synpre.threads import limit_threads


def fit_eam_teacher(args, spec: dict, log) -> dict:
    """Fit the EAM to the (isolated-atom referenced) training pool and store it as an eam/alloy file."""
    from synpre.datasets import read_frames
    from synpre.eam import EAMFitError, fit_eam, write_setfl

    if not args.fit_data:
        fail(f"teachers.{args.name}: kind eam_fit needs --fit-data (the real training pool)")
    limit_threads(args.threads, torch=True)  # the fit runs in torch
    frames = read_frames(args.fit_data)[: spec["eam"].get("fit_max") or None]
    try:
        model, info = fit_eam(frames, args.elements, spec["eam"], log)
    except EAMFitError as exc:
        raise TeacherError(f"teachers.{args.name}.eam: {exc}") from exc
    path = Path(args.out).parent / "eam" / "fitted.eam.alloy"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_setfl(model, path, info["rho_max"])
    write_json(path.with_name("fit.json"), info)
    return {"name": args.name, "kind": "eam", "path": str(path.resolve()), "fitted": True,
            "fit_data": args.fit_data, "eam": spec["eam"], "r0_initial": info["r0_initial"], "fit": info["history"][-1]}


def fit_ace_teacher(args, spec: dict, log) -> dict:
    """Fit an ACE with pacemaker to the (isolated-atom referenced) training pool; stored as a .yace."""
    from synpre.acefit import fit_ace
    from synpre.datasets import read_frames

    if not args.fit_data:
        fail(f"teachers.{args.name}: kind ace_fit needs --fit-data (the real training pool)")
    frames = read_frames(args.fit_data)[: spec["ace"].get("fit_max") or None]
    try:
        yace = fit_ace(frames, Path(args.out).parent / "ace", spec["ace"], args.elements, log)
    except RuntimeError as exc:
        raise TeacherError(f"teachers.{args.name}.ace: {exc}") from exc
    return {"name": args.name, "kind": "ace", "path": str(yace), "fitted": True,
            "fit_data": args.fit_data, "ace": spec["ace"]}


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--name", required=True)
    p.add_argument("--spec", type=json_arg, required=True, help="the teacher's config entry (JSON or @file)")
    p.add_argument("--elements", nargs="+", required=True)
    p.add_argument("--fit-data", help="labelled extxyz to fit to (gap_fit, eam_fit, ace_fit)")
    p.add_argument("--fit-e0", type=json_arg, help="isolated-atom energies of the fit data's reference (gap_fit)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    limit_threads(args.threads)
    spec = dict(args.spec, name=args.name)
    t0 = time.perf_counter()
    try:
        if spec["kind"] == "gap_fit":
            from synpre.gapfit import fit_gap

            if not args.fit_data:
                fail(f"teachers.{args.name}: kind gap_fit needs --fit-data (the real training pool)")
            xml = fit_gap(Path(args.fit_data), Path(args.out).parent / "gap", spec["gap"], args.fit_e0, log)
            spec = {"name": args.name, "kind": "gap_xml", "path": str(xml), "fitted": True,
                    "fit_data": args.fit_data, "gap": spec["gap"]}
        if spec["kind"] == "eam_fit":
            spec = fit_eam_teacher(args, spec, log)
        if spec["kind"] == "ace_fit":
            spec = fit_ace_teacher(args, spec, log)
        if spec["kind"] == "gap_xml":
            check_gap_loads(spec)
        if spec["kind"] == "lammps":
            spec["species"] = args.elements
        if spec["kind"] in UNIVERSAL:  # the model's name, and its defaults, recorded in teacher.json
            spec["model"], modal = check_universal(spec, args.elements, f"teachers.{args.name}")
            spec.update({"modal": modal} if modal else {})
        calc = make_calculator(spec)
        check_coverage(calc, spec, args.elements)
        spec["isolated_atom_energies"] = {el: isolated_atom_energy(calc, el, spec["kind"]) for el in args.elements}
    except TeacherError as exc:
        fail(str(exc))
    spec["seconds"] = round(time.perf_counter() - t0, 2)
    log.info("teacher %s ready in %.1f s; isolated atoms %s", args.name, spec["seconds"],
             spec["isolated_atom_energies"])
    write_json(args.out, spec)


if __name__ == "__main__":
    main()
