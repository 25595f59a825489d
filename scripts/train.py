#!/usr/bin/env python
"""Rules `pretrain`, `finetune`, `direct`: train a NequIP model with nequip-train.

Writes the generated nequip config into ``<out-dir>/run/config.yaml`` and runs ``nequip-train`` there.
If ``run/resume.ckpt`` exists from an interrupted attempt with the same config, training resumes from it
(the start of the epoch that was cut short) and reaches the same weights as an uninterrupted run.
On success the best checkpoint (on the validation metric) is published atomically as
``<out-dir>/model.ckpt`` with ``<out-dir>/training.json`` beside it.

Example (direct training, as the rule runs it):
  python scripts/train.py --settings @settings.json --train results/default/reference/train-25.xyz \
      --val results/default/reference/val.xyz --out-dir results/default/direct/pretrain-0/finetune-25/seed-0
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from synpre.atomic import atomic_path, write_frames, write_json
from synpre.cli import fail, json_arg, parser, setup_logging, with_synpre_importable
from synpre.nequip_config import MONITORS, refit_mode, training_config
from synpre.threads import limit_threads


def read_metrics(csv_path: Path) -> list[dict]:
    """Rows of the CSV log, with those of attempts before a resume (metrics.part<k>.csv) first. A resumed
    attempt repeats the epoch that was cut short: its rows replace the interrupted attempt's."""
    def epoch(row):
        return int(float(row["epoch"])) if row.get("epoch") not in (None, "") else -1

    rows = []
    parts = sorted(csv_path.parent.glob("metrics.part*.csv"), key=lambda p: int(p.stem.removeprefix("metrics.part")))
    for part in parts + [csv_path]:
        if part.exists():
            with open(part) as f:
                new = list(csv.DictReader(f))
            epochs = [epoch(r) for r in new if epoch(r) >= 0]  # learning-rate rows carry no epoch
            if epochs:
                rows = [r for r in rows if epoch(r) < min(epochs)]
            rows += new
    return rows


def summarize(rows: list[dict], monitor: str) -> dict:
    """Per-epoch validation metrics -> best epoch and its values (the numbers behind model.ckpt)."""
    val = [r for r in rows if r.get(monitor) not in (None, "")]
    if not val:
        return {"epochs": 0}
    def f(r, k):
        return float(r[k]) if r.get(k) not in (None, "") else None
    best = min(val, key=lambda r: float(r[monitor]) if math.isfinite(float(r[monitor])) else float("inf"))
    steps = [int(float(r["step"])) for r in rows if r.get("step") not in (None, "")]
    return {
        "epochs": int(max(float(r["epoch"]) for r in val)) + 1,
        "steps": max(steps) + 1 if steps else None,  # Lightning logs the index of the last step taken
        "best_epoch": int(float(best["epoch"])),
        "best_val_per_atom_energy_rmse_meV": 1e3 * f(best, "val0_epoch/per_atom_energy_rmse"),
        "best_val_forces_rmse": f(best, "val0_epoch/forces_rmse"),
        "best_val_monitor": f(best, monitor),
        "final_val_monitor": f(val[-1], monitor),
    }


def stopped_by(summary: dict, training: dict) -> str:
    """Why a finished run ended: 'early_stopping' (its monitor stopped improving: converged by the recipe's
    criterion), 'max_steps' (the step budget, e.g. pretraining.max_steps) or 'max_epochs' (the epoch cap)."""
    if training.get("max_epochs") and summary.get("epochs", 0) >= int(training["max_epochs"]):
        return "max_epochs"
    if training.get("max_steps") and (summary.get("steps") or 0) >= int(training["max_steps"]):
        return "max_steps"
    return "early_stopping"


def readable(ckpt: Path, log) -> bool:
    """A checkpoint cut short by a kill during its write is not resumed from."""
    import torch

    try:
        torch.load(ckpt, map_location="cpu", weights_only=False)
        return True
    except Exception as exc:  # truncated zip, unpickling errors...
        log.warning("cannot read %s (%s): starting afresh", ckpt, exc)
        return False


def inductor_cache(env: dict) -> dict:
    """``env`` with TORCHINDUCTOR_CACHE_DIR set, unless the user set it: the kernels torch.compile builds
    (training.compile) are cached there, so the minutes of the first compile are paid once per user and
    machine, not once per job. Torch's own default is $TMPDIR/torchinductor_<user>, and a scheduler's
    per-job TMPDIR (SLURM, snakemake's tmpdir resource) would throw it away after every job. On a cluster
    with a slow or small home, set TORCHINDUCTOR_CACHE_DIR to node-local or scratch disk (it grows to
    hundreds of MB)."""
    if env.get("TORCHINDUCTOR_CACHE_DIR"):
        return env
    cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "synpre" / "torchinductor"
    return dict(env, TORCHINDUCTOR_CACHE_DIR=str(cache))


