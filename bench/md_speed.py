#!/usr/bin/env python
"""Benchmark: MD steps/s of trained models, eager (checkpoint or package) against AOTInductor-compiled.

For each model given, times Langevin MD at 1000 K (synpre.stability.md_speed, as the md_speed config key does) for
--steps steps from the first real test structure, once with the packaged model and once with its compiled form (made
here with nequip-compile if it is missing; the compile time is printed). Prints the machine, the date
and the command. Also summarises steps/s recorded by a study's stability runs (--study).

  python bench/md_speed.py --models results/default/direct/pretrain-0/finetune-25/scratch/seed-0/model.nequip.zip \
      --structures results/default/reference/test.xyz --steps 200
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import header  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))


def md_rate(model: str, atoms, steps: int) -> float:
    from synpre.models import nequip_calculator
    from synpre.stability import md_speed

    return md_speed(atoms, nequip_calculator(model, "cpu"), steps)["md_steps_per_second"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", default=[], help="model.nequip.zip files")
    p.add_argument("--structures", help="start structure (first of the file)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--study", help="results/<study>: summarise the steps/s of its stability runs")
    args = p.parse_args()
    from synpre.threads import limit_threads

    limit_threads(1, torch=True)
    print(header("torch threads 1"))
    if args.models:
        from ase.io import read

        atoms = read(args.structures, 0)
        print(f"\n{len(atoms)} atoms, Langevin at 1000 K, {args.steps} steps after 5 warm-up steps")
        print(f"{'model':70s} {'eager':>9s} {'compiled':>9s} {'speed-up':>8s} {'compile s':>9s}")
        for model in args.models:
            pt2 = Path(model.replace(".nequip.zip", ".nequip.pt2"))
            compile_s = 0.0
            if not pt2.exists():
                t0 = time.perf_counter()
                subprocess.run([sys.executable, str(ROOT / "scripts" / "export_model.py"), "--model", model,
                                "--compile", str(pt2), "--check", args.structures], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                compile_s = time.perf_counter() - t0
            eager, compiled = md_rate(model, atoms, args.steps), md_rate(str(pt2), atoms, args.steps)
            print(f"{model[-70:]:70s} {eager:9.1f} {compiled:9.1f} {compiled / eager:7.2f}x {compile_s:9.0f}")
    if args.study:
        rows = [json.loads(f.read_text()) for f in Path(args.study).rglob("stability-*K.json")
                if f.parent.name.startswith("seed-")]
        print(f"\nstability jobs in {args.study}: {len(rows)}")
        for r in sorted(rows, key=lambda r: (r.get("teacher"), r.get("n_real"), r.get("seed"), r.get("temperature_K"))):
            rates = [x["steps_per_second"] or 0 for x in r["runs"]]
            print(f"  {r.get('teacher')!s:10s} {r.get('strategy')!s:12s} N_real {r.get('n_real')!s:>4s} seed "
                  f"{r.get('seed')} {r['temperature_K']:g} K: {sum(rates) / len(rates):7.1f} steps/s, "
                  f"{r['survived']} of {r['replicas']} replicas survived")


if __name__ == "__main__":
    main()
