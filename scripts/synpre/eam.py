"""An EAM potential fitted to the real training pool (Zheng & Fung's physics-informed teacher).

Functional form, per element a (embedding, density) and element pair ab (pair term):

    E = sum_i F_a(rho_i) + 1/2 sum_{i != j} phi_ab(r_ij),   rho_i = sum_j f_b(r_ij)
    phi_ab(r) = D [exp(-2 alpha (r - r0)) - 2 exp(-alpha (r - r0))] fc(r)     (Morse)
    f_b(r)    = A exp(-beta (r - r0_bb)) fc(r)                                 (exponential density)
    F_a(rho)  = c1 rho + c2 rho^2                                             (quadratic embedding)
    fc(r)     = [1 + cos(pi r / r_c)] / 2 for r < r_c, else 0                 (smooth cutoff)

Each pair's r0 starts at ``eam.r0`` if given, else at the typical nearest-neighbour distance of that
element pair in the fitting data (:func:`nearest_neighbour_r0`), so no element's bond length is assumed.
The parameters are fitted by gradient descent (Adam, torch autograd) on per-atom energies and forces,
then tabulated into a LAMMPS ``eam/alloy`` setfl file that ASE's EAM calculator (and LAMMPS) read.
A free atom has zero energy, matching labels referenced to isolated atoms.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
from ase.data import atomic_masses, atomic_numbers
from ase.neighborlist import neighbor_list


class EAMFitError(RuntimeError):
    pass


def _softplus_inv(x: float) -> float:
    return math.log(math.expm1(x))


class _Graph:
    """All training structures as one batch of pairs, positions kept differentiable."""

    def __init__(self, frames, elements, cutoff, torch):
        pos, species, pair_i, pair_j, shift, owner, e_ref, n_atoms, f_ref = [], [], [], [], [], [], [], [], []
        offset = 0
        for k, atoms in enumerate(frames):
            i, j, d = neighbor_list("ijD", atoms, cutoff)
            p = atoms.get_positions()
            pos.append(p)
            species.append([elements.index(s) for s in atoms.get_chemical_symbols()])
            pair_i.append(i + offset)
            pair_j.append(j + offset)
            shift.append(d - (p[j] - p[i]))  # lattice translation of each pair, held fixed
            owner.append(np.full(len(atoms), k))
            e_ref.append(atoms.get_potential_energy())
            n_atoms.append(len(atoms))
            f_ref.append(atoms.get_forces())
            offset += len(atoms)
        t = lambda a, dt=torch.float64: torch.tensor(np.concatenate(a) if isinstance(a, list) else a, dtype=dt)
        self.pos = t(pos).requires_grad_(True)
        self.species = t(species, torch.long)
        self.i, self.j = t(pair_i, torch.long), t(pair_j, torch.long)
        self.shift = t(shift)
        self.owner = t(owner, torch.long)
        self.e_ref = torch.tensor(e_ref, dtype=torch.float64)
        self.n_atoms = torch.tensor(n_atoms, dtype=torch.float64)
        self.f_ref = t(f_ref)
        self.n_structures = len(frames)


def element_pairs(n_elements: int) -> list[tuple[int, int]]:
    """The element pairs (a <= b) of an EAM, in the order of its pair parameters and setfl tables."""
    return list(itertools.combinations_with_replacement(range(n_elements), 2))


def nearest_neighbour_r0(frames, elements: list[str], cutoff: float) -> list[float]:
    """Initial Morse r0 of each element pair (element_pairs order): the median, over the atoms of one
    element that have a neighbour of the other within ``cutoff`` (minimum image, periodic cells
    included), of the distance to the nearest such neighbour. A pair never found within the cutoff
    starts at the median of the other pairs."""
    pairs = element_pairs(len(elements))
    nearest = {pair: [] for pair in pairs}
    for atoms in frames:
        i, j, d = neighbor_list("ijd", atoms, cutoff)
        z = np.array([elements.index(s) for s in atoms.get_chemical_symbols()])
        for a, b in pairs:
            for x, y in {(a, b), (b, a)}:  # atoms of x, nearest neighbour of y
                sel = (z[i] == x) & (z[j] == y)
                closest = np.full(len(atoms), np.inf)
                np.minimum.at(closest, i[sel], d[sel])
                nearest[(a, b)].extend(closest[np.isfinite(closest)])
    found = [float(np.median(v)) for v in nearest.values() if v]
    if not found:
        raise EAMFitError(f"no two atoms of the fitting data are within eam.cutoff={cutoff} A; raise eam.cutoff "
                          "or give eam.r0")
    fallback = float(np.median(found))
    return [float(np.median(nearest[pair])) if nearest[pair] else fallback for pair in pairs]


class EAMModel:
    def __init__(self, elements: list[str], cutoff: float, torch, r0: float | list[float] = 1.5):
        """``r0``: the initial Morse bond length (A), one for every element pair or one per pair."""
        self.torch, self.elements, self.cutoff = torch, list(elements), float(cutoff)
        n = len(elements)
        self.pairs = element_pairs(n)
        z = lambda v, size: torch.full((size,), v, dtype=torch.float64, requires_grad=True)
        r0 = [float(r0)] * len(self.pairs) if np.isscalar(r0) else [float(r) for r in r0]
        self.raw = {
            "D": z(_softplus_inv(1.0), len(self.pairs)), "alpha": z(_softplus_inv(2.0), len(self.pairs)),
            "r0": torch.tensor(r0, dtype=torch.float64, requires_grad=True),
            "A": z(_softplus_inv(1.0), n), "beta": z(_softplus_inv(2.0), n),
            "c1": z(-1.0, n), "c2": z(0.05, n),
        }
        index = torch.zeros((n, n), dtype=torch.long)
        for k, (a, b) in enumerate(self.pairs):
            index[a, b] = index[b, a] = k
        self.pair_index = index

    def params(self) -> dict:
        sp = self.torch.nn.functional.softplus
        r = self.raw
        return {"D": sp(r["D"]), "alpha": sp(r["alpha"]), "r0": r["r0"], "A": sp(r["A"]), "beta": sp(r["beta"]),
                "c1": r["c1"], "c2": r["c2"]}

    def fc(self, r):
        torch = self.torch
        return torch.where(r < self.cutoff, 0.5 * (1 + torch.cos(math.pi * r / self.cutoff)), torch.zeros_like(r))

    def phi(self, r, k, p):
        x = r - p["r0"][k]
        return p["D"][k] * (torch_exp(self.torch, -2 * p["alpha"][k] * x) - 2 * torch_exp(self.torch, -p["alpha"][k] * x)) * self.fc(r)

    def density(self, r, b, p):
        r0 = p["r0"][self.pair_index[b, b]]
        return p["A"][b] * torch_exp(self.torch, -p["beta"][b] * (r - r0)) * self.fc(r)

    def embed(self, rho, a, p):
        return p["c1"][a] * rho + p["c2"][a] * rho**2

    def energies(self, g: _Graph):
        torch, p = self.torch, self.params()
        d = g.pos[g.j] - g.pos[g.i] + g.shift
        r = torch.linalg.norm(d, dim=1)
        si, sj = g.species[g.i], g.species[g.j]
        pair_e = 0.5 * self.phi(r, self.pair_index[si, sj], p)
        rho = torch.zeros(len(g.species), dtype=torch.float64).index_add(0, g.i, self.density(r, sj, p))
        atom_e = self.embed(rho, g.species, p) + torch.zeros_like(rho).index_add(0, g.i, pair_e)
        return torch.zeros(g.n_structures, dtype=torch.float64).index_add(0, g.owner, atom_e), rho


def torch_exp(torch, x):
    return torch.exp(torch.clamp(x, max=50.0))


def fit_eam(frames, elements: list[str], settings: dict, log) -> tuple[EAMModel, dict]:
    """Fit on frames whose energies are referenced to isolated atoms. Raises EAMFitError on divergence."""
    import torch

    torch.manual_seed(int(settings.get("seed", 0)))
    cutoff = float(settings["cutoff"])
    g = _Graph(frames, elements, cutoff, torch)
    r0 = settings.get("r0")  # an explicit eam.r0 starts every pair there
    model = EAMModel(elements, cutoff, torch, r0=nearest_neighbour_r0(frames, elements, cutoff) if r0 is None else r0)
    r0 = {f"{elements[a]}-{elements[b]}": r for (a, b), r in zip(model.pairs, model.raw["r0"].tolist())}
    log.info("EAM initial r0 per element pair (A): %s", r0)
    opt = torch.optim.Adam(list(model.raw.values()), lr=float(settings.get("lr", 0.02)))
    w_f = float(settings.get("force_weight", 1.0))
    history, first_loss = [], None
    steps = int(settings.get("steps", 300))
    for step in range(steps):
        opt.zero_grad()
        e, _ = model.energies(g)
        f = -torch.autograd.grad(e.sum(), g.pos, create_graph=True)[0]
        e_loss = torch.mean(((e - g.e_ref) / g.n_atoms) ** 2)
        f_loss = torch.mean((f - g.f_ref) ** 2)
        loss = e_loss + w_f * f_loss
        if not torch.isfinite(loss):
            raise EAMFitError(f"the EAM fit diverged (loss {loss.item()} at step {step}); lower eam.lr")
        first_loss = loss.item() if first_loss is None else first_loss
        loss.backward()
        opt.step()
        if step % max(1, steps // 10) == 0 or step == steps - 1:
            history.append({"step": step, "energy_rmse_meV_per_atom": 1e3 * e_loss.item() ** 0.5,
                            "forces_rmse_eV_per_A": f_loss.item() ** 0.5})
            log.info("EAM fit step %d: E %.1f meV/atom, F %.3f eV/A", step, history[-1]["energy_rmse_meV_per_atom"],
                     history[-1]["forces_rmse_eV_per_A"])
    if not loss.item() < first_loss:
        raise EAMFitError(f"the EAM fit diverged (loss rose from {first_loss:.4g} to {loss.item():.4g}); "
                          "lower eam.lr")
    with torch.no_grad():
        _, rho = model.energies(g)
    return model, {"history": history, "rho_max": float(rho.max()), "r0_initial": r0,
                   "params": {k: v.detach().tolist() for k, v in model.params().items()}}


def write_setfl(model: EAMModel, path: Path, rho_max: float, nr: int = 2000, nrho: int = 2000) -> None:
    """Tabulate the fitted functions as a LAMMPS eam/alloy (setfl) file."""
    import torch

    p = {k: v.detach() for k, v in model.params().items()}
    dr = model.cutoff / (nr - 1)
    drho = 2.0 * max(rho_max, 1e-6) / (nrho - 1)  # twice the densest training environment
    r = torch.arange(nr, dtype=torch.float64) * dr
    rho = torch.arange(nrho, dtype=torch.float64) * drho
    fmt = lambda a: "\n".join(" ".join(f"{x:.16e}" for x in row) for row in np.asarray(a).reshape(-1, 5))
    lines = ["EAM fitted by synpre (Morse pair, exponential density, quadratic embedding)",
             f"elements {' '.join(model.elements)}; cutoff {model.cutoff} A", "",
             f"{len(model.elements)} {' '.join(model.elements)}", f"{nrho} {drho:.16e} {nr} {dr:.16e} {model.cutoff}"]
    with torch.no_grad():
        for a, el in enumerate(model.elements):
            lines.append(f"{atomic_numbers[el]} {atomic_masses[atomic_numbers[el]]:.4f} 0.0 unknown")
            lines.append(fmt(model.embed(rho, torch.full_like(rho, a, dtype=torch.long), p).numpy()))
            lines.append(fmt(model.density(r, torch.full_like(r, a, dtype=torch.long), p).numpy()))
        for a in range(len(model.elements)):
            for b in range(a + 1):
                k = model.pair_index[a, b]
                lines.append(fmt((r * model.phi(r, k.expand_as(r), p)).numpy()))
    Path(path).write_text("\n".join(lines) + "\n")
