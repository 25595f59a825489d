"""Fine-tuning a shipped SevenNet model on the N_real structures: the universal baseline a user would train.

sevenn 0.13's own driver (``sevenn.scripts.train.train_v2``, what ``sevenn train_v2 input.yaml`` runs) does the
training. The input config is made from the chosen model's checkpoint (``yaml_dict('continue')``), so the
architecture always matches (7net-0, 7net-l3i5, 7net-mf-0 with its modal); its ``continue`` block loads the
weights with a fresh optimiser. ``out_dir/input.yaml`` and the training files stay, so
``sevenn train_v2 out_dir/input.yaml -w out_dir`` reruns it by hand.

Energy reference: the real energies are referenced to the reference method's isolated atoms, SevenNet's to
MPtrj's PBE. Training labels are E_real - sum_i offset[element_i], with the offsets that best explain the
model's zero-shot errors on the training structures (synpre.shift_fit.residual_offsets, as the zero-shot
baseline and NequIP fine-tuning fit theirs), so fine-tuning does not spend itself learning a constant. The
fine-tuned model predicts in SevenNet's reference; E_real = E_model + sum_i offset[element_i].

Pitfalls met in the prototype (each handled below): sevenn collates ``atoms.info`` and fails when frames carry
different keys; it silently reuses ``out_dir/sevenn_data`` graph caches; its Logger is a process singleton; a
multi-fidelity model's data paths must name the modality; the best checkpoint is chosen among epochs 1..N
(never the starting weights).
"""

from __future__ import annotations

import csv
import random
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from .labels import with_labels
from .shift_fit import offset_energy, residual_offsets


def fit_offsets(calc, frames, elements: list[str]) -> dict[str, float]:
    """Per-element offsets (eV/atom) with E_real ~ E_model + sum_i offset[element_i] on ``frames``."""
    predicted = []
    for atoms in frames:
        work = atoms.copy()
        work.calc = calc
        predicted.append(work.get_potential_energy())
    return {e: float(d) for e, d in zip(elements, residual_offsets(frames, predicted, elements))}


