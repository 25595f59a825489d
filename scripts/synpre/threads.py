"""One place that decides how many threads a job's numerical libraries may use.

Measured on the 2-core development machine: one thread per job with jobs in parallel beats two
threads per job by 5-15x under load (OpenMP regions wait for a descheduled thread). The thread count
is the rule's ``threads:``, passed on the command line, never guessed from the core count.
"""

from __future__ import annotations

import os

_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_threads(n: int, torch: bool = False) -> dict[str, str]:
    """Set thread-count variables for this process and its children; returns the env to pass on.

    ``torch=True`` also sets torch's intra-op threads (importing torch, ~2 s: only scripts that use
    it ask for it; the variables alone cover OpenMP in quippy, tblite and LAMMPS).
    """
    n = max(1, int(n))
    for var in _VARS:
        os.environ[var] = str(n)
    if torch:
        import torch as _torch

        _torch.set_num_threads(n)
    return {var: str(n) for var in _VARS}
