"""Optimizer parameter groups for discriminative fine-tuning (Zaverkin et al.), loaded by nequip-train
through ``training_module.optimizer.param_groups``.

Each parameter gets its distance from the output: the readout is 0, the last interaction block 1, ...,
the first block ``num_layers``, and the atom-type embedding (with any input-side radial/two-body
embedding) ``num_layers + 1``. Its learning rate is ``lr * xi**distance``, so layers nearer the input
move less. Frozen parameters (the first ``freeze_blocks`` blocks, optionally the embedding) get
``requires_grad = False`` and no optimizer group.
"""

from __future__ import annotations

import re

# parameter-name patterns per architecture: (block index pattern, embedding pattern, readout pattern)
LAYOUTS = {
    "nequip": (r"layer(\d+)_convnet", r"type_embed|chemical_embedding", r"readout|output"),
    "allegro": (r"allegro\.(?:latents|tps|env_embed_linears|env_linears)\.(\d+)",
                r"radial_chemical_embed|scalar_embed|tensor_embed|first_layer_env_embed", r"readout|pair_potential"),
}


class LayoutError(ValueError):
    pass


def distance_from_output(name: str, num_layers: int, arch: str = "nequip") -> int | None:
    """Distance of one parameter from the output; None for parameters the strategy leaves alone."""
    block, embed, readout = LAYOUTS[arch]
    m = re.search(block, name)
    if m:
        index = int(next(g for g in m.groups() if g is not None))
        return num_layers - index
    if re.search(readout, name):
        return 0
    if re.search(embed, name):
        return num_layers + 1
    return None


def block_of(name: str, arch: str = "nequip") -> int | None:
    m = re.search(LAYOUTS[arch][0], name)
    return int(next(g for g in m.groups() if g is not None)) if m else None


def layerwise(model, lr: float, xi: float = 1.0, num_layers: int = 1, freeze_blocks: int = 0,
              freeze_embedding: bool = False, arch: str = "nequip"):
    groups: dict[int, list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        dist = distance_from_output(name, num_layers, arch)
        if dist is None:
            raise LayoutError(f"param_groups: cannot place parameter {name!r} of a {arch} model in a layer; "
                              "update synpre.param_groups.LAYOUTS for this architecture")
        block = block_of(name, arch)
        frozen = (block is not None and block < freeze_blocks) or (freeze_embedding and dist == num_layers + 1)
        if frozen:
            param.requires_grad_(False)
            continue
        groups.setdefault(dist, []).append(param)
    if not groups:
        raise LayoutError("param_groups: every parameter is frozen; freeze fewer blocks")
    return [{"params": params, "lr": lr * xi ** dist, "name": f"distance-{dist}"}
            for dist, params in sorted(groups.items())]
