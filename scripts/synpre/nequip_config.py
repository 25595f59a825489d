"""Generate nequip 0.19 (Lightning + Hydra) training configs from a run's settings (synpre.recipe.resolve).

One builder for all three kinds of run, so pre-training, fine-tuning and direct training differ only
where the method says they should: the data, and (for fine-tuning) where the initial weights come from.
"""

from __future__ import annotations

import copy
from pathlib import Path

from .storage import is_lmdb

MONITORS = {"weighted_sum": "val0_epoch/weighted_sum", "forces_rmse": "val0_epoch/forces_rmse",
            "per_atom_energy_rmse": "val0_epoch/per_atom_energy_rmse"}


def param_groups(settings: dict) -> dict | None:
    """Layer-wise learning rates and freezing (synpre.param_groups.layerwise), or None for plain Adam."""
    s = settings.get("strategy", {})
    if not (s.get("xi") or s.get("freeze_blocks") or s.get("freeze_embedding")):
        return None
    return {"_target_": "synpre.param_groups.layerwise", "lr": float(settings["training"]["lr"]),
            "xi": float(s.get("xi") or 1.0), "num_layers": int(settings["model"]["num_layers"]),
            "freeze_blocks": int(s.get("freeze_blocks", 0)), "freeze_embedding": bool(s.get("freeze_embedding")),
            "arch": settings["model"].get("architecture", "nequip")}


def scheduler(t: dict, monitor: str) -> dict | None:
    kind = t["lr_scheduler"]
    warmup = int(t.get("lr_warmup_steps") or 0)
    if warmup and kind not in (False, None):
        raise ValueError("training.lr_warmup_steps needs lr_scheduler: false (a warm-up is its own schedule)")
    if warmup:
        # Adam's first steps move every weight by about lr whatever its gradient: from pre-trained weights
        # that scatters what the synthetic data taught before the real data can steer. A linear ramp from
        # lr/warmup to lr over the first `warmup` optimiser steps, then lr constant.
        return {"scheduler": {"_target_": "torch.optim.lr_scheduler.LinearLR", "start_factor": 1.0 / warmup,
                              "end_factor": 1.0, "total_iters": warmup},
                "interval": "step", "frequency": 1}
    if kind in (False, None):
        return None
    if kind == "cosine":
        return {"scheduler": {"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR",
                              "T_max": int(t["max_epochs"]), "eta_min": float(t["lr"]) / 100},
                "interval": "epoch", "frequency": 1}
    return {"scheduler": {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "factor": float(t["lr_factor"]),
                          "patience": int(t["lr_patience"]), "threshold": 0.02, "min_lr": 1e-5},
            "monitor": monitor, "interval": "epoch", "frequency": 1}


def _shift(model: dict):
    return "${training_data_stats:per_atom_energy_mean}" if model["energy_shift"] == "mean" else 0.0


def _scale(model: dict):
    return "${training_data_stats:forces_rms}" if model["energy_scale"] == "forces_rms" else float(model["energy_scale"])


def pair_potential(m: dict) -> dict:
    """``{"pair_potential": ZBL}`` where model.pair_potential asks for it, else nothing (configs without it
    stay as they were, and so do their resume points)."""
    if m.get("pair_potential", "none") != "zbl":
        return {}
    return {"pair_potential": {"_target_": "nequip.nn.pair_potential.ZBL", "units": "metal",
                               "chemical_species": "${chemical_species}",
                               "polynomial_cutoff_p": float(m["polynomial_cutoff_p"])}}


# architecture -> (module, pip package) that provides it
ARCHITECTURES = {"nequip": ("nequip", "nequip"), "allegro": ("allegro", "nequip-allegro")}


def compile_mode(settings: dict) -> dict:
    """``{"compile_mode": "compile"}`` where training.compile asks for train-time torch.compile, else nothing:
    the eager default stays implicit, so configs of runs without compile (and their resume points, which
    need an unchanged config) are the same as before the option existed. Saved checkpoints load eagerly
    all the same: nequip's loaders (evaluation, nequip-package, nequip-compile) build them with their own
    compile_mode (eager), which overrides the one recorded in the checkpoint."""
    return {"compile_mode": "compile"} if settings["training"]["compile"] else {}


