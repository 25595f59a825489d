"""The per-type energy shifts of a fine-tuned model, fitted to what the pre-trained model gets wrong.

Each teacher's energies are referenced to its own isolated atom, and the pre-trained network carries the
teacher's energy landscape, not its mean. Re-deriving the shift as the mean per-atom energy of the
fine-tuning data (refit_shift: mean) ignores what the network already predicts, so the fine-tuned
model starts with an energy offset that a few optimiser steps on 10 structures do not remove; selected
on validation forces, it can stop right there. ``residual`` instead keeps the pre-trained shifts and
adds the per-type offset that best explains the pre-trained model's energy errors on the fine-tuning
structures: the zero-shot model with a fitted offset, from which fine-tuning starts. The fit is least
absolute deviations (the median error for one element), not least squares: one structure type the teacher
gets badly wrong (measured: graphite, 0.7 eV/atom off the amorphous cells' offset, one of the 10 cells of
the default study's smallest set) would otherwise shift every prediction by a tenth of that.
"""

from __future__ import annotations

import numpy as np


def shift_module(model):
    """The model's PerTypeScaleShift (nequip 0.19 names it per_type_energy_scale_shift)."""
    for name, module in model.named_modules():
        if name.endswith("per_type_energy_scale_shift"):
            return module
    raise ValueError("the pre-trained model has no per_type_energy_scale_shift module to re-fit")


def residual_offsets(frames, predicted, type_names: list[str]) -> np.ndarray:
    """Per-type offsets d minimising sum_i |r_i / N_i - sum_t n_it d_t / N_i|, with r_i the reference minus
    the predicted energy of structure i and n_it its atoms of type t: the median per-atom error for one
    type, a linear programme for several (minimum-norm least squares where the compositions cannot tell
    the types apart)."""
    counts = np.array([[a.get_chemical_symbols().count(t) for t in type_names] for a in frames], dtype=float)
    n = counts.sum(axis=1)
    residual = np.array([a.get_potential_energy() for a in frames]) - np.asarray(predicted, dtype=float)
    a, y = counts / n[:, None], residual / n
    if len(type_names) == 1:
        return np.array([np.median(y)])
    if np.linalg.matrix_rank(a) < len(type_names):
        d, *_ = np.linalg.lstsq(a, y, rcond=None)
        return d
    from scipy.optimize import linprog

    # variables (d, t): minimise sum t subject to -t <= y - a d <= t
    m, k = a.shape
    cost = np.concatenate([np.zeros(k), np.ones(m)])
    bounds = [(None, None)] * k + [(0, None)] * m
    eye = np.eye(m)
    res = linprog(cost, A_ub=np.block([[-a, -eye], [a, -eye]]), b_ub=np.concatenate([-y, y]), bounds=bounds,
                  method="highs")
    if not res.success:
        raise ValueError(f"refit_shift residual: the offset fit failed ({res.message})")
    return res.x[:k]


def pretrained_offsets(checkpoint: str, train_file: str, type_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(the pre-trained model's per-type shifts, residual_offsets of its predictions on ``train_file``)."""
    import torch

    from .datasets import read_frames
    from .models import nequip_calculator

    calc = nequip_calculator(checkpoint, "cpu")
    frames = read_frames(train_file)
    predicted = []
    for atoms in frames:
        work = atoms.copy()
        work.calc = calc
        predicted.append(work.get_potential_energy())
    with torch.no_grad():
        old = shift_module(calc.model).shifts.detach().cpu().numpy().reshape(-1)
    return np.broadcast_to(old, (len(type_names),)), residual_offsets(frames, predicted, type_names)


def shifts_plus(old, d, type_names: list[str]) -> dict[str, float]:
    """{type: new shift} for modify_PerTypeScaleShift: the pre-trained shifts ``old`` plus the offsets ``d``."""
    return {t: float(s + x) for t, s, x in zip(type_names, old, d)}


def fitted_shifts(checkpoint: str, train_file: str, type_names: list[str]) -> dict[str, float]:
    """The pre-trained shifts plus residual_offsets on ``train_file``."""
    return shifts_plus(*pretrained_offsets(checkpoint, train_file, type_names), type_names)


def offset_energy(atoms, offsets: dict[str, float]) -> float:
    """sum_i offsets[element_i] (eV): what moves one structure's energy from one reference to another."""
    return float(sum(offsets[s] for s in atoms.get_chemical_symbols()))
