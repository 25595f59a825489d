"""A resume point that continues training bit for bit: the state at the start of every epoch.

Lightning's own ``last.ckpt`` is written at validation end, before the epoch is complete: a run resumed
from it repeats that epoch, skips a plateau-scheduler step and reshuffles, so its metrics drift from an
uninterrupted run's. Saved at the start of the next epoch instead, the checkpoint holds the finished
epoch (scheduler stepped, early-stopping counters updated), with the RNG streams as they were.

The shuffle of the training set is a function of (seed, epoch) alone (``EpochShuffle``): a generator
carried across epochs does not resume here, because nequip re-applies its saved state only to a data
module built after the restore, and Lightning draws a throw-away iterator while setting up a resumed fit.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Sampler


class ResumePoint(Callback):
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._pending = None  # RNG states of a checkpoint being resumed from

    def state_dict(self) -> dict:
        # read when a checkpoint is written
        return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}

    def load_state_dict(self, state: dict) -> None:
        self._pending = state  # applied when the resumed epoch starts, after Lightning's set-up

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            torch.set_rng_state(pending["torch"])
            np.random.set_state(pending["numpy"])
            random.setstate(pending["python"])
        if trainer.current_epoch == 0:
            return
        for logger in trainer.loggers:  # the finished epochs' metrics reach the disk with the point
            logger.save()
        checkpoint = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
        # Lightning has counted the new epoch as 'ready' already; rewound, the point reads as a clean
        # boundary (epoch done, next not begun), so a resumed run starts the next epoch afresh.
        progress = checkpoint["loops"]["fit_loop"]["epoch_progress"]
        for counts in (progress["total"], progress["current"]):
            counts["ready"] = counts["started"]
        tmp = self.path.with_name(self.path.name + ".tmp")  # a kill during the write leaves the old point
        torch.save(checkpoint, tmp)
        os.replace(tmp, self.path)


class EpochShuffle(Sampler):
    """A random order of ``n`` items drawn from (seed, epoch); Lightning calls ``set_epoch`` each epoch."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1, dtype=np.uint64)[0]
        return iter(torch.randperm(self.n, generator=torch.Generator().manual_seed(int(state))).tolist())


def shuffled_loader(dataset, generator: torch.Generator, **kwargs) -> DataLoader:
    """The training DataLoader nequip's data module builds (it passes ``dataset`` and its seeded
    ``generator``), shuffled by ``EpochShuffle``."""
    kwargs.pop("shuffle", None)
    return DataLoader(dataset, sampler=EpochShuffle(len(dataset), generator.initial_seed()), generator=generator,
                      **kwargs)
