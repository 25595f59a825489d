#!/usr/bin/env python
"""Benchmark: how to spend the cores on training jobs (the `threads:` config).

The same training run (scripts/train.py, as the `direct`/`finetune` rules run it) is done `--jobs`
times, laid out three ways on the machine's cores:
- parallel: all jobs at once, one torch thread each (the default: threads.train = 1);
- serial, 1 thread: one job after another, one thread each (what one core alone does);
- serial, all threads: one job after another, each with as many threads as jobs (fewer, wider jobs).
Prints the wall time of each layout and the training throughput (structures x epochs / wall time,
start-up included), and which layout wins. Prints the machine, the date and the command.

  python bench/thread_layout.py --train results/default/reference/train-25.xyz \
      --val results/default/reference/val.xyz --epochs 3 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import header  # noqa: E402
from pretrain_overhead import ROOT, settings_from  # noqa: E402

from synpre.cli import with_synpre_importable  # noqa: E402


def train_cmd(settings: dict, train: str, val: str, out: Path, threads: int) -> list[str]:
    return [sys.executable, str(ROOT / "scripts" / "train.py"), "--settings", json.dumps(settings), "--train", train,
            "--val", val, "--threads", str(threads), "--out-dir", str(out)]


def run_layout(cmds: list[list[str]], parallel: bool) -> float:
    env = with_synpre_importable(dict(os.environ))
    t0 = time.perf_counter()
    if parallel:
        procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in cmds]
        codes = [p.wait() for p in procs]
    else:
        codes = [subprocess.run(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
                 for c in cmds]
    if any(codes):
        raise SystemExit(f"a training run failed: {cmds}")
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", required=True)
    p.add_argument("--val", required=True)
    p.add_argument("--configfile", default=str(ROOT / "config" / "config.yaml"))
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--jobs", type=int, default=os.cpu_count())
    args = p.parse_args()
    from ase.io import read

    settings = settings_from(args.configfile, args.epochs)
    n = len(read(args.train, ":"))
    work = args.jobs * n * args.epochs
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, threads, parallel in (("parallel, 1 thread each", 1, True),
                                        ("serial, 1 thread", 1, False),
                                        (f"serial, {args.jobs} threads each", args.jobs, False)):
            cmds = [train_cmd(settings, args.train, args.val, Path(tmp) / f"{threads}-{parallel}-{k}", threads)
                    for k in range(args.jobs)]
            wall = run_layout(cmds, parallel)
            rows.append((name, wall, work / wall))

    print(header())
    print(f"\n{args.jobs} training runs of {n} structures x {args.epochs} epochs "
          f"(model of {Path(args.configfile).name})")
    print(f"{'layout':34}{'wall s':>9}{'structures/s':>14}")
    for name, wall, rate in rows:
        print(f"{name:34}{wall:>9.1f}{rate:>14.2f}")
    best = min(rows, key=lambda r: r[1])
    print(f"\nfastest: {best[0]}")


if __name__ == "__main__":
    main()
