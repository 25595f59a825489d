"""The real ("DFT") data: load, filter, reference, split into train pool / validation / test.

Follows the paper's data handling: an existing ``split`` info key is honoured (C-GAP-17 has train/test);
the train part is shuffled once with a fixed seed, the validation set is taken from its end, and every
training subset of size N is the *first N* of that permutation, so subsets are nested and identical
across seeds (a seed changes only initialisation and batch order).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from .datasets import DatasetError, read_frames, validated


def load_source(ref: dict) -> list[tuple[str, list[Atoms]]]:
    """(name, frames) for each input: extxyz files, or a load-atoms dataset from a local cache."""
    if ref.get("load_atoms"):
        la = ref["load_atoms"]
        try:
            from load_atoms import load_dataset
        except ImportError as exc:
            raise DatasetError("reference.load_atoms is set but the load-atoms package is not installed; "
                               "pip install load-atoms, or point reference.files at extxyz files") from exc
        try:
            ds = load_dataset(la["id"], root=la.get("root"))
        except Exception as exc:
            raise DatasetError(f"reference.load_atoms: dataset {la['id']!r} not found in root {la.get('root')!r} "
                               f"({exc}); without internet the root must already hold the cached dataset") from exc
        return [(f"load-atoms:{la['id']}", list(ds))]
    return [(str(path), read_frames(path)) for path in ref["files"]]


def keep(atoms: Atoms, exclude: dict) -> bool:
    return not any(atoms.info.get(key) in set(values) for key, values in (exclude or {}).items())


def matches(atoms: Atoms, where: dict | None) -> bool:
    """Whether any rule of ``where`` selects the structure: ``{info key: [values]}`` or ``{info key: {min, max}}``
    (a closed range; a structure without the key is never selected by a range)."""
    for key, rule in (where or {}).items():
        value = atoms.info.get(key)
        if isinstance(rule, dict):
            if value is not None and rule.get("min", -np.inf) <= float(value) <= rule.get("max", np.inf):
                return True
        elif value in set(rule):
            return True
    return False


def selecting_rule(atoms: Atoms, where: dict | None) -> str | None:
    """The info key of the first rule of ``where`` that selects the structure (None: no rule does)."""
    return next((key for key in (where or {}) if matches(atoms, {key: where[key]})), None)


def prepare(ref: dict, elements: list[str]) -> dict[str, list[Atoms]]:
    """Return {"train_pool": [...], "val": [...], "test": [...], "teacher_pool": [...]} (train_pool already
    permuted). Fitted teachers are fitted to teacher_pool: the train pool itself, or with split.teacher_where
    the structures it selects, which then are in no other set."""
    frames = []
    n_read = 0
    for name, raw in load_source(ref):
        n_read += len(raw)
        kept = [(i, a) for i, a in enumerate(raw) if keep(a, ref.get("exclude", {}))]
        good = validated([a for _, a in kept], name, ref["energy_key"], ref["forces_key"], elements,
                         ref["isolated_atom_energies"], ref.get("min_distance", 0.5), indices=[i for i, _ in kept])
        for (i, _), a in zip(kept, good):
            a.info.update(source=name, source_index=i)
            frames.append(a)
    if not frames:
        sources = ", ".join(ref.get("files") or [f"load-atoms:{(ref.get('load_atoms') or {}).get('id')}"])
        raise DatasetError(f"{sources}: no structures left after reference.exclude={ref.get('exclude')} "
                           f"({n_read} read); relax reference.exclude")
    split = ref["split"]
    rng = np.random.default_rng(int(split["seed"]))
    key = split.get("key", "split")
    if all(key in a.info for a in frames):
        test = [a for a in frames if a.info[key] == split.get("test_value", "test")]
        train = [a for a in frames if a.info[key] != split.get("test_value", "test")]
    else:
        perm = rng.permutation(len(frames))
        n_test = int(round(split["test_fraction"] * len(frames)))
        test = [frames[i] for i in sorted(perm[:n_test])]
        train = [frames[i] for i in sorted(perm[n_test:])]
    # out-of-distribution tests: whole regions (a density band, a structure type) only ever tested
    held_out = [a for a in train if matches(a, split.get("test_where"))]
    for a in held_out:  # scored apart from the in-distribution test cells (metrics.compare)
        a.info["held_out"] = selecting_rule(a, split["test_where"])
    test += held_out
    train = [a for a in train if not matches(a, split.get("test_where"))]
    # a teacher fitted on structures no student trains, validates or tests on
    teacher_only = [a for a in train if matches(a, split.get("teacher_where"))]
    train = [a for a in train if not matches(a, split.get("teacher_where"))]
    perm = rng.permutation(len(train))
    train = [train[i] for i in perm]
    n_val = int(split["n_val"])
    if n_val >= len(train):
        raise DatasetError(f"reference: only {len(train)} training structures, cannot hold out "
                           f"reference.split.n_val={n_val} for validation")
    if not test:
        raise DatasetError("reference: the test set is empty; set reference.split.test_fraction or add "
                           "structures whose split key is 'test'")
    if split.get("teacher_where") and not teacher_only:
        raise DatasetError(f"reference.split.teacher_where={split['teacher_where']} selects no training structure; "
                           "name info values that the training structures have (e.g. their trajectory numbers)")
    pool = train[: len(train) - n_val]
    return {"train_pool": pool, "val": train[len(train) - n_val:], "test": test,
            "teacher_pool": teacher_only if split.get("teacher_where") else pool}