def allegro_block(m: dict, seed: int) -> dict:
    """Allegro (nequip-allegro) on the same framework: strictly local, pair-based tensor features."""
    return {
        "_target_": "allegro.model.AllegroModel", "seed": seed, "model_dtype": m["model_dtype"],
        "type_names": "${model_type_names}", "r_max": "${cutoff_radius}", "l_max": m["l_max"],
        "parity": m["parity"], "num_layers": m["num_layers"],
        "radial_chemical_embed": {"_target_": "allegro.nn.TwoBodyBesselScalarEmbed",
                                  "num_bessels": m["num_bessels"], "bessel_trainable": False,
                                  "polynomial_cutoff_p": m["polynomial_cutoff_p"]},
        "radial_chemical_embed_dim": m["num_scalar_features"],
        "scalar_embed_mlp_hidden_layers_depth": m["radial_mlp_depth"],
        "scalar_embed_mlp_hidden_layers_width": m["radial_mlp_width"],
        "num_scalar_features": m["num_scalar_features"], "num_tensor_features": m["num_tensor_features"],
        "allegro_mlp_hidden_layers_depth": 1, "allegro_mlp_hidden_layers_width": m["num_scalar_features"],
        "readout_mlp_hidden_layers_depth": 1, "readout_mlp_hidden_layers_width": m["num_scalar_features"],
        "avg_num_neighbors": "${training_data_stats:num_neighbors_mean}",
        "per_type_energy_shifts": _shift(m), "per_type_energy_scales": _scale(m),
        "per_type_energy_scales_trainable": False, "per_type_energy_shifts_trainable": False,
        **pair_potential(m),
    }


def model_block(settings: dict, pretrained: str | None) -> dict:
    m, seed = settings["model"], settings["seed"]
    if pretrained is None and m.get("architecture", "nequip") == "allegro":
        return dict(allegro_block(m, seed), **compile_mode(settings))
    if pretrained is None:
        return dict({
            "_target_": "nequip.model.NequIPGNNModel", "seed": seed, "model_dtype": m["model_dtype"],
            "type_names": "${model_type_names}", "r_max": "${cutoff_radius}", "num_layers": m["num_layers"],
            "l_max": m["l_max"], "parity": m["parity"], "num_features": m["num_features"],
            "radial_mlp_depth": m["radial_mlp_depth"], "radial_mlp_width": m["radial_mlp_width"],
            "num_bessels": m["num_bessels"], "polynomial_cutoff_p": m["polynomial_cutoff_p"],
            "avg_num_neighbors": "${training_data_stats:num_neighbors_mean}",
            "per_type_energy_shifts": _shift(m), "per_type_energy_scales": _scale(m),
            "per_type_energy_scales_trainable": False, "per_type_energy_shifts_trainable": False,
            **pair_potential(m),
        }, **compile_mode(settings))
    # the parent's own compile_mode does not matter: ModelFromCheckpoint builds it with this one
    loaded = {"_target_": "nequip.model.ModelFromCheckpoint", "checkpoint_path": str(Path(pretrained).resolve()),
              **compile_mode(settings)}
    refit = refit_mode(settings)
    if refit == "none":
        return loaded
    # The teacher's isolated atom and the real data's reference differ (a GAP's SOAP self-term alone
    # shifts it by ~1 eV/atom), so the energy shift is re-derived from the fine-tuning data: as a
    # from-scratch model derives it (mean), or fitted to the pre-trained model's residuals (residual,
    # synpre.shift_fit; train.py puts the numbers into settings["fitted_shifts"]).
    shifts = settings["fitted_shifts"] if refit == "residual" else _shift(m)
    return {"_target_": "nequip.model.modify", "model": loaded, "modifiers": [{
        "modifier": "modify_PerTypeScaleShift", "shifts": shifts, "scales": None,
        "shifts_trainable": False, "scales_trainable": False}]}


def refit_mode(settings: dict) -> str:
    """How fine-tuning re-fits the energy shift: none, mean (of the fine-tuning data's per-atom energies)
    or residual (the pre-trained shifts plus the offset that explains its errors on those data). The
    value is the run's resolved finetune.refit_shift (synpre.recipe); true means mean, false none."""
    refit = settings["finetune"]["refit_shift"]
    return {True: "mean", False: "none"}.get(refit, refit)


