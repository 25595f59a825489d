#!/usr/bin/env python
"""Benchmark: pre-training with training.compile (nequip's train-time torch.compile) against eager.

`scripts/train.py` as the `pretrain` rule runs it, on the same structures, epochs and seed, one torch
thread, three ways:
- compiled, cold: the first compile on a machine (a fresh TORCHINDUCTOR_CACHE_DIR, and a fresh TMPDIR,
  where torch keeps its precompiled headers whatever the cache dir);
- compiled, warm: the same caches again, as every later job on that machine finds them;
- eager.
Warm and eager runs alternate (eager, warm, eager, warm, ...) so that a change of load hits both alike.
Per-epoch times come from the job's own epoch lines (training + validation of that epoch); the steady
epoch time is the median of epochs 2.. for compiled runs and of all epochs for eager ones. The model is
compiled where it first runs, in Lightning's validation sanity check before epoch 1, so the compile is
part of a run's fixed time (wall - epochs x steady epoch: start-up, compile, publishing). The compile
overhead is a compiled run's fixed time less an eager run's, and the break-even is that overhead over
the time saved per epoch, in epochs of --n structures (each with its validation pass). Prints wall
time, structures/s (training structures x epochs / wall, start-up included) and peak memory, and the
machine, the date, the load average and the command.
Needs bench/pretrain_overhead.py beside it (settings_from, timed).

  python bench/train_compile.py --train results/default/gap-fit/synthetic_pool.xyz \
      --val results/default/gap-fit/synthetic_val.xyz --n 200 --epochs 4 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import header  # noqa: E402
from pretrain_overhead import ROOT, settings_from, timed  # noqa: E402  (also puts scripts/ on sys.path)
from synpre.cli import with_synpre_importable  # noqa: E402
from synpre.threads import limit_threads  # noqa: E402

EPOCH_LINE = re.compile(r"^epoch (\d+)/\d+: .*, ([0-9.]+) s$")


def run(settings: dict, compile_: bool, train: Path, val: Path, out: Path, env: dict, tmp: Path) -> dict:
    """One scripts/train.py job; wall and peak memory from `timed`, epoch times from its stderr."""
    settings = dict(settings, training=dict(settings["training"], compile=compile_))
    epochs_log = out.with_suffix(".stderr")
    # `exec` keeps one process (the one `timed` waits for) while sending its stderr to a file
    cmd = ["sh", "-c", 'exec "$@" 2>"$0"', str(epochs_log), sys.executable, str(ROOT / "scripts" / "train.py"),
           "--settings", json.dumps(settings), "--train", str(train), "--val", str(val), "--threads", "1",
           "--out-dir", str(out)]
    wall, peak = timed(cmd, env, tmp)
    epochs = [float(m.group(2)) for line in epochs_log.read_text().splitlines() if (m := EPOCH_LINE.match(line))]
    if not epochs:
        raise SystemExit(f"no epoch lines in {epochs_log}")
    steady = statistics.median(epochs[1:] if compile_ and len(epochs) > 1 else epochs)
    return {"wall": wall, "peak": peak, "epochs": epochs, "steady": steady,
            "fixed": wall - len(epochs) * steady,  # start-up, publishing, and (compiled) the compile
            "summary": json.loads((out / "training.json").read_text())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", required=True, help="labelled structures (extxyz); the first --n are used")
    p.add_argument("--val", required=True)
    p.add_argument("--n-val", type=int, help="use only the first N validation structures (default all, as the rule)")
    p.add_argument("--configfile", default=str(ROOT / "config" / "config.yaml"), help="model and recipe from here")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--epochs", type=int, default=4, help=">= 2 for the break-even (a steady compiled epoch time)")
    p.add_argument("--repeats", type=int, default=2, help="warm-compiled and eager runs each")
    args = p.parse_args()
    from ase.io import read, write

    settings = settings_from(args.configfile, args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train, val = tmp / "train.xyz", tmp / "val.xyz"
        frames = read(args.train, f":{args.n}")
        write(train, frames, format="extxyz")
        write(val, read(args.val, f":{args.n_val}" if args.n_val else ":"), format="extxyz")
        n_val, n_atoms = len(read(val, ":")), len(frames[0])
        caches = {"TORCHINDUCTOR_CACHE_DIR": str(tmp / "inductor"), "TMPDIR": str(tmp / "tmpdir")}
        (tmp / "tmpdir").mkdir()
        env = with_synpre_importable(dict(os.environ, **limit_threads(1), **caches))
        cold = run(settings, True, train, val, tmp / "cold", env, tmp)
        warm, eager = [], []
        for k in range(args.repeats):
            eager.append(run(settings, False, train, val, tmp / f"eager-{k}", env, tmp))
            warm.append(run(settings, True, train, val, tmp / f"warm-{k}", env, tmp))

    import torch

    print(header(f"torch {torch.__version__}, threads 1"))
    print(f"\npre-training, {args.n} structures of {n_atoms} atoms (+ {n_val} validation) x {args.epochs} epochs, "
          f"model of {Path(args.configfile).name}; 1 cold compiled run, then {args.repeats} eager and "
          f"{args.repeats} warm compiled runs alternating")
    print(f"{'':22}{'wall s (each run)':>24}{'structures/s':>14}{'fixed s':>9}{'epoch 1 s':>11}{'epochs 2.. s':>14}"
          f"{'peak MB':>9}")
    rows = (("compiled, cold cache", [cold]), ("compiled, warm cache", warm), ("eager", eager))
    for label, runs in rows:
        rate = args.n * args.epochs / statistics.median(r["wall"] for r in runs)
        later = [e for r in runs for e in r["epochs"][1:]]
        walls = ", ".join(f"{r['wall']:.1f}" for r in runs)
        later_s = f"{statistics.median(later):.1f}" if later else "-"
        print(f"{label:22}{walls:>24}{rate:>14.2f}{statistics.median(r['fixed'] for r in runs):>9.1f}"
              f"{statistics.median(r['epochs'][0] for r in runs):>11.1f}"
              f"{later_s:>14}{max(r['peak'] for r in runs):>9.0f}")
    for label, runs in rows[:2]:
        delta = [abs(r["summary"]["best_val_monitor"] / e["summary"]["best_val_monitor"] - 1) for r in runs for e in eager]
        print(f"{label}: best validation monitor differs from eager's by {max(delta):.1e} (relative)")

    if args.epochs < 2:
        print("\nbreak-even: needs --epochs >= 2 (a steady compiled epoch time)")
        return
    t_eager = statistics.median(r["steady"] for r in eager)
    t_warm = statistics.median(r["steady"] for r in warm)
    fixed_eager = statistics.median(r["fixed"] for r in eager)
    print(f"\nsteady epoch: eager {t_eager:.1f} s, compiled {t_warm:.1f} s "
          f"({t_eager / t_warm:.2f}x, {args.n / t_eager:.2f} vs {args.n / t_warm:.2f} training structures/s)")
    for label, runs in (("cold", [cold]), ("warm", warm)):
        overhead = statistics.median(r["fixed"] for r in runs) - fixed_eager
        if t_warm >= t_eager:
            print(f"compile overhead, {label} cache: {overhead:.0f} s; compiled epochs are not faster: no break-even")
            continue
        epochs = overhead / (t_eager - t_warm)
        print(f"compile overhead, {label} cache: {overhead:.0f} s; break-even after {epochs:.1f} epochs of "
              f"{args.n} structures (~{epochs * args.n:.0f} structure passes, each epoch with its validation)")


if __name__ == "__main__":
    main()
