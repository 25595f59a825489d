"""Error metrics, as the paper computes them: per-atom energy RMSE (|E_pred - E_ref| / N over
structures) and force component RMSE over all atoms x 3, with MAE alongside."""

from __future__ import annotations

import numpy as np


def errors(pred_e, ref_e, n_atoms, pred_f, ref_f) -> dict:
    de = (np.asarray(pred_e) - np.asarray(ref_e)) / np.asarray(n_atoms)
    df = np.concatenate([np.ravel(p) - np.ravel(r) for p, r in zip(pred_f, ref_f)]) if len(pred_f) else np.zeros(0)
    return {
        "n_structures": int(len(de)),
        "energy_rmse_meV_per_atom": float(1e3 * np.sqrt(np.mean(de**2))),
        "energy_mae_meV_per_atom": float(1e3 * np.mean(np.abs(de))),
        "forces_rmse_eV_per_A": float(np.sqrt(np.mean(df**2))),
        "forces_mae_eV_per_A": float(np.mean(np.abs(df))),
    }


def grouped_errors(groups, pred_e, ref_e, n_atoms, pred_f, ref_f) -> dict:
    """errors() for all structures and per group label (e.g. config_type)."""
    out = {"all": errors(pred_e, ref_e, n_atoms, pred_f, ref_f)}
    for g in sorted(set(groups)):
        idx = [i for i, x in enumerate(groups) if x == g]
        out[str(g)] = errors([pred_e[i] for i in idx], [ref_e[i] for i in idx], [n_atoms[i] for i in idx],
                             [pred_f[i] for i in idx], [ref_f[i] for i in idx])
    return out
