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


def held_out_regions(test) -> list[str]:
    """Per test structure, 'held-out <key>' for the cells that reference.split.test_where sent to the test
    set by an info key other than config_type (a density band, ...), 'in-distribution' for the rest; []
    when no cell was held out that way (config_type regions are already scored apart per config_type)."""
    keys = [a.info.get("held_out") for a in test]
    if not any(k and k != "config_type" for k in keys):
        return []
    return [f"held-out {k}" if k and k != "config_type" else "in-distribution" for k in keys]


def compare(test, preds, remove_offset: bool = False) -> dict:
    """Headline errors of predicted structures against their references, overall and per config_type.

    ``remove_offset`` subtracts the mean per-atom energy difference first (how the paper scores teachers,
    whose isolated-atom references differ from the data's); the offset is reported.
    """
    n = np.array([len(a) for a in test])
    ref_e = np.array([a.get_potential_energy() for a in test])
    pred_e = np.array([a.get_potential_energy() for a in preds])
    offset = float(np.mean((pred_e - ref_e) / n)) if remove_offset else 0.0
    groups = [str(a.info.get("config_type", "all")) for a in test]
    ref_f, pred_f = [a.get_forces() for a in test], [a.get_forces() for a in preds]
    by_type = grouped_errors(groups, pred_e - offset * n, ref_e, n, pred_f, ref_f)
    out = dict(by_type.pop("all"), per_config_type=by_type if len(by_type) > 1 else {})
    regions = held_out_regions(test)
    if regions:
        by_region = grouped_errors(regions, pred_e - offset * n, ref_e, n, pred_f, ref_f)
        by_region.pop("all")
        out["per_held_out"] = by_region
    if remove_offset:
        out.update(energy_offset_eV_per_atom=offset,
                   energy_rmse_raw_meV_per_atom=errors(pred_e, ref_e, n, pred_f, ref_f)["energy_rmse_meV_per_atom"])
    return out
