#!/usr/bin/env python
"""Rules `package` and `compile`: a trained model as a file people can use elsewhere.

``--package``: ``nequip-package build`` turns model.ckpt (which still points to its pre-trained parent)
into a self-contained ``model.nequip.zip``. ``--compile``: ``nequip-compile`` (AOTInductor, target ASE)
makes ``model.nequip.pt2`` for faster inference on this machine's kind of CPU/GPU. Either way the
result is loaded from a copy in an empty folder (so nothing of the run folder is used) and must give the
checkpoint's energy and forces on a real structure; ``--report`` writes the comparison (JSON).

Example:
  M=results/default/direct/pretrain-0/finetune-25/scratch/seed-0
  python scripts/export_model.py --model $M/model.ckpt --package $M/model.nequip.zip \
      --check results/default/reference/test.xyz --report $M/model.nequip.zip.json
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from synpre.atomic import write_json
from synpre.cli import fail, parser, setup_logging, with_synpre_importable
from synpre.datasets import read_frames
from synpre.threads import limit_threads


def tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    return str(exe) if exe.exists() else name


def predict(model: str, atoms, device: str):
    from synpre.models import nequip_calculator

    work = atoms.copy()
    work.calc = nequip_calculator(model, device)
    return work.get_potential_energy(), work.get_forces()


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--model", required=True, help="model.ckpt (or a .nequip.zip to compile)")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--package", help="write this .nequip.zip")
    out.add_argument("--compile", help="write this .nequip.pt2 (AOTInductor, target ase)")
    p.add_argument("--check", required=True, help="structures (extxyz) to compare predictions on; first is used")
    p.add_argument("--device", default="cpu")
    p.add_argument("--report", help="also write the check's comparison here (JSON)")
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    limit_threads(args.threads, torch=True)
    target = Path(args.package or args.compile)
    if args.package and not target.name.endswith(".nequip.zip"):
        fail(f"--package {target}: nequip needs the .nequip.zip extension")
    if args.compile and not target.name.endswith(".nequip.pt2"):
        fail(f"--compile {target}: nequip needs the .nequip.pt2 extension for AOTInductor models")
    if args.package:
        cmd = [tool("nequip-package"), "build", args.model]
    else:
        cmd = [tool("nequip-compile"), args.model, "--mode", "aotinductor", "--device", args.device, "--target", "ase"]
    t0 = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    # built under a temporary name beside the target (nequip insists on the extension), then renamed:
    # an interrupted export never leaves a file that looks finished
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        staged = Path(tmp) / target.name
        if args.package:
            # in this process: a second Python with torch and nequip would cost ~8 s per model
            root, handlers = logging.getLogger(), list(logging.getLogger().handlers)
            from nequip.scripts.package import main as nequip_package

            root.handlers[:] = handlers  # its import adds hydra's log handler: keep every line once
            try:
                nequip_package(["build", args.model, str(staged)])
                code = 0
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported with the model's name below
                log.error("nequip-package build %s: %s: %s", args.model, type(exc).__name__, exc)
                code = 1
        else:
            proc = subprocess.run([*cmd[:2], str(staged), *cmd[2:]], capture_output=True, text=True, env=with_synpre_importable(dict(os.environ)))
            sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
            code = proc.returncode
        if code != 0 or not staged.exists():
            fail(f"{Path(cmd[0]).name} failed (exit {code}) on {args.model}; see the log above")
        staged.replace(target)
    seconds = time.perf_counter() - t0
    atoms = read_frames(args.check)[0]
    with tempfile.TemporaryDirectory() as elsewhere:
        moved = Path(elsewhere) / target.name
        shutil.copyfile(target, moved)
        e_ref, f_ref = predict(args.model, atoms, args.device)
        e, f = predict(str(moved), atoms, args.device)
    report = {"model": args.model, "export": str(target), "seconds": round(seconds, 1), "check": args.check,
              "energy_eV": float(e), "energy_ckpt_eV": float(e_ref), "max_force_diff_eV_per_A": float(np.abs(f - f_ref).max())}
    if abs(e - e_ref) > 1e-4 * max(1.0, abs(e_ref)) or report["max_force_diff_eV_per_A"] > 1e-3:
        fail(f"{target} does not reproduce {args.model}: {report}")
    if args.report:
        write_json(args.report, report)
    log.info("exported %s in %.0f s; loads on its own and matches the checkpoint: %s", target, seconds, report)


if __name__ == "__main__":
    main()
