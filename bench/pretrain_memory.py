#!/usr/bin/env python
"""Benchmark: peak memory of pre-training as N_synth grows 10x, with the synthetic sets read from extxyz
(nequip's ASEDataModule: every structure in memory) and from NequIP LMDB (config synthetic_storage: lmdb).

The structures are cheap stand-ins, not teacher-labelled: the shipped 64-atom carbon cells
(data/carbon-gfn1-64.extxyz.gz) cycled to N, each copy rattled by 0.01 A with its cell's GFN1-xTB energy,
forces and stress copied unchanged. Shapes, sizes and file formats are those of a real labelled set, which
is all that memory depends on. The validation set (40 structures) is the same for every N.

Each run is the nequip-train job the pretrain rule starts (the config from synpre.nequip_config with the
default study's model and pre-training recipe), cut to one epoch of --batches training batches; the
statistics pass still covers the whole training set, as in a real run. The LMDB conversion
(scripts/to_lmdb.py, rule synthetic_lmdb) is measured as its own job. Runs one after another, 1 thread.

Columns: peak RSS of the job's main process (the kernel's VmHWM), the peak of its process tree's
proportional set size (PSS, sampled every 0.1 s; shared pages counted once, includes the statistics
pass's loader worker) and of its anonymous part (the memory the job holds; the rest is the mapped files,
which the kernel can drop), and the wall time.

  python bench/pretrain_memory.py --n 1000 10000
"""

from __future__ import annotations

import argparse
import os
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
from synpre.configcheck import fill_defaults, load_schema  # noqa: E402
from synpre.nequip_config import training_config  # noqa: E402
from synpre.recipe import resolve  # noqa: E402
from synpre.threads import limit_threads  # noqa: E402


def fake_set(path: Path, n: int, seed: int) -> None:
    """n rattled copies of the shipped carbon cells with copied labels, written in chunks (never all in memory)."""
    import numpy as np
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import read, write

    cells = read(ROOT / "data" / "carbon-gfn1-64.extxyz.gz", ":")
    rng = np.random.default_rng(seed)
    path.unlink(missing_ok=True)
    chunk = []
    for i in range(n):
        src = cells[i % len(cells)]
        a = src.copy()
        a.positions += rng.normal(0, 0.01, a.positions.shape)
        a.calc = SinglePointCalculator(a, **{k: src.calc.results[k] for k in ("energy", "forces", "stress")})
        chunk.append(a)
        if len(chunk) == 500 or i == n - 1:
            write(path, chunk, format="extxyz", append=True)
            chunk = []


def tree(pid: int) -> list[int]:
    kids = []
    try:
        for line in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            kids += tree(int(line))
    except OSError:
        pass
    return [pid] + kids


def pss(pid: int) -> tuple[int, int]:
    """(Pss, Pss_Anon) of one process in kB."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
    except (OSError, ValueError):
        return 0, 0
    return int(fields["Pss"].split()[0]), int(fields.get("Pss_Anon", "0 kB").split()[0])


def measure(cmd: list[str], env: dict, cwd: Path, log: Path) -> dict:
    """Run cmd; peak main-process RSS (VmHWM), peak tree PSS and anonymous PSS (sampled), wall time."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
    hwm = peak_pss = peak_anon = 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            hwm = max(hwm, int(status.split("VmHWM:")[1].split()[0]))
        except (OSError, IndexError):
            pass
        sizes = [pss(p) for p in tree(proc.pid)]
        peak_pss = max(peak_pss, sum(s[0] for s in sizes))
        peak_anon = max(peak_anon, sum(s[1] for s in sizes))
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}); see {log}")
    return {"rss": hwm / 1024, "pss": peak_pss / 1024, "anon": peak_anon / 1024, "wall": wall}


def settings(config: dict) -> dict:
    """The default study's pre-training settings (synpre.recipe.resolve: training, overridden by pretraining),
    one epoch."""
    resolved = resolve(config, "pretrain")
    resolved["training"]["max_epochs"] = 1
    return dict(resolved, seed=0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, nargs="+", default=[1000, 10000], help="N_synth values")
    p.add_argument("--batches", type=int, default=20, help="training batches of the one epoch")
    p.add_argument("--work", help="folder for the data and runs (default: a temporary one)")
    args = p.parse_args()
    env = with_synpre_importable(dict(os.environ, **limit_threads(1)))
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    fill_defaults(config, load_schema(str(ROOT / "workflow" / "schemas" / "config.schema.yaml")))
    nequip_train = str(Path(sys.executable).with_name("nequip-train"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        fake_set(work / "val.xyz", 40, seed=1)
        to_lmdb = [sys.executable, str(ROOT / "scripts" / "to_lmdb.py")]
        measure([*to_lmdb, "--xyz", str(work / "val.xyz"), "--out", str(work / "val.lmdb")], env, work,
                work / "val-lmdb.log")
        for n in args.n:
            fake_set(work / f"train-{n}.xyz", n, seed=0)
            rows.append((n, "to_lmdb.py (rule synthetic_lmdb)", measure(
                [*to_lmdb, "--xyz", str(work / f"train-{n}.xyz"), "--out", str(work / f"train-{n}.lmdb")], env,
                work, work / f"lmdb-{n}.log")))
            for kind in ("xyz", "lmdb"):
                run = work / f"run-{kind}-{n}"
                run.mkdir(exist_ok=True)
                cfg = training_config(settings(config), str(work / f"train-{n}.{kind}"), str(work / f"val.{kind}"),
                                      str(run))
                cfg["trainer"]["limit_train_batches"] = args.batches
                (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
                name = "pre-training from " + ("extxyz (ASEDataModule)" if kind == "xyz" else "LMDB (NequIPLMDBDataset)")
                rows.append((n, name, measure([nequip_train, "-cp", str(run), "-cn", "config", f"hydra.run.dir={run}"],
                                              env, run, run / "job.log")))
        sizes = {n: ((work / f"train-{n}.xyz").stat().st_size / 1e6,
                     (work / f"train-{n}.lmdb").stat().st_blocks * 512 / 1e6) for n in args.n}

    print(header("torch threads 1"))
    print(f"\n64-atom carbon cells (rattled copies of the shipped reference cells, labels copied), 40 validation "
          f"structures;\none epoch cut to {args.batches} training batches of {config['training']['batch_size']}, "
          f"statistics pass over the whole training set; model of config/config.yaml")
    for n in args.n:
        print(f"N_synth {n}: extxyz {sizes[n][0]:.1f} MB, LMDB {sizes[n][1]:.1f} MB on disk")
    print(f"\n{'N_synth':>7s}  {'job':40s} {'peak RSS MB':>11s} {'peak PSS MB':>11s} {'anon MB':>8s} {'wall s':>7s}")
    for n, name, m in sorted(rows, key=lambda r: (r[1], r[0])):
        print(f"{n:7d}  {name:40s} {m['rss']:11.0f} {m['pss']:11.0f} {m['anon']:8.0f} {m['wall']:7.1f}")
    print("\ngrowth from the smallest to the largest N_synth (peak RSS):")
    for name in dict.fromkeys(r[1] for r in rows):
        ms = [m for n, nm, m in sorted(rows, key=lambda r: r[0]) if nm == name]
        print(f"  {name:40s} {ms[-1]['rss'] - ms[0]['rss']:+7.0f} MB ({ms[-1]['rss'] / ms[0]['rss']:.2f}x)")


if __name__ == "__main__":
    main()
