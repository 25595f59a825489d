"""A Lightning callback that reports every training epoch in the job's log (nequip-train is quiet on
the console with the progress bar off): epoch, validation errors, learning rate, seconds per epoch."""

from __future__ import annotations

import sys
import time

from lightning.pytorch.callbacks import Callback


class EpochProgress(Callback):
    def __init__(self) -> None:
        self._t0 = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # runs after the epoch's validation (and after the module has logged its metrics)
        m = {k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", lambda: 1)() == 1}
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else float("nan")
        print(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: "
              f"val E {1000 * m.get('val0_epoch/per_atom_energy_rmse', float('nan')):.1f} meV/atom, "
              f"F {m.get('val0_epoch/forces_rmse', float('nan')):.3f} eV/A, lr {lr:.2e}, "
              f"{time.perf_counter() - self._t0:.1f} s", file=sys.stderr, flush=True)
