"""Generate nequip 0.19 (Lightning + Hydra) training configs from the study's settings.

One builder for all three kinds of run, so pre-training, fine-tuning and direct training differ only
where the method says they should: the data, and (for fine-tuning) where the initial weights come from.
"""

from __future__ import annotations

from pathlib import Path

MONITORS = {"weighted_sum": "val0_epoch/weighted_sum", "forces_rmse": "val0_epoch/forces_rmse",
            "per_atom_energy_rmse": "val0_epoch/per_atom_energy_rmse"}


def _shift(model: dict):
    return "${training_data_stats:per_atom_energy_mean}" if model["energy_shift"] == "mean" else 0.0


def _scale(model: dict):
    return "${training_data_stats:forces_rms}" if model["energy_scale"] == "forces_rms" else float(model["energy_scale"])


def model_block(settings: dict, pretrained: str | None) -> dict:
    m, seed = settings["model"], settings["seed"]
    if pretrained is None:
        return {
            "_target_": "nequip.model.NequIPGNNModel", "seed": seed, "model_dtype": m["model_dtype"],
            "type_names": "${model_type_names}", "r_max": "${cutoff_radius}", "num_layers": m["num_layers"],
            "l_max": m["l_max"], "parity": m["parity"], "num_features": m["num_features"],
            "radial_mlp_depth": m["radial_mlp_depth"], "radial_mlp_width": m["radial_mlp_width"],
            "num_bessels": m["num_bessels"], "polynomial_cutoff_p": m["polynomial_cutoff_p"],
            "avg_num_neighbors": "${training_data_stats:num_neighbors_mean}",
            "per_type_energy_shifts": _shift(m), "per_type_energy_scales": _scale(m),
            "per_type_energy_scales_trainable": False, "per_type_energy_shifts_trainable": False,
        }
    loaded = {"_target_": "nequip.model.ModelFromCheckpoint", "checkpoint_path": str(Path(pretrained).resolve())}
    if not settings.get("finetune", {}).get("refit_shift", True):
        return loaded
    # The teacher's isolated atom and the real data's reference differ (a GAP's SOAP self-term alone
    # shifts it by ~1 eV/atom), so the energy shift is re-derived from the fine-tuning data exactly as
    # a from-scratch model derives it: the same recipe, with all weights trainable.
    return {"_target_": "nequip.model.modify", "model": loaded, "modifiers": [{
        "modifier": "modify_PerTypeScaleShift", "shifts": _shift(m), "scales": None,
        "shifts_trainable": False, "scales_trainable": False}]}


def training_config(settings: dict, train: str, val: str, run_dir: str, pretrained: str | None = None) -> dict:
    m, t = settings["model"], settings["training"]
    coeffs = {"total_energy": float(t["loss"]["energy"]), "forces": float(t["loss"]["forces"])}
    monitor = MONITORS[t["monitor"]]
    metrics_coeffs = {"per_atom_energy_rmse": coeffs["total_energy"], "forces_rmse": coeffs["forces"]}
    dataloader = {"_target_": "torch.utils.data.DataLoader", "batch_size": int(t["batch_size"]), "num_workers": 0}
    callbacks = [
        {"_target_": "lightning.pytorch.callbacks.ModelCheckpoint", "monitor": monitor, "dirpath": run_dir,
         "filename": "best", "save_last": True},
        {"_target_": "lightning.pytorch.callbacks.EarlyStopping", "monitor": monitor,
         "patience": int(t["early_stopping_patience"]), "min_delta": float(t.get("early_stopping_min_delta", 0.0)),
         "check_finite": True},
        {"_target_": "lightning.pytorch.callbacks.LearningRateMonitor", "logging_interval": "epoch"},
    ]
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
    lr_sched = {
        "scheduler": {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "factor": float(t["lr_factor"]),
                      "patience": int(t["lr_patience"]), "threshold": 0.02, "min_lr": 1e-5},
        "monitor": monitor, "interval": "epoch", "frequency": 1,
    }
    module = {
        "_target_": "nequip.train.EMALightningModule", "ema_decay": float(t["ema_decay"]),
        "loss": {"_target_": "nequip.train.EnergyForceLoss", "per_atom_energy": True, "coeffs": coeffs},
        "val_metrics": {"_target_": "nequip.train.EnergyForceMetrics", "coeffs": metrics_coeffs},
        "test_metrics": "${training_module.val_metrics}",
        "optimizer": {"_target_": "torch.optim.Adam", "lr": float(t["lr"])},
        "model": model_block(settings, pretrained),
    }
    if t.get("lr_scheduler", True):
        module["lr_scheduler"] = lr_sched
    return {
        "run": ["train"],
        "seed": int(settings["seed"]),
        "cutoff_radius": float(m["r_max"]),
        "model_type_names": list(settings["elements"]),
        "chemical_species": "${model_type_names}",
        "data": {
            "_target_": "nequip.data.datamodule.ASEDataModule", "seed": int(settings["seed"]),
            "train_file_path": str(Path(train).resolve()), "val_file_path": str(Path(val).resolve()),
            "ase_args": {"format": "extxyz"},
            "transforms": [
                {"_target_": "nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper",
                 "model_type_names": "${model_type_names}",
                 "chemical_species_to_atom_type_map": "${list_to_identity_dict:${chemical_species}}"},
                {"_target_": "nequip.data.transforms.NeighborListTransform", "r_max": "${cutoff_radius}"},
            ],
            "train_dataloader": dict(dataloader, shuffle=True),
            "val_dataloader": dataloader,
            "stats_manager": {"_target_": "nequip.data.CommonDataStatisticsManager",
                              "type_names": "${model_type_names}", "dataloader_kwargs": {"batch_size": 16}},
        },
        "trainer": trainer,
        "training_module": module,
    }