def run_nequip(settings: dict, args, run_dir: Path, env: dict, log, train: str):
    """One nequip-train run in run_dir; resumes from resume.ckpt when the generated config is unchanged."""
    cfg = training_config(settings, train, args.val, str(run_dir), args.pretrained,
                          keep_epochs=bool(args.keep_epochs))
    text = yaml.safe_dump(cfg, sort_keys=False)
    cfg_path, last = run_dir / "config.yaml", run_dir / "resume.ckpt"
    finished = run_dir / "finished.yaml"  # the config of a run that ended: rerunning it has nothing to train
    if finished.exists() and finished.read_text() == text and (run_dir / "best.ckpt").exists():
        log.info("this config already finished training in %s: publishing its best checkpoint again", run_dir)
        return subprocess.CompletedProcess([], 0), 0.0, True, cfg_path
    finished.unlink(missing_ok=True)
    resume = last.exists() and cfg_path.exists() and cfg_path.read_text() == text and readable(last, log)
    (run_dir / "diverged.json").unlink(missing_ok=True)
    stale = [p for p in (last, run_dir / "best.ckpt", *run_dir.glob("epoch-*.ckpt"), run_dir / "csvlog") if p.exists()]
    if stale and not resume:
        log.info("no resume point for this config (changed, or cut short in the first epoch): starting afresh")
        for path in stale:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    cfg_path.write_text(text)
    cmd = [str(Path(sys.executable).with_name("nequip-train")), "-cp", str(run_dir), "-cn", "config",
           f"hydra.run.dir={run_dir}"]
    if resume:
        cmd.append(f"++ckpt_path={last}")
        log.info("resuming from %s", last)
        # Lightning's CSV logger starts metrics.csv afresh: keep the interrupted attempt's rows
        csv_now = run_dir / "csvlog" / "version_0" / "metrics.csv"
        if csv_now.exists():
            csv_now.rename(csv_now.with_name(f"metrics.part{len(list(csv_now.parent.glob('metrics.part*.csv')))}.csv"))
    if not Path(cmd[0]).exists():
        cmd[0] = "nequip-train"
    log.info("running: %s (threads=%d)", " ".join(cmd), args.threads)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=run_dir)
    return proc, time.perf_counter() - t0, resume, cfg_path


