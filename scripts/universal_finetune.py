#!/usr/bin/env python
"""Rule `universal_finetune`: a universal potential (a sevennet teacher) fine-tuned on the N_real structures,
scored on the real test set like every trained model: the baseline a user with a foundation model would train.

The per-element energy offset between the model's reference and the real data's is fitted on the N_real
structures first (as for the zero-shot baseline); fine-tuning then learns what is left (synpre.sevennet_finetune,
sevenn's own train_v2 driver; best epoch by validation force RMSE on the real validation set). Writes the
fine-tuned checkpoint, training.json (learning curve, offsets, wall time) and metrics.json beside it; with
--md-speed also the MD steps/s of the fine-tuned model.

Example:
  M=results/universal/universal-ft/pretrain-0/finetune-10/7net-0/seed-0
  python scripts/universal_finetune.py --teacher @results/universal/teachers/7net-0/teacher.json \
      --train results/universal/reference/train-10.xyz --val results/universal/reference/val.xyz \
      --test results/universal/reference/test.xyz --settings '{"epochs": 10, "lr": 0.0005, "batch_size": 1}' \
      --seed 0 --out-dir $M
"""

from __future__ import annotations

import time
from pathlib import Path

from synpre.atomic import write_json
from synpre.cli import fail, json_arg, parser, setup_logging
from synpre.datasets import read_frames
from synpre.labels import with_labels
from synpre.metrics import compare
from synpre.sevennet_finetune import finetune, fit_offsets, load_finetuned
from synpre.shift_fit import offset_energy
from synpre.stability import md_speed
from synpre.teachers import float32_default, make_calculator
from synpre.threads import limit_threads


def predictions(calc, frames, offsets):
    """``frames`` as ``calc`` predicts them, energies moved back to the real reference."""
    out = []
    for atoms in frames:
        work = atoms.copy()
        work.calc = calc
        out.append(with_labels(atoms, work.get_potential_energy() + offset_energy(atoms, offsets), work.get_forces()))
    return out


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--teacher", type=json_arg, required=True, help="teacher.json of a sevennet teacher (JSON or @file)")
    p.add_argument("--train", required=True, help="the N_real training structures")
    p.add_argument("--val", required=True, help="the real validation set (best epoch)")
    p.add_argument("--test", required=True, help="the real test set")
    p.add_argument("--settings", type=json_arg, required=True, help="config baselines.finetuned: epochs, lr, batch_size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--md-speed", type=json_arg, default={}, help="config md_speed (steps 0: not measured)")
    p.add_argument("--run-info", type=json_arg, default={}, help="experiment keys to record (JSON)")
    p.add_argument("--out-dir", required=True)
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    limit_threads(args.threads, torch=True)
    teacher = args.teacher
    if teacher["kind"] != "sevennet":
        fail(f"teacher {teacher['name']!r} is of kind {teacher['kind']}; only sevennet teachers can be fine-tuned "
             "(config baselines.finetuned)")
    train, val, test = (read_frames(f) for f in (args.train, args.val, args.test))
    elements = sorted({el for a in train + test for el in a.get_chemical_symbols()})
    out = Path(args.out_dir)
    s = args.settings
    zero_shot = make_calculator(teacher)
    offsets = fit_offsets(zero_shot, train, elements)
    log.info("offsets fitted on %d structures: %s eV/atom", len(train), offsets)
    t0 = time.perf_counter()
    with float32_default():
        record = finetune(teacher.get("model", "7net-0"), train, val, out, offsets, int(s["epochs"]), float(s["lr"]),
                          int(s["batch_size"]), args.seed, modal=teacher.get("modal"))
    log.info("fine-tuned in %.0f s: best epoch %d of %d", time.perf_counter() - t0, record["best_epoch"],
             record["epochs"])
    tuned = load_finetuned(record["checkpoint"], teacher.get("modal"))
    preds = predictions(tuned, test, offsets)
    metrics = compare(test, preds)
    speed = {}
    if int(args.md_speed.get("steps", 0)) > 0:
        m = args.md_speed
        speed = md_speed(test[0], tuned, int(m["steps"]), int(m.get("warmup", 5)), float(m.get("temperature", 1000)))
    metrics.update(dict(teacher="universal-ft", strategy=teacher["name"], n_synth=0, seed=args.seed,
                        n_real=len(train)), **args.run_info)
    metrics.update(model=record["checkpoint"], kind=teacher["kind"], train=args.train, test=args.test,
                   energy_offsets_eV_per_atom=offsets, training=record, **speed)
    write_json(out / "training.json", record)
    write_json(out / "metrics.json", metrics)
    log.info("N_real %d: E %.1f meV/atom, F %.3f eV/A", len(train), metrics["energy_rmse_meV_per_atom"],
             metrics["forces_rmse_eV_per_A"])


if __name__ == "__main__":
    main()
