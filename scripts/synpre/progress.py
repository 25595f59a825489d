"""Lightning callbacks for the job's log: every training epoch reported (nequip-train is quiet on the
console with the progress bar off), and a stop at the first non-finite loss."""

from __future__ import annotations

import json
import sys
import time

import torch

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


class DivergenceGuard(Callback):
    """Stops training at the first non-finite training loss and leaves ``diverged.json`` behind, so the
    job fails with the step it happened at instead of publishing the best epoch before the blow-up."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.stopped = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not bool(torch.isfinite(loss).all()):
            self._stop(trainer, f"the loss became {loss.item()}")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # weights made non-finite by an epoch's last step show first in its validation
        bad = {k: float(v) for k, v in trainer.callback_metrics.items()
               if k.startswith("val") and v.numel() == 1 and not bool(torch.isfinite(v))}
        if bad:
            name, value = next(iter(bad.items()))
            self._stop(trainer, f"the validation {name} became {value}" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))

    def _stop(self, trainer, what: str) -> None:
        if self.stopped:
            return  # the first sign is the one reported
        self.stopped = True
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else float("nan")
        with open(self.path, "w") as f:
            json.dump({"what": what, "epoch": trainer.current_epoch + 1, "step": trainer.global_step, "lr": lr}, f)
        print(f"{what} at epoch {trainer.current_epoch + 1}, step {trainer.global_step}: stopping", file=sys.stderr,
              flush=True)
        trainer.should_stop = True