def training_config(settings: dict, train: str, val: str, run_dir: str, pretrained: str | None = None,
                    keep_epochs: bool = False) -> dict:
    """The nequip-train config of one run. ``keep_epochs`` also saves the weights after every epoch
    (``after-epoch-<K>.ckpt``, K counted from 1), for fine-tuning from a chosen pre-training epoch."""
    m, t = settings["model"], settings["training"]
    coeffs = {"total_energy": float(t["loss"]["energy"]), "forces": float(t["loss"]["forces"])}
    monitor = MONITORS[t["monitor"]]
    metrics_coeffs = {"per_atom_energy_rmse": coeffs["total_energy"], "forces_rmse": coeffs["forces"]}
    dataloader = {"_target_": "torch.utils.data.DataLoader", "batch_size": int(t["batch_size"]), "num_workers": 0}
    callbacks = [
        {"_target_": "lightning.pytorch.callbacks.ModelCheckpoint", "monitor": monitor, "dirpath": run_dir,
         "filename": "best"},
        {"_target_": "synpre.resume.ResumePoint", "path": f"{run_dir}/resume.ckpt"},
        {"_target_": "lightning.pytorch.callbacks.EarlyStopping", "monitor": monitor,
         "patience": int(t["early_stopping_patience"]), "min_delta": float(t["early_stopping_min_delta"]),
         "check_finite": True},
        {"_target_": "lightning.pytorch.callbacks.LearningRateMonitor", "logging_interval": "epoch"},
        {"_target_": "synpre.progress.EpochProgress"},  # one line per epoch in the job's log
        {"_target_": "synpre.progress.DivergenceGuard", "path": f"{run_dir}/diverged.json"},
    ]
    if keep_epochs:
        callbacks.append({"_target_": "lightning.pytorch.callbacks.ModelCheckpoint", "dirpath": run_dir,
                          "filename": "epoch-{epoch}", "every_n_epochs": 1, "save_top_k": -1,
                          "auto_insert_metric_name": False})
    trainer = {
        "_target_": "lightning.Trainer", "accelerator": "auto", "devices": 1,
        "max_epochs": int(t["max_epochs"]), "check_val_every_n_epoch": 1, "log_every_n_steps": 1,
        "enable_progress_bar": False, "enable_model_summary": False,
        "logger": {"_target_": "lightning.pytorch.loggers.CSVLogger", "save_dir": run_dir, "name": "csvlog",
                   "version": 0},
        "callbacks": callbacks,
    }
    if t.get("max_time"):
        trainer["max_time"] = t["max_time"]
    # Patience counted in epochs is a few optimiser steps on a small set (10 structures, batch 4: 3 per
    # epoch): early stopping may fire only after min_steps, so small sets train as much as the recipe says.
    if t["min_steps"]:
        trainer["min_steps"] = int(t["min_steps"])
    if t.get("max_steps"):
        trainer["max_steps"] = int(t["max_steps"])
    module = {
        "_target_": "nequip.train.EMALightningModule", "ema_decay": float(t["ema_decay"]),
        "loss": {"_target_": "nequip.train.EnergyForceLoss", "per_atom_energy": True, "coeffs": coeffs},
        "val_metrics": {"_target_": "nequip.train.EnergyForceMetrics", "coeffs": metrics_coeffs},
        "test_metrics": "${training_module.val_metrics}",
        "optimizer": {"_target_": "torch.optim.Adam", "lr": float(t["lr"])},
        "model": model_block(settings, pretrained),
    }
    if scheduler(t, monitor):
        module["lr_scheduler"] = scheduler(t, monitor)
    if param_groups(settings):
        module["optimizer"]["param_groups"] = param_groups(settings)
    return {
        "run": ["train"],
        "seed": int(settings["seed"]),
        "cutoff_radius": float(m["r_max"]),
        "model_type_names": list(settings["elements"]),
        "chemical_species": "${model_type_names}",
        "data": data_block(int(settings["seed"]), train, val, dataloader),
        "trainer": trainer,
        "training_module": module,
    }


def data_block(seed: int, train: str, val: str, dataloader: dict) -> dict:
    """The data module: extxyz files through ASEDataModule (every frame read into memory), or NequIP LMDB
    files (``*.lmdb``, see synpre.storage) through NequIPDataModule, read batch by batch. Both convert a
    frame with the same from_ase and see the same seed, loaders and statistics pass, so they train alike."""
    transforms = [
        {"_target_": "nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper",
         "model_type_names": "${model_type_names}",
         "chemical_species_to_atom_type_map": "${list_to_identity_dict:${chemical_species}}"},
        {"_target_": "nequip.data.transforms.NeighborListTransform", "r_max": "${cutoff_radius}"},
    ]
    loaders = {
        "train_dataloader": dict(dataloader, _target_="synpre.resume.shuffled_loader"),  # resumable order
        "val_dataloader": dataloader,
        "stats_manager": {"_target_": "nequip.data.CommonDataStatisticsManager",
                          "type_names": "${model_type_names}", "dataloader_kwargs": {"batch_size": 16}},
    }
    paths = [str(Path(p).resolve()) for p in (train, val)]
    if not any(is_lmdb(p) for p in paths):
        return {"_target_": "nequip.data.datamodule.ASEDataModule", "seed": seed, "train_file_path": paths[0],
                "val_file_path": paths[1], "ase_args": {"format": "extxyz"}, "transforms": transforms, **loaders}
    if not all(is_lmdb(p) for p in paths):
        raise ValueError(f"training and validation data must both be extxyz or both LMDB, not {train} and {val}")
    # lmdb 3.0 + nequip 0.19.1: a statistics pass in this process can leave the training file's environment
    # open, and the training set opened again for fit then fails with "The environment ... is already open
    # in this process" (seen in an earlier probe, not in every run). One loader worker opens it in a child
    # process instead, which ends with the pass.
    loaders["stats_manager"]["dataloader_kwargs"]["num_workers"] = 1
    return {"_target_": "nequip.data.datamodule.NequIPDataModule", "seed": seed,
            "train_dataset": {"_target_": "nequip.data.dataset.NequIPLMDBDataset", "file_path": paths[0],
                              "transforms": transforms},
            "val_dataset": {"_target_": "nequip.data.dataset.NequIPLMDBDataset", "file_path": paths[1],
                            "transforms": copy.deepcopy(transforms)},  # no YAML alias in the written config
            **loaders}