def replay_set(args, replay: dict, offsets: dict, run_dir: Path, log) -> tuple[str, dict]:
    """The training file of a replay run (run/train-replay.xyz, rewritten identically on a rerun) and its
    record for training.json."""
    from synpre.datasets import read_frames
    from synpre.replay import mix

    frames, info = mix(read_frames(args.train), read_frames(args.replay), offsets, replay["structures"],
                       replay.get("weight", 1.0))
    path = run_dir / "train-replay.xyz"
    write_frames(path, frames)
    info.update(file=args.replay, train=str(path))
    log.info("replay: %d real structures x %d and %d synthetic x %d (weight %.3g, asked %.3g), synthetic "
             "energies moved by %s eV/atom", info["n_real"], info["copies_real"], info["structures"],
             info["copies_synthetic"], info["weight"], info["weight_requested"], info["energy_offsets_eV_per_atom"])
    return str(path), info


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--settings", type=json_arg, required=True, 
                   help="elements, seed, model, training, as synpre.recipe.resolve makes them (JSON or @file)")
    p.add_argument("--train", required=True, help="extxyz, or NequIP LMDB (*.lmdb, scripts/to_lmdb.py)")
    p.add_argument("--val", required=True, help="extxyz, or NequIP LMDB when --train is")
    p.add_argument("--pretrained", help="checkpoint to fine-tune (omit to train from scratch)")
    p.add_argument("--replay", help="pre-training structures (extxyz) a replay strategy mixes into fine-tuning "
                                    "(settings strategy.replay; synpre.replay)")
    p.add_argument("--keep-epochs", type=int, nargs="*", default=[],
                   help="also publish the weights after these epochs (after-epoch-<K>.ckpt), to fine-tune from")
    p.add_argument("--out-dir", required=True)
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    env = inductor_cache(with_synpre_importable(dict(os.environ, **limit_threads(args.threads))))
    out = Path(args.out_dir).resolve()
    run_dir = out / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    if args.pretrained and not Path(args.pretrained).exists():
        fail(f"pre-trained checkpoint {args.pretrained} does not exist; run its pretrain target first")
    t = args.settings["training"]  # resolved by synpre.recipe: strategy, energy_only and compile applied
    settings, retries = args.settings, int(t.get("divergence_retries", 0))
    replay = (settings.get("strategy") or {}).get("replay")
    if bool(replay) != bool(args.replay) or (replay and not args.pretrained):
        fail("--replay goes with a fine-tuning strategy that has `replay` (and --pretrained), and only with one")
    train, replayed = args.train, None
    if args.pretrained and (refit_mode(settings) == "residual" or replay):
        from synpre.shift_fit import pretrained_offsets, shifts_plus

        old, d = pretrained_offsets(args.pretrained, args.train, settings["elements"])
        offsets = dict(zip(settings["elements"], map(float, d)))
        if refit_mode(settings) == "residual":
            settings = dict(settings, fitted_shifts=shifts_plus(old, d, settings["elements"]))
            log.info("energy shifts fitted to the pre-trained model's residuals on %s: %s", args.train,
                     settings["fitted_shifts"])
        if replay:
            train, replayed = replay_set(args, replay, offsets, run_dir, log)
    for attempt in range(retries + 1):
        proc, wall, resume, cfg_path = run_nequip(settings, args, run_dir, env, log, train)
        diverged = run_dir / "diverged.json"
        if not diverged.exists():
            break
        at = json.loads(diverged.read_text())
        lr = float(settings["training"]["lr"])
        where = (f"training diverged in {run_dir}: {at['what']} at epoch {at['epoch']}, step {at['step']}, "
                 f"with training.lr={lr:g}")
        if attempt == retries:
            fail(f"{where}; lower training.lr (or the strategy's training.lr), or set "
                 "training.divergence_retries to retry with lr x training.divergence_lr_factor")
        lower = lr * float(t.get("divergence_lr_factor", 0.1))
        log.warning("%s: retrying from the start with lr=%g (retry %d of %d)", where, lower, attempt + 1, retries)
        settings = dict(settings, training=dict(settings["training"], lr=lower))
    if proc.returncode == 0 and (run_dir / "best.ckpt").exists():
        (run_dir / "finished.yaml").write_text(cfg_path.read_text())
    monitor = MONITORS[t["monitor"]]
    summary = summarize(read_metrics(run_dir / "csvlog" / "version_0" / "metrics.csv"), monitor)
    if proc.returncode != 0:
        fail(f"nequip-train failed (exit {proc.returncode}) in {run_dir}; see {run_dir / 'train.log'} and this "
             "job's log. Rerunning the target resumes from resume.ckpt")
    best = run_dir / "best.ckpt"
    if not best.exists():
        fail(f"nequip-train finished without writing {best}")
    if summary.get("best_val_monitor") is None or not math.isfinite(summary["best_val_monitor"]):
        fail(f"training diverged (validation {monitor} is NaN/inf) in {run_dir}; lower training.lr")
    if resume and wall == 0.0 and (out / "training.json").exists():  # republished: keep the training's own time
        wall = json.loads((out / "training.json").read_text()).get("wall_seconds", 0.0)
    summary.update(stopped_by=stopped_by(summary, settings["training"]), wall_seconds=round(wall, 1),
                   resumed=resume, lr=float(settings["training"]["lr"]),
                   divergence_retries=attempt, pretrained=args.pretrained, train=args.train,
                   val=args.val, monitor=monitor, threads=args.threads, nequip_config=str(cfg_path),
                   compiled=bool(settings["training"]["compile"]), fitted_shifts=settings.get("fitted_shifts"),
                   replay=replayed)
    for k in args.keep_epochs:
        saved = run_dir / f"epoch-{k - 1}.ckpt"  # Lightning counts epochs from 0
        if not saved.exists():
            fail(f"training stopped after {summary.get('epochs')} epochs, before epoch {k}, whose weights a "
                 f"fine-tuning strategy asks for (finetune.strategies.*.checkpoint: {k}); raise the patience "
                 "of early stopping or choose an earlier epoch")
        with atomic_path(out / f"after-epoch-{k}.ckpt") as tmp:
            shutil.copyfile(saved, tmp)
    with atomic_path(out / "model.ckpt") as tmp:
        shutil.copyfile(best, tmp)
    write_json(out / "training.json", summary)
    log.info("trained in %.0f s: %s", wall, summary)


if __name__ == "__main__":
    main()
