"""Parity plots: predicted vs reference per-atom energies and force components."""

from __future__ import annotations

import numpy as np

from .plotting import pyplot


def parity_figure(ref_e_per_atom, pred_e_per_atom, ref_f, pred_f, out_png: str, title: str = "",
                  groups=None) -> None:
    plt = pyplot()

    fig, (ax_e, ax_f) = plt.subplots(1, 2, figsize=(9, 4.2), constrained_layout=True)
    groups = np.asarray(groups if groups is not None else ["all"] * len(ref_e_per_atom))
    for g in sorted(set(groups)):
        m = groups == g
        ax_e.scatter(np.asarray(ref_e_per_atom)[m], np.asarray(pred_e_per_atom)[m], s=10, label=str(g), alpha=0.8)
    ax_f.hexbin(np.ravel(ref_f), np.ravel(pred_f), gridsize=60, bins="log", mincnt=1, cmap="viridis")
    for ax, unit in ((ax_e, "energy (eV/atom)"), (ax_f, "force component (eV/Å)")):
        lo = min(ax.get_xlim()[0], ax.get_ylim()[0])
        hi = max(ax.get_xlim()[1], ax.get_ylim()[1])
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(f"reference {unit}")
        ax.set_ylabel(f"predicted {unit}")
    if len(set(groups)) > 1:
        ax_e.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def parity_from_frames(reference, predicted, out_png: str, title: str = "", energy_offset: float = 0.0) -> None:
    """The parity figure of predictions against reference frames (labels on their calculators), coloured
    by config_type; ``energy_offset`` (eV/atom) is removed from the predictions first."""
    parity_figure([a.get_potential_energy() / len(a) for a in reference],
                  [a.get_potential_energy() / len(a) - energy_offset for a in predicted],
                  np.concatenate([a.get_forces() for a in reference]),
                  np.concatenate([a.get_forces() for a in predicted]), out_png, title=title,
                  groups=[str(a.info.get("config_type", "all")) for a in reference])
