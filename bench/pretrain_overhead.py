#!/usr/bin/env python
"""Benchmark: pre-training through the pipeline (scripts/train.py) against plain nequip-train.

Both train the same model on the same structures for the same epochs with one torch thread:
- pipeline: `scripts/train.py` as the `pretrain` rule runs it (config generation, the resume point
  saved at every epoch start, the per-epoch log line, the divergence guard, the resumable shuffling
  sampler, publishing model.ckpt and training.json);
- raw: `nequip-train` on the same generated config with those four synpre parts taken out (a plain
  shuffled DataLoader), i.e. what a user would write by hand.
Runs alternate (pipeline, raw, pipeline, raw, ...) so that a change of load hits both alike. Prints
wall time, structures/s (training structures x epochs / wall time, start-up included) and the peak
memory of each process tree, then the pipeline's overhead. Prints the machine, the date and the command.

  python bench/pretrain_overhead.py --train results/default/gap-fit/synthetic_pool.xyz \
      --val results/default/gap-fit/synthetic_val.xyz --n 200 --epochs 3 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import header  # noqa: E402

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from synpre.cli import with_synpre_importable  # noqa: E402
from synpre.nequip_config import training_config  # noqa: E402
from synpre.threads import limit_threads  # noqa: E402

SYNPRE_CALLBACKS = ("synpre.resume.ResumePoint", "synpre.progress.EpochProgress", "synpre.progress.DivergenceGuard")


def settings_from(configfile: str, epochs: int) -> dict:
    """The `pretrain` rule's settings for this study config (schema defaults filled), fixed epochs."""
    from synpre.configcheck import fill_defaults, load_schema
    from synpre.recipe import resolve

    cfg = yaml.safe_load(Path(configfile).read_text())
    fill_defaults(cfg, load_schema(str(ROOT / "workflow" / "schemas" / "config.schema.yaml")))
    settings = resolve(cfg, "pretrain")
    settings["training"].update(max_epochs=epochs, early_stopping_patience=epochs + 1)
    return dict(settings, seed=0)


def raw_config(settings: dict, train: str, val: str, run_dir: Path) -> dict:
    """What a user would hand nequip-train: the same config without the pipeline's own parts."""
    cfg = training_config(settings, train, val, str(run_dir))
    cfg["trainer"]["callbacks"] = [c for c in cfg["trainer"]["callbacks"] if c["_target_"] not in SYNPRE_CALLBACKS]
    cfg["data"]["train_dataloader"] = dict(cfg["data"]["val_dataloader"], shuffle=True)
    return cfg


def timed(cmd: list[str], env: dict, cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB of the process and the children it waited for)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", required=True, help="labelled structures (extxyz); the first --n are used")
    p.add_argument("--val", required=True)
    p.add_argument("--configfile", default=str(ROOT / "config" / "config.yaml"), help="model and recipe from here")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    from ase.io import read, write

    env = with_synpre_importable(dict(os.environ, **limit_threads(1)))
    settings = settings_from(args.configfile, args.epochs)
    nequip_train = str(Path(sys.executable).with_name("nequip-train"))
    results = {"pipeline": [], "raw": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train = tmp / "train.xyz"
        frames = read(args.train, f":{args.n}")
        write(train, frames, format="extxyz")
        n_atoms = len(frames[0])
        for k in range(args.repeats):
            out = tmp / f"pipeline-{k}"
            cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), "--settings", json.dumps(settings),
                   "--train", str(train), "--val", args.val, "--threads", "1", "--out-dir", str(out)]
            results["pipeline"].append(timed(cmd, env, tmp))
            run = tmp / f"raw-{k}"
            run.mkdir()
            (run / "config.yaml").write_text(yaml.safe_dump(raw_config(settings, str(train), args.val, run),
                                                            sort_keys=False))
            results["raw"].append(timed([nequip_train, "-cp", str(run), "-cn", "config", f"hydra.run.dir={run}"],
                                        env, run))

    print(header("torch threads 1"))
    print(f"\npre-training, {args.n} structures of {n_atoms} atoms x {args.epochs} epochs, model of "
          f"{Path(args.configfile).name}, {args.repeats} alternating runs each")
    print(f"{'':32}{'wall s (each run)':>26}{'structures/s':>14}{'peak MB':>9}")
    rate = {}
    for name, label in (("raw", "plain nequip-train"), ("pipeline", "scripts/train.py (pretrain rule)")):
        walls = [w for w, _ in results[name]]
        rate[name] = args.n * args.epochs / statistics.median(walls)
        print(f"{label:32}{', '.join(f'{w:.1f}' for w in walls):>26}{rate[name]:>14.2f}"
              f"{max(m for _, m in results[name]):>9.0f}")
    print(f"\npipeline overhead (median wall time): {100 * (rate['raw'] / rate['pipeline'] - 1):+.1f} %")


if __name__ == "__main__":
    main()
