#!/usr/bin/env python
"""Rule `teacher_report`: how good is a teacher on the real test set?

Per-atom energy RMSE after removing the mean per-atom offset (as the paper compares teachers, whose
isolated-atom references differ from the real data's), the raw RMSE too, force component RMSE, per
``config_type`` (--out); with the options a parity figure and the predictions.

Example:
  T=results/default/teachers/gap-fit
  python scripts/teacher_report.py --teacher @$T/teacher.json --test results/default/reference/test.xyz \
      --parity $T/parity.png --predictions $T/test_predictions.xyz --out $T/report.json
"""

from __future__ import annotations

import time

from synpre.atomic import atomic_path, write_frames, write_json
from synpre.cli import json_arg, parser, setup_logging
from synpre.datasets import read_frames
from synpre.labels import label_with
from synpre.metrics import compare
from synpre.parity import parity_from_frames
from synpre.teachers import make_calculator
from synpre.threads import limit_threads


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--teacher", type=json_arg, required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--out", required=True, help="report.json")
    p.add_argument("--parity", help="also draw the parity plot here (png)")
    p.add_argument("--predictions", help="also write the teacher's predictions of the test set here (extxyz)")
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    limit_threads(args.threads)
    teacher = args.teacher
    calc = make_calculator(teacher)
    test = read_frames(args.test)
    t0 = time.perf_counter()
    preds = [label_with(a, calc, teacher["isolated_atom_energies"]) for a in test]
    seconds = (time.perf_counter() - t0) / len(test)
    report = compare(test, preds, remove_offset=True)
    report.update(teacher=teacher["name"], kind=teacher["kind"], test=args.test, seconds_per_structure=seconds)
    offset = report["energy_offset_eV_per_atom"]
    if args.predictions:
        write_frames(args.predictions, preds)
    if args.parity:
        with atomic_path(args.parity) as tmp:
            parity_from_frames(test, preds, str(tmp), energy_offset=offset,
                               title=f"teacher {teacher['name']} on the real test set (mean offset removed)")
    write_json(args.out, report)
    log.info("teacher %s: E %.1f meV/atom (offset %.3f eV/atom removed), F %.3f eV/A, %.3f s/structure",
             teacher["name"], report["energy_rmse_meV_per_atom"], offset, report["forces_rmse_eV_per_A"], seconds)


if __name__ == "__main__":
    main()
