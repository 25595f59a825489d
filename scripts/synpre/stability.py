"""MD stability of a potential: replicas of a heat-and-hold protocol, with alarms calibrated so that the
teacher's own MD and the reference data never fire them.

The protocol (config ``stability``), run once per hold temperature T and replica r:

- start from a quenched real test cell: the test cells of ``start.config_type`` that ``start.where``
  selects (e.g. ``temperature: {max: 300}``), ``replicas`` of them spread evenly through that pool in
  file order (a pool smaller than ``replicas`` is cycled, with different velocities);
- draw velocities at ``t_start`` and run Langevin NVT (friction ``friction_per_ps``; momentum kept at
  zero) while the target temperature rises linearly at ``ramp_rate_K_per_ps`` to T, then hold T for
  ``hold_ps``. Velocities and the thermostat's noise come from one generator seeded by (seed, r, T);
- every ``check_every`` steps, check Zheng & Fung's alarms:

  - ``non_finite``: energy or forces are NaN/inf (or the calculator raised);
  - ``energy_band``: the total energy per atom left [E_start - band, E_start + band];
  - ``min_distance``: two atoms came closer than the threshold (A);
  - ``max_force``: the largest per-atom force norm exceeded the threshold (eV/A).

The first alarm ends a run; its time and name are recorded. The thresholds are calibrated
(:func:`calibrate`): each is the config's value, loosened where needed so that the calibration sources sit
inside it by ``alarm_margin``: the largest force of the real training cells of the start config_type (so
rattled crystals of another type do not set it), and, with ``calibration: teacher``, the extremes of the
teacher's own MD under the same protocol (rule ``teacher_stability``, which runs with no alarm but
``non_finite``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms, units

from .structures import min_interatomic_distance

ALARMS = ("non_finite", "energy_band", "min_distance", "max_force")


class ProtocolError(ValueError):
    """An MD protocol that cannot be run: the message names the config key."""


def temperature_tag(t: float) -> str:
    """A hold temperature as it appears in file names and the ``temperature`` wildcard: 1000, 1500.5."""
    return f"{float(t):g}"


def check_protocol(p: dict, key: str = "stability") -> None:
    temps = [float(t) for t in p["temperatures"]]
    if p["t_start"] <= 0 or min(temps) <= 0:
        raise ProtocolError(f"config {key}.temperatures / t_start: temperatures must be > 0 K (got t_start "
                            f"{p['t_start']}, temperatures {p['temperatures']})")
    if len({temperature_tag(t) for t in temps}) != len(temps):
        raise ProtocolError(f"config {key}.temperatures: {p['temperatures']} names a temperature twice")
    if not 0 < p["timestep_fs"] <= 5:
        raise ProtocolError(f"config {key}.timestep_fs: {p['timestep_fs']} fs is outside (0, 5] fs, where MD "
                            "of atoms (hydrogen included at <= 1 fs) stays meaningful")


def ramp_ps(p: dict, t_hold: float) -> float:
    """Length of the ramp from t_start to the hold temperature at ramp_rate_K_per_ps."""
    return abs(float(t_hold) - float(p["t_start"])) / float(p["ramp_rate_K_per_ps"])


def protocol_steps(p: dict, t_hold: float) -> tuple[int, int]:
    """(ramp steps, hold steps) of one run at hold temperature ``t_hold``."""
    dt = float(p["timestep_fs"])
    return int(round(ramp_ps(p, t_hold) * 1000 / dt)), int(round(float(p["hold_ps"]) * 1000 / dt))


def start_cells(frames: list[Atoms], start: dict, replicas: int) -> list[tuple[int, Atoms]]:
    """(index in ``frames``, cell) of every replica's start: the cells of ``start.config_type`` (None: any)
    that ``start.where`` selects, ``replicas`` of them spread evenly through that pool in file order; a pool
    smaller than ``replicas`` is cycled. Raises ProtocolError when the pool is empty."""
    from .reference import matches

    ct, where = start.get("config_type"), start.get("where")
    pool = [(i, a) for i, a in enumerate(frames)
            if (ct is None or a.info.get("config_type") == ct) and (not where or matches(a, where))]
    if not pool:
        raise ProtocolError(f"no test structure of config_type {ct!r}{f' selected by {where}' if where else ''} to "
                            "start the stability MD from; set stability.start.config_type (null: any) or "
                            "stability.start.where")
    if replicas <= len(pool):
        picks = np.round(np.linspace(0, len(pool) - 1, replicas)).astype(int) if replicas > 1 else [0]
    else:
        picks = [i % len(pool) for i in range(replicas)]
    return [pool[int(i)] for i in picks]


def replica_rng(seed: int, replica: int, t_hold: float) -> np.random.Generator:
    """The one generator of a run's velocities and thermostat noise: a different stream per replica and
    per hold temperature."""
    return np.random.default_rng([int(seed), int(replica), int(round(float(t_hold) * 1000))])


@dataclass
class Alarms:
    """Thresholds of one protocol; ``check`` names the first alarm a state fires (or None)."""

    energy_band: float = float("inf")
    min_distance: float = 0.0
    max_force: float = float("inf")

    def check(self, finite: bool, drift: float, d_min: float, f_max: float) -> str | None:
        if not finite:
            return "non_finite"
        if abs(drift) > self.energy_band:
            return "energy_band"
        if d_min < self.min_distance:
            return "min_distance"
        if f_max > self.max_force:
            return "max_force"
        return None


def largest_force(frames: list[Atoms], config_type: str | None = None) -> tuple[float, int]:
    """(the largest per-atom force norm, cells it was taken over) of the cells of ``config_type``
    (all cells where None, or where no cell has that type)."""
    cells = [a for a in frames if config_type is None or a.info.get("config_type") == config_type] or list(frames)
    if not cells:
        return float("nan"), 0
    return float(max(np.linalg.norm(a.get_forces(), axis=1).max() for a in cells)), len(cells)


def calibrate(p: dict, training: list[Atoms] | None = None, teacher_runs: list[dict] | None = None) -> dict:
    """The alarm thresholds of the protocol ``p`` and where each comes from.

    - ``max_force``: ``alarm_margin`` x the largest of (the largest per-atom force of the real training
      cells of the start config_type, the largest force of the teacher's runs); inf without either;
    - ``energy_band``: the config's band, widened to ``alarm_margin`` x the teacher's largest drift;
    - ``min_distance``: the config's distance, lowered to the teacher's closest approach / ``alarm_margin``.

    Teacher runs that ended on ``non_finite`` are not used (their extremes mean nothing)."""
    margin = float(p["alarm_margin"])
    runs = [r for r in (teacher_runs or []) if r.get("alarm") is None or not str(r["alarm"]).startswith("non_finite")]
    out = {"margin": margin, "teacher_runs": len(runs), "sources": {}}
    forces = {}
    if training:
        f, n = largest_force(training, (p.get("start") or {}).get("config_type"))
        if np.isfinite(f):
            forces["training cells"] = f
            out["training_cells"], out["training_max_force"] = n, f
    if runs:
        forces["teacher MD"] = max(r["extremes"]["max_force"] for r in runs)
        out["teacher_max_force"] = forces["teacher MD"]
    if forces:
        source = max(forces, key=forces.get)
        out["max_force"], out["sources"]["max_force"] = margin * forces[source], f"{margin:g} x {source}"
    else:
        out["max_force"], out["sources"]["max_force"] = float("inf"), "none (no training cells, no teacher MD)"
    out["energy_band"], out["sources"]["energy_band"] = float(p["energy_band"]), "config"
    out["min_distance"], out["sources"]["min_distance"] = float(p["min_distance"]), "config"
    if runs:
        drift = max(r["extremes"]["max_energy_drift"] for r in runs)
        closest = min(r["extremes"]["min_distance"] for r in runs)
        out["teacher_max_energy_drift"], out["teacher_min_distance"] = drift, closest
        if margin * drift > out["energy_band"]:
            out["energy_band"], out["sources"]["energy_band"] = margin * drift, f"{margin:g} x teacher MD"
        if closest / margin < out["min_distance"]:
            out["min_distance"], out["sources"]["min_distance"] = closest / margin, f"teacher MD / {margin:g}"
    return out


def alarms_from(calibration: dict) -> Alarms:
    return Alarms(calibration["energy_band"], calibration["min_distance"], calibration["max_force"])


def fired(run: dict, alarms: Alarms) -> str | None:
    """The alarm a finished run's extremes would fire under ``alarms`` (its own alarm if it stopped)."""
    if run.get("alarm"):
        return run["alarm"]
    x = run["extremes"]
    return alarms.check(True, x["max_energy_drift"], x["min_distance"], x["max_force"])


def leave_one_out(p: dict, training: list[Atoms] | None, runs: list[dict]) -> dict:
    """How calibrated thresholds generalise to a run they were not calibrated on: for each teacher run,
    thresholds from the training cells and the other runs, and whether this run fires them."""
    hits = []
    for i, run in enumerate(runs):
        alarm = fired(run, alarms_from(calibrate(p, training, runs[:i] + runs[i + 1:])))
        if alarm:
            hits.append({"replica": run["replica"], "alarm": alarm})
    return {"runs": len(runs), "would_alarm": len(hits), "alarms": hits}


@dataclass
class StabilityRun:
    replica: int
    t_hold: float
    ramp_steps: int
    steps_total: int
    timestep_fs: float
    alarm: str | None = None
    alarm_step: int | None = None
    rows: list = field(default_factory=list)
    frames: list = field(default_factory=list)
    extremes: dict = field(default_factory=lambda: {"max_force": 0.0, "min_distance": float("inf"),
                                                    "max_energy_drift": 0.0})
    seconds: float = 0.0

    def summary(self) -> dict:
        ps = self.timestep_fs / 1000
        last = self.alarm_step if self.alarm else self.steps_total
        return {"replica": self.replica, "temperature_K": self.t_hold, "survived": self.alarm is None,
                "alarm": self.alarm, "time_to_failure_ps": None if self.alarm is None else self.alarm_step * ps,
                "failed_in": None if self.alarm is None else ("ramp" if self.alarm_step < self.ramp_steps else "hold"),
                "simulated_ps": last * ps, "protocol_ps": self.steps_total * ps, "ramp_ps": self.ramp_steps * ps,
                "extremes": dict(self.extremes),
                "steps_per_second": last / self.seconds if self.seconds else None}


def run_stability(atoms: Atoms, calc, p: dict, t_hold: float, alarms: Alarms, rng: np.random.Generator,
                  replica: int = 0, log=None) -> StabilityRun:
    """One run of the protocol at hold temperature ``t_hold``: ramp, hold, alarms checked every
    ``check_every`` steps; extremes (largest force, closest approach, largest drift) over every check."""
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    atoms = atoms.copy()
    atoms.calc = calc
    atoms.set_constraint(FixCom())  # momentum kept at zero, as the paper's runs (ASE's way since 3.28)
    dt, t0_K = float(p["timestep_fs"]), float(p["t_start"])
    ramp, hold = protocol_steps(p, t_hold)
    every = int(p["check_every"])
    run = StabilityRun(replica=replica, t_hold=float(t_hold), ramp_steps=ramp, steps_total=ramp + hold, timestep_fs=dt)
    thermalize_momenta(atoms, t0_K, rng=rng)
    Stationary(atoms)
    dyn = Langevin(atoms, dt * units.fs, temperature_K=t0_K, friction=p["friction_per_ps"] / (1000 * units.fs),
                   fixcm=False, rng=rng)
    n = len(atoms)
    e_start = None
    t0, step = time.perf_counter(), 0
    while step < run.steps_total:
        if e_start is not None:
            for _ in range(min(every, run.steps_total - step)):
                target = t0_K + (t_hold - t0_K) * min(1.0, (step + 1) / max(ramp, 1))
                dyn.set_temperature(temperature_K=target)
                dyn.run(1)
                step += 1
        try:
            e_pot = float(atoms.get_potential_energy())
            forces = atoms.get_forces()
        except Exception as exc:  # a model that produces garbage may also raise inside the calculator
            run.alarm, run.alarm_step = f"non_finite ({type(exc).__name__})", step
            break
        finite = bool(np.isfinite(e_pot) and np.all(np.isfinite(forces)))
        e_tot = (e_pot + atoms.get_kinetic_energy()) / n
        e_start = e_tot if e_start is None else e_start
        d_min = min_interatomic_distance(atoms)
        f_norm = float(np.linalg.norm(forces, axis=1).max()) if finite else float("inf")
        phase = "ramp" if step < ramp else "hold"
        row = {"replica": replica, "step": step, "time_ps": step * dt / 1000, "phase": phase,
               "target_K": t0_K + (t_hold - t0_K) * min(1.0, step / max(ramp, 1)),
               "temperature_K": atoms.get_temperature(), "e_pot_per_atom": e_pot / n, "e_tot_per_atom": e_tot,
               "min_distance": d_min, "max_force": f_norm}
        run.rows.append(row)
        alarm = alarms.check(finite, e_tot - e_start, d_min, f_norm)
        if finite:
            x = run.extremes
            x["max_force"], x["min_distance"] = max(x["max_force"], f_norm), min(x["min_distance"], d_min)
            x["max_energy_drift"] = max(x["max_energy_drift"], abs(e_tot - e_start))
        if step % max(every, int(p["record_every"])) == 0 or alarm:
            snap = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions.copy(), cell=atoms.cell.array.copy(),
                         pbc=atoms.pbc.copy())
            snap.info.update(replica=replica, step=step, time_ps=row["time_ps"], phase=phase,
                             temperature_K=row["temperature_K"], target_K=row["target_K"])
            run.frames.append(snap)
        if log and step % (10 * every) == 0:
            log.info("replica %d, step %d/%d (%.2f ps, %s, %.0f K): E_tot %.3f eV/atom, d_min %.2f A, "
                     "F_max %.1f eV/A, %.1f steps/s", replica, step, run.steps_total, row["time_ps"], phase,
                     row["temperature_K"], e_tot, d_min, f_norm, step / max(time.perf_counter() - t0, 1e-9))
        if alarm:
            run.alarm, run.alarm_step = alarm, step
            break
    run.seconds = time.perf_counter() - t0
    return run


def md_speed(atoms: Atoms, calc, steps: int, warmup: int = 5, temperature: float = 1000.0, seed: int = 0) -> dict:
    """MD steps per second of a potential, measured one way for every model and teacher (config md_speed,
    bench/md_speed.py): Langevin MD at ``temperature`` (1 fs, friction 0.01/fs, momentum fixed at zero) from
    ``atoms``; ``warmup`` steps first (neighbour list, first call, lazy set-up), then ``steps`` timed steps."""
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    work = atoms.copy()
    work.calc = calc
    work.set_constraint(FixCom())
    rng = np.random.default_rng(seed)
    thermalize_momenta(work, temperature, rng=rng)
    Stationary(work)
    dyn = Langevin(work, units.fs, temperature_K=temperature, friction=0.01 / units.fs, fixcm=False, rng=rng)
    dyn.run(int(warmup))
    t0 = time.perf_counter()
    dyn.run(int(steps))
    seconds = time.perf_counter() - t0
    return {"md_steps_per_second": int(steps) / seconds if seconds > 0 else None, "md_steps": int(steps),
            "md_warmup_steps": int(warmup), "md_atoms": len(work), "md_temperature_K": float(temperature),
            "md_seconds": seconds}
