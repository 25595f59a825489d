"""Trained models (and teachers) as ASE calculators: one place for loading a checkpoint, a package or
a compiled model, and for the "--model or --teacher" choice of the scripts that run either."""

from __future__ import annotations

from .cli import json_arg
from .threads import limit_threads


def resolve_device(device: str = "auto") -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def nequip_calculator(model_path: str, device: str = "auto"):
    """ASE calculator of a model.ckpt, a .nequip.zip package or an AOTInductor .nequip.pt2."""
    from nequip.utils.global_state import set_global_state

    set_global_state()  # float64 default dtype, as nequip-train uses; without it labels round to float32
    from nequip.integrations.ase import NequIPCalculator

    device = resolve_device(device)
    if str(model_path).endswith(".nequip.pt2"):  # AOTInductor-compiled (nequip-compile)
        return NequIPCalculator.from_compiled_model(str(model_path), device=device,
                                                    chemical_species_to_atom_type_map=True)
    # a checkpoint or a .nequip.zip package
    return NequIPCalculator._from_saved_model(model_path, device=device, chemical_species_to_atom_type_map=True)


def add_calculator_args(p) -> None:
    """--model (a trained model) or --teacher (a teacher.json), exactly one."""
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--model", help="model.ckpt, model.nequip.zip or model.nequip.pt2")
    who.add_argument("--teacher", type=json_arg, help="a teacher.json (or @file)")
    p.add_argument("--device", default="auto", help="models only: cpu, cuda or auto")


def calculator_from_args(args):
    """(calculator, label) for --model or --teacher, with the job's thread limit applied."""
    if args.model:
        limit_threads(args.threads, torch=True)
        return nequip_calculator(args.model, args.device), args.model
    limit_threads(args.threads)
    from .teachers import make_calculator

    return make_calculator(args.teacher), f"teacher {args.teacher['name']}"
