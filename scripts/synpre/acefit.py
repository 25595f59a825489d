"""Fitting an ACE teacher with pacemaker (python-ace) on the real training pool, as the paper's ACE
row (an ACE fitted to the same DFT data that fine-tuning later draws from).

pacemaker fits ``energy_corrected``: the isolated-atom referenced label, which is what the training
pool holds. The fitted B-basis YAML is converted to the ``.yace`` (C-tilde) form that both
``PyACECalculator`` and LAMMPS's ``pair_style pace`` read.

Backends: ``pyace`` (scipy BFGS on the CPU; always available with python-ace, slow: use small bases and
few iterations) or ``tensorpot`` (TensorFlow, pacemaker's usual backend; needs ``tensorpotential``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml


def ace_input(settings: dict, elements: list[str], data_file: str) -> dict:
    cutoff = float(settings["cutoff"])
    return {
        "seed": int(settings.get("seed", 0)),
        "data": {"filename": data_file},
        "potential": {
            "deltaSplineBins": 0.001,
            "elements": list(elements),
            "embeddings": {"ALL": {"npot": "FinnisSinclairShiftedScaled", "fs_parameters": [1, 1, 1, 0.5],
                                   "ndensity": 2}},
            "bonds": {"ALL": {"radbase": "SBessel", "radparameters": [5.25], "rcut": cutoff, "dcut": 0.01,
                              "NameOfCutoffFunction": "cos"}},
            "functions": {"number_of_functions_per_element": int(settings.get("n_functions", 30)),
                          "ALL": {"nradmax_by_orders": list(settings.get("nradmax", [8, 4, 2])),
                                  "lmax_by_orders": list(settings.get("lmax", [0, 2, 1]))}},
        },
        "fit": {"loss": {"kappa": float(settings.get("kappa", 0.3)), "L1_coeffs": 1e-8, "L2_coeffs": 1e-8},
                "optimizer": "BFGS", "maxiter": int(settings.get("maxiter", 50))},
        "backend": {"evaluator": settings.get("backend", "pyace"), "batch_size": 100,
                    **({"parallel_mode": "serial"} if settings.get("backend", "pyace") == "pyace" else {})},
    }


def write_dataset(frames, path: Path) -> None:
    import pandas as pd

    rows = []
    for atoms in frames:
        e = float(atoms.get_potential_energy())
        f = atoms.get_forces().copy()
        plain = atoms.copy()
        plain.calc = None
        rows.append({"ase_atoms": plain, "energy": e, "energy_corrected": e, "forces": f.tolist()})
    pd.DataFrame(rows).to_pickle(path, compression="gzip")


def fit_ace(frames, workdir: Path, settings: dict, elements: list[str], log) -> Path:
    """Fit an ACE to ``frames`` (referenced labels) inside ``workdir``; returns the ``.yace`` path."""
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    write_dataset(frames, workdir / "fit_data.pckl.gzip")
    (workdir / "input.yaml").write_text(yaml.safe_dump(ace_input(settings, elements, "fit_data.pckl.gzip")))
    log.info("fitting ACE (pacemaker, %s backend, %d iterations) on %d structures in %s",
             settings.get("backend", "pyace"), int(settings.get("maxiter", 50)), len(frames), workdir)
    # pacemaker's entry points, run with this interpreter so the rule's environment is the one used
    steps = [("pacemaker", "from pyace.cli.pacemaker import main; sys.exit(main())",
              ["input.yaml", "--no-predict"]),
             ("pace_yaml2yace", "from pyace.cli.pace_yaml2yace import main; sys.exit(main())",
              ["output_potential.yaml", "-o", "ace.yace"])]
    for name, code, args in steps:
        with open(workdir / f"{name}.log", "w") as out:
            proc = subprocess.run([sys.executable, "-c", f"import sys; sys.argv[0] = {name!r}; {code}", *args],
                                  stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
        if proc.returncode != 0:
            tail = (workdir / f"{name}.log").read_text()[-2000:]
            raise RuntimeError(f"{name} failed (exit {proc.returncode}); last lines of {workdir / (name + '.log')}:"
                               f"\n{tail}")
    yace = workdir / "ace.yace"
    if not yace.is_file():
        raise RuntimeError(f"pacemaker finished but wrote no {yace}; see {workdir / 'pacemaker.log'}")
    return yace
