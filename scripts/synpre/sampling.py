"""Melt -> quench -> anneal -> cool MD that produces the synthetic structures.

One call = one trajectory from one random hard-sphere cell at one (density, anneal temperature) point of
the grid, as in the paper's C-SYNTH-23M (there: C-GAP-17 MD, 200 atoms, snapshots every 1 ps). The
potential that drives the MD need not be the teacher that labels the snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from .structures import min_interatomic_distance, random_cell


@dataclass(frozen=True)
class Stage:
    name: str
    steps: int
    t_start: float
    t_end: float
    record: bool


def mqa_stages(protocol: dict, anneal_temperature: float) -> list[Stage]:
    """The temperature programme: melt hot, quench to 300 K, heat to and hold the anneal T, cool."""
    melt, quench, anneal, cool = (protocol[k] for k in ("melt", "quench", "anneal", "cool"))
    t_melt, t_low = float(melt["temperature"]), float(protocol.get("low_temperature", 300.0))
    ta = float(anneal_temperature)
    return [
        Stage("melt", int(melt["steps"]), t_melt, t_melt, bool(melt.get("record", False))),
        Stage("quench", int(quench["steps"]), t_melt, t_low, bool(quench.get("record", True))),
        Stage("heat", int(anneal.get("heat_steps", 0)), t_low, ta, bool(anneal.get("record", True))),
        Stage("anneal", int(anneal["steps"]), ta, ta, bool(anneal.get("record", True))),
        Stage("cool", int(cool["steps"]), ta, t_low, bool(cool.get("record", True))),
    ]


def frame_problem(atoms: Atoms, min_distance: float) -> str | None:
    """Why a frame must not be used (non-finite positions, atoms too close), or None if it is fine."""
    if not np.all(np.isfinite(atoms.positions)):
        return "non-finite positions"
    d = min_interatomic_distance(atoms)
    if d < min_distance:
        return f"atoms {d:.3f} A apart (< {min_distance} A)"
    return None


def run_mqa(driver_factory, symbols: list[str], density: float, anneal_temperature: float,
            protocol: dict, snapshot_every: int, start_min_distance: float, seed: int,
            info: dict | None = None) -> list[Atoms]:
    """Run one melt-quench-anneal trajectory and return its snapshots (info carries the provenance).

    ``driver_factory(atoms, seed)`` returns an object with set_velocities / run / snapshot / close
    (LammpsMD, or AseMD for teacher-driven sampling).
    """
    rng = np.random.default_rng(seed)
    start = random_cell(symbols, density, start_min_distance, rng)
    md = driver_factory(start, seed)
    frames, step = [], 0
    try:
        md.set_velocities(protocol["melt"]["temperature"])
        for stage in mqa_stages(protocol, anneal_temperature):
            if stage.steps <= 0:
                continue
            if not stage.record:
                md.run(stage.steps, stage.t_start, stage.t_end)
                step += stage.steps
                continue
            n_blocks, rest = divmod(stage.steps, snapshot_every)
            for b in range(n_blocks):
                frac0, frac1 = b / n_blocks, (b + 1) / n_blocks
                t0 = stage.t_start + (stage.t_end - stage.t_start) * frac0
                t1 = stage.t_start + (stage.t_end - stage.t_start) * frac1
                md.run(snapshot_every, t0, t1)
                step += snapshot_every
                snap = md.snapshot()
                snap.info.update(info or {})
                snap.info.update(density=float(density), anneal_T=float(anneal_temperature), seed=int(seed),
                                 step=int(step), stage=stage.name, temperature=float(t1))
                frames.append(snap)
            if rest:
                md.run(rest, stage.t_end, stage.t_end)
                step += rest
    finally:
        md.close()
    return frames


def filter_frames(frames: list[Atoms], min_distance: float) -> tuple[list[Atoms], dict[str, int]]:
    """Drop unusable frames; return the kept ones and a count of each reason for dropping."""
    kept, dropped = [], {}
    for atoms in frames:
        why = frame_problem(atoms, min_distance)
        if why is None:
            kept.append(atoms)
        else:
            key = why.split(" ")[0] if why.startswith("non") else "too close"
            dropped[key] = dropped.get(key, 0) + 1
    return kept, dropped


class AseMD:
    """Langevin MD with any ASE calculator (e.g. the teacher itself), same interface as LammpsMD."""

    def __init__(self, atoms: Atoms, calculator, timestep_fs: float, seed: int, friction_per_fs: float = 0.01):
        from ase import units

        self.atoms = atoms.copy()
        self.atoms.calc = calculator
        self.dt = timestep_fs * units.fs
        self.friction = friction_per_fs / units.fs
        self.rng = np.random.default_rng(seed)

    def set_velocities(self, temperature: float) -> None:
        from ase.md.velocitydistribution import Stationary, thermalize_momenta

        thermalize_momenta(self.atoms, temperature, rng=self.rng)
        Stationary(self.atoms)

    def run(self, steps: int, t_start: float, t_end: float) -> None:
        from ase.md.langevin import Langevin

        dyn = Langevin(self.atoms, self.dt, temperature_K=t_start, friction=self.friction, fixcm=False,
                       rng=self.rng)
        for i in range(int(steps)):
            dyn.set_temperature(temperature_K=t_start + (t_end - t_start) * (i + 1) / steps)
            dyn.run(1)

    def snapshot(self) -> Atoms:
        snap = Atoms(self.atoms.get_chemical_symbols(), positions=self.atoms.positions.copy(),
                     cell=self.atoms.cell.array.copy(), pbc=self.atoms.pbc.copy())
        snap.wrap()
        return snap

    def close(self) -> None:
        self.atoms.calc = None


def run_nvt(md, temperature: float, steps: int, snapshot_every: int, info: dict | None = None) -> list[Atoms]:
    """Plain NVT MD at one temperature from the driver's current structure; a snapshot every
    ``snapshot_every`` steps."""
    frames = []
    md.set_velocities(temperature)
    for block in range(int(steps) // int(snapshot_every)):
        md.run(snapshot_every, temperature, temperature)
        snap = md.snapshot()
        snap.info.update(info or {})
        snap.info.update(temperature=float(temperature), step=int((block + 1) * snapshot_every), stage="nvt")
        frames.append(snap)
    return frames
