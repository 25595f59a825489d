"""Fitting a GAP teacher with quippy's ``gap_fit`` (the paper's situation: C-GAP-17 was fitted to the
same DFT data that fine-tuning later draws from)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ase.io import read, write


def gap_command(train_file: Path, xml: Path, settings: dict, e0: dict[str, float]) -> list[str]:
    s2b, soap = settings["two_body"], settings["soap"]
    cutoff = float(settings["cutoff"])
    desc = [
        f"distance_2b cutoff={cutoff} covariance_type=ard_se delta={s2b['delta']} theta_uniform=1.0 "
        f"n_sparse={s2b['n_sparse']} sparse_method=uniform",
        f"soap cutoff={cutoff} cutoff_transition_width={soap['cutoff_transition_width']} l_max={soap['l_max']} "
        f"n_max={soap['n_max']} atom_sigma={soap['atom_sigma']} zeta={soap['zeta']} delta={soap['delta']} "
        f"n_sparse={soap['n_sparse']} covariance_type=dot_product sparse_method=cur_points",
    ]
    sig = settings["sigma"]
    e0s = ":".join(f"{k}:{v}" for k, v in e0.items())
    return ["gap_fit", f"at_file={train_file}", f"gp_file={xml}", f"e0={{{e0s}}}",
            "energy_parameter_name=gap_energy", "force_parameter_name=gap_forces",
            f"default_sigma={{{sig['energy']} {sig['forces']} 0.0 0.0}}", "sparse_jitter=1e-8",
            f"gap={{{' : '.join(desc)}}}", f"rnd_seed={int(settings.get('seed', 1))}"]


def fit_gap(train_file: Path, workdir: Path, settings: dict, e0: dict[str, float], log) -> Path:
    """Fit a GAP to the labelled structures in ``train_file``; returns the XML path inside ``workdir``.

    Labels are copied into plain info/array keys that gap_fit reads; energies are absolute
    (referenced label + isolated-atom sum), because gap_fit adds ``e0`` back itself.
    """
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    frames = []
    fit_max = settings.get("fit_max")
    for atoms in read(train_file, ":")[: fit_max or None]:
        e = atoms.get_potential_energy() + sum(e0[s] for s in atoms.get_chemical_symbols())
        f = atoms.get_forces().copy()
        atoms.calc = None
        atoms.info["gap_energy"] = e
        atoms.arrays["gap_forces"] = f
        frames.append(atoms)
    fit_xyz = workdir / "fit_data.xyz"
    write(fit_xyz, frames, format="extxyz")
    xml = workdir / "gap.xml"
    if shutil.which("gap_fit") is None:
        raise RuntimeError("gap_fit is not on PATH: install quippy-ase (pip) in the environment running this rule")
    cmd = gap_command(fit_xyz, xml, settings, e0)
    log.info("fitting GAP on %d structures: %s", len(frames), " ".join(cmd))
    with open(workdir / "gap_fit.log", "w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    if proc.returncode != 0 or not xml.exists():
        tail = (workdir / "gap_fit.log").read_text()[-2000:]
        raise RuntimeError(f"gap_fit failed (exit {proc.returncode}); last lines of {workdir / 'gap_fit.log'}:\n{tail}")
    return xml
