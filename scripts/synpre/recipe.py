"""The settings of one training run, resolved from the study config in one place.

A run's recipe is ``training`` (the schema fills every key a study leaves out), with ``pretraining``'s
keys over it for pre-training, and for fine-tuning ``finetune.training``'s keys over it and the strategy's own
``training`` keys over those; then
what the strategy implies (energy_only: no force loss, best epoch by energy), which energy-shift refit it
uses, and whether a run this small compiles (compile_min_structures). The workflow hands the result to
scripts/train.py as ``--settings``; synpre.nequip_config builds the nequip config from it as it is.
"""

from __future__ import annotations

STAGES = ("pretrain", "finetune", "direct")


def resolve(config: dict, stage: str, strategy: str | None = None, n_train: int | None = None) -> dict:
    """elements, model, training (and for fine-tuning the strategy) of one run of ``stage``.

    ``config`` is the validated study config with the schema's defaults filled; ``strategy`` names one of
    finetune.strategies; ``n_train`` (the run's training structures, if known) decides compile under
    compile_min_structures. The caller adds the run's ``seed``.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown training stage {stage!r}; one of {', '.join(STAGES)}")
    training = dict(config["training"])
    if stage == "pretrain":
        training.update(config["pretraining"])
    finetune = config["finetune"]
    # fine-tuning options only in fine-tuning runs: changing them must not rerun direct training or pre-training
    settings = {"elements": config["elements"], "model": config["model"]}
    if strategy is not None:
        settings["finetune"] = {"refit_shift": finetune["refit_shift"]}
        recipe = finetune["strategies"][strategy]
        training.update(finetune.get("training", {}))
        training.update(recipe.get("training", {}))
        settings["strategy"] = dict({k: v for k, v in recipe.items() if k != "training"}, name=strategy)
        if recipe.get("refit_shift") is not None:  # the strategy's refit overrides finetune.refit_shift
            settings["finetune"]["refit_shift"] = recipe["refit_shift"]
        if recipe.get("energy_only"):
            training.update(energy_only(training))
    # resolved here, so the settings a job is given (and records) say whether it compiles
    min_structures = training.pop("compile_min_structures", 0)
    if n_train is not None and int(n_train) < min_structures:
        training["compile"] = False
    return dict(settings, training=training)


def energy_only(training: dict) -> dict:
    """Energy-only fine-tuning: forces get no loss weight, and the best epoch (and early stopping) is
    judged by the energy alone (it may not look at forces)."""
    return {"loss": dict(training["loss"], forces=0.0), "monitor": "per_atom_energy_rmse"}
