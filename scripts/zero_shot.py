#!/usr/bin/env python
"""Rule `zero_shot`: a teacher (meant for a universal potential: sevennet, chgnet) used as it is, scored on the
real test set like every trained model: the baseline a user would pick instead of training anything.

Its energies are referenced to its own isolated atoms, the real data's to theirs, and the two references differ
(another level of theory). The only thing taken from the N_real training structures is that offset: the
per-element energy shift that best explains the teacher's errors on them (least absolute deviations on
per-atom energies, as fine-tuning's residual shift: synpre.shift_fit.residual_offsets). One metrics.json per N_real (--train and --out in the same order); the test
set and each distinct training structure are evaluated once. The metrics also hold the raw error (no offset) and
the error with the test set's own mean offset removed (as teacher_report scores teachers), and, with --md-speed,
the MD steps/s of the teacher (synpre.stability.md_speed, as rule md_speed measures every trained model).

Example:
  python scripts/zero_shot.py --teacher @results/universal/teachers/7net-0/teacher.json \
      --test results/universal/reference/test.xyz \
      --train results/universal/reference/train-10.xyz results/universal/reference/train-25.xyz \
      --md-speed '{"steps": 20, "warmup": 5, "temperature": 1000}' --run-info '{"study": "universal"}' \
      --predictions results/universal/zero-shot/7net-0/predictions.xyz \
      --out results/universal/zero-shot/pretrain-0/finetune-10/7net-0/seed-0/metrics.json \
            results/universal/zero-shot/pretrain-0/finetune-25/7net-0/seed-0/metrics.json
"""

from __future__ import annotations

import time

import numpy as np

from synpre.atomic import write_frames, write_json
from synpre.cli import fail, json_arg, parser, setup_logging
from synpre.datasets import read_frames
from synpre.labels import label_with, with_labels
from synpre.metrics import compare
from synpre.shift_fit import offset_energy, residual_offsets
from synpre.stability import md_speed
from synpre.teachers import make_calculator
from synpre.threads import limit_threads


def structure_key(atoms) -> bytes:
    """Identity of a structure (the nested N_real subsets share theirs): species, positions and cell."""
    return (atoms.numbers.tobytes() + np.round(atoms.positions, 8).tobytes()
            + np.round(atoms.cell.array, 8).tobytes())


def shifted(frames, offsets: dict[str, float]) -> list:
    """``frames`` with sum_t n_t offsets[t] added to each energy (forces unchanged)."""
    out = []
    for a in frames:
        e = a.get_potential_energy() + offset_energy(a, offsets)
        out.append(with_labels(a, e, a.get_forces(), info={"energy_offset_applied": True}))
    return out


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--teacher", type=json_arg, required=True, help="teacher.json (JSON or @file)")
    p.add_argument("--test", required=True, help="the real test set")
    p.add_argument("--train", nargs="+", required=True, help="the N_real training sets, one per --out")
    p.add_argument("--out", nargs="+", required=True, help="metrics.json per --train file, in the same order")
    p.add_argument("--md-speed", type=json_arg, default={}, help="config md_speed (steps 0: not measured)")
    p.add_argument("--run-info", type=json_arg, default={}, help="experiment keys to record (JSON)")
    p.add_argument("--predictions", help="also write the raw test predictions here (extxyz, no offset)")
    args = p.parse_args(argv)
    if len(args.train) != len(args.out):
        p.error(f"--train has {len(args.train)} files and --out {len(args.out)}: give one metrics file per set")
    log = setup_logging(args.log)
    limit_threads(args.threads)  # before the calculator imports torch, which reads OMP_NUM_THREADS
    teacher = args.teacher
    isolated = teacher["isolated_atom_energies"]
    test = read_frames(args.test)
    missing = sorted({el for a in test for el in a.get_chemical_symbols()} - set(isolated))
    if missing:
        fail(f"{args.test}: elements {missing} are not covered by teacher {teacher['name']!r}; "
             "score a teacher that covers every element of the data")
    calc = make_calculator(teacher)
    t0 = time.perf_counter()
    preds = [label_with(a, calc, isolated) for a in test]
    seconds = (time.perf_counter() - t0) / len(test)
    log.info("%s on %d test structures: %.3f s each", teacher["name"], len(test), seconds)
    cache = {}
    trains = {}
    for path in args.train:
        frames = read_frames(path)
        for a in frames:
            key = structure_key(a)
            if key not in cache:
                cache[key] = label_with(a, calc, isolated).get_potential_energy()
        trains[path] = frames
    speed = {}
    if int(args.md_speed.get("steps", 0)) > 0:
        s = args.md_speed
        speed = md_speed(test[0], calc, int(s["steps"]), int(s.get("warmup", 5)), float(s.get("temperature", 1000)))
        log.info("MD: %.2f steps/s (%d atoms, %d steps)", speed["md_steps_per_second"], speed["md_atoms"], speed["md_steps"])
    raw = compare(test, preds)
    best = compare(test, preds, remove_offset=True)
    elements = sorted({el for a in test for el in a.get_chemical_symbols()})
    for path, out in zip(args.train, args.out):
        frames = trains[path]
        d = residual_offsets(frames, [cache[structure_key(a)] for a in frames], elements)
        offsets = {el: float(x) for el, x in zip(elements, d)}
        metrics = compare(test, shifted(preds, offsets))
        metrics.update(dict(teacher="zero-shot", strategy=teacher["name"], n_synth=0, seed=0, n_real=len(frames)),
                       **args.run_info)
        metrics.update(model=f"{teacher['name']} ({teacher['kind']} {teacher.get('model', '')}".rstrip() + ") zero-shot",
                       kind=teacher["kind"], train=path, test=args.test, energy_offsets_eV_per_atom=offsets,
                       energy_rmse_raw_meV_per_atom=raw["energy_rmse_meV_per_atom"],
                       energy_rmse_test_offset_meV_per_atom=best["energy_rmse_meV_per_atom"],
                       seconds_per_structure=seconds, **speed)
        write_json(out, metrics)
        log.info("N_real %d: offsets %s eV/atom; E %.1f meV/atom (raw %.1f, test-mean offset %.1f), F %.3f eV/A",
                 len(frames), {k: round(v, 4) for k, v in offsets.items()}, metrics["energy_rmse_meV_per_atom"],
                 raw["energy_rmse_meV_per_atom"], best["energy_rmse_meV_per_atom"], metrics["forces_rmse_eV_per_A"])
    if args.predictions:
        write_frames(args.predictions, preds)


if __name__ == "__main__":
    main()
