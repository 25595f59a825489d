"""Replay fine-tuning: the N_real structures trained on together with some of the pre-training set.

Fine-tuning on a few real structures moves the network away from what it learned in pre-training; replaying
pre-training structures keeps part of it (the strategy users of foundation models fine-tune with, to keep
out-of-distribution accuracy and short-range repulsion). Two things make the mix honest here:

- the synthetic energies are referenced to the teacher's isolated atoms, the real ones to the reference
  method's; a model cannot fit both. Each synthetic energy is moved by sum_t n_t d_t, with d the per-element
  offset that best explains the pre-trained model's errors on the N_real structures (synpre.shift_fit, the
  residual shift re-fit), so both sets speak of one energy reference;
- nequip's loss weighs every structure alike, so a loss weight w of a synthetic structure against a real one
  is realised by repeating structures: each real structure round(1/w) times when w < 1, each synthetic one
  round(w) times otherwise. The weight realised is recorded beside the requested one.
"""

from __future__ import annotations

from .labels import with_labels
from .shift_fit import offset_energy


def repeats(weight: float) -> tuple[int, int]:
    """(copies of each real structure, copies of each synthetic one) that realise ``weight`` best."""
    if weight <= 0:
        raise ValueError(f"replay weight must be > 0, got {weight}")
    if weight < 1:
        return max(1, round(1 / weight)), 1
    return 1, max(1, round(weight))


def mix(real: list, synthetic: list, offsets: dict[str, float], structures: int, weight: float) -> tuple[list, dict]:
    """The training set of a replay run and what it holds: ``real`` plus the first ``structures`` of
    ``synthetic`` (all of them if fewer), synthetic energies moved by ``offsets`` (eV/atom per element)."""
    replayed = synthetic[: int(structures)]
    copies_real, copies_synthetic = repeats(float(weight))
    frames = []
    for atoms in real:
        frames += [_clean(atoms, atoms.get_potential_energy(), "real")] * copies_real
    for atoms in replayed:
        e = atoms.get_potential_energy() + offset_energy(atoms, offsets)
        frames += [_clean(atoms, e, "synthetic")] * copies_synthetic
    info = {"structures_requested": int(structures), "structures": len(replayed), "n_real": len(real),
            "weight_requested": float(weight), "weight": copies_synthetic / copies_real,
            "copies_real": copies_real, "copies_synthetic": copies_synthetic,
            "energy_offsets_eV_per_atom": {k: float(v) for k, v in offsets.items()},
            "training_structures": len(frames)}
    return frames, info


def _clean(atoms, energy: float, source: str):
    """Energy and forces only (stress, where one set has it, would make the two sets' fields differ)."""
    info = {"replay_source": source}
    if "config_type" in atoms.info:
        info["config_type"] = str(atoms.info["config_type"])
    out = with_labels(atoms, energy, atoms.get_forces(), info=info)
    out.info = {k: v for k, v in out.info.items() if k in ("config_type", "replay_source")}
    return out