def load_finetuned(checkpoint: str, modal: str | None = None):
    """The ASE calculator of a fine-tuned checkpoint (energies in SevenNet's reference: add the offsets)."""
    import torch
    from sevenn.calculator import SevenNetCalculator

    from .teachers import float32_default, in_float32

    device = "cuda" if torch.cuda.is_available() else "cpu"
    with float32_default(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return in_float32(SevenNetCalculator(model=str(checkpoint), device=device, modal=modal))


def shifted(frames, offsets: dict[str, float]) -> list:
    """Energy and forces only (no info: sevenn fails on frames with different info keys), energies moved into
    the model's reference."""
    out = []
    for atoms in frames:
        a = with_labels(atoms, atoms.get_potential_energy() - offset_energy(atoms, offsets), atoms.get_forces())
        a.info = {}
        out.append(a)
    return out


def finetune(model: str, train, val, out_dir: Path, offsets: dict[str, float], epochs: int, lr: float,
             batch_size: int, seed: int, modal: str | None = None, force_weight: float = 1.0,
             huber_delta: float = 0.01) -> dict:
    """Fine-tune the shipped ``model`` on ``train`` (Atoms with energies and forces in the real reference),
    best epoch by validation force RMSE on ``val``; writes ``out_dir/checkpoint_best.pth``. Returns the learning
    curve (per epoch: train and validation energy RMSE in meV/atom and force RMSE in eV/Å) and the best epoch."""
    import torch
    import yaml

    import sevenn
    import sevenn._keys as KEY
    from ase.io import write
    from sevenn.logger import Logger
    from sevenn.parse_input import read_config_yaml
    from sevenn.scripts.train import train_v2
    from sevenn.util import load_checkpoint

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out_dir / "sevenn_data", ignore_errors=True)  # sevenn would reuse stale graphs silently
    for name in ("lc.csv", "log.sevenn", "checkpoint_best.pth"):
        (out_dir / name).unlink(missing_ok=True)
    train_path, val_path = out_dir / "train.extxyz", out_dir / "valid.extxyz"
    write(train_path, shifted(train, offsets), format="extxyz")
    write(val_path, shifted(val, offsets), format="extxyz")

    cp = load_checkpoint(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "checkpoint version too old, yaml may wrong"
        y = cp.yaml_dict("continue")
    y["model"]["chemical_species"] = "auto"  # the checkpoint's species win
    y["train"].update({
        "random_seed": int(seed), "epoch": int(epochs), "per_epoch": 10**6,
        "loss": "Huber", "loss_param": {"delta": float(huber_delta)},
        "optimizer": "adam", "optim_param": {"lr": float(lr)},
        "scheduler": "exponentiallr", "scheduler_param": {"gamma": 1.0},  # a constant lr
        "force_loss_weight": float(force_weight), "is_train_stress": False,
        "train_shuffle": True, "use_weight": False,
        "error_record": [["Energy", "RMSE"], ["Force", "RMSE"], ["TotalLoss", "None"]],
        "best_metric": "Force_RMSE",
        "continue": {"checkpoint": cp.checkpoint_path, "reset_optimizer": True, "reset_scheduler": True,
                     "reset_epoch": True, "use_statistic_values_of_checkpoint": True},
    })
    y["train"].pop("stress_loss_weight", None)
    data = y["data"]
    data.update({"batch_size": int(batch_size), "preprocess_num_cores": 1, "data_format": "ase",
                 "data_format_args": {"index": ":"}, "data_divide_ratio": 0.0,
                 "shift": "per_atom_energy_mean", "scale": "force_rms"})  # replaced by the checkpoint's values
    if cp.config.get(KEY.MODAL_MAP):
        data["load_trainset_path"] = [{"data_modality": modal, "file_list": [{"file": str(train_path)}]}]
        data["load_validset_path"] = [{"data_modality": modal, "file_list": [{"file": str(val_path)}]}]
        data["data_format_args"] = {}  # a modality entry refuses ase's keyword arguments
    else:
        data["load_trainset_path"], data["load_validset_path"] = [str(train_path)], [str(val_path)]
    data.pop("load_testset_path", None)
    yaml_path = out_dir / "input.yaml"
    yaml_path.write_text(yaml.safe_dump(y, sort_keys=False))

    model_cfg, train_cfg, data_cfg = read_config_yaml(str(yaml_path))
    train_cfg.update({KEY.IS_DDP: False, KEY.DDP_BACKEND: "nccl", KEY.LOCAL_RANK: 0, KEY.RANK: 0, KEY.WORLD_SIZE: 1})
    config = {"version": sevenn.__version__, "when": time.ctime(), "_model_type": "E3_equivariant_model",
              **model_cfg, **train_cfg, **data_cfg}
    config[KEY.DEVICE] = "cuda" if torch.cuda.is_available() else "cpu"
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    log = Logger()  # a process singleton: point it at this run's file
    log.screen = False
    log.switch_file(str(out_dir / "log.sevenn"))
    t0 = time.perf_counter()
    with log, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_v2(config, str(out_dir))
    wall = time.perf_counter() - t0
    with open(out_dir / "lc.csv") as f:
        rows = list(csv.DictReader(f))

    def col(row, prefix, name):
        return float(next(v for k, v in row.items() if k.startswith(f"{prefix}_{name}")))

    curve = [{"epoch": int(r["epoch"]), "lr": float(r["lr"]),
              "train_energy_rmse_meV_per_atom": 1000 * col(r, "trainset", "Energy_RMSE"),
              "train_forces_rmse_eV_per_A": col(r, "trainset", "Force_RMSE"),
              "val_energy_rmse_meV_per_atom": 1000 * col(r, "validset", "Energy_RMSE"),
              "val_forces_rmse_eV_per_A": col(r, "validset", "Force_RMSE")} for r in rows]
    best = min(curve, key=lambda e: e["val_forces_rmse_eV_per_A"])
    if not (out_dir / "checkpoint_best.pth").exists():
        raise RuntimeError(f"sevenn finished without writing {out_dir / 'checkpoint_best.pth'}; see its log.sevenn")
    return {"model": model, "modal": modal, "checkpoint": str(out_dir / "checkpoint_best.pth"),
            "best_epoch": best["epoch"], "epochs": len(curve), "curve": curve, "wall_seconds": round(wall, 1),
            "lr": float(lr), "batch_size": int(batch_size), "n_train": len(train), "n_val": len(val),
            "energy_offsets_eV_per_atom": offsets}
