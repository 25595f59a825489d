"""The hold-phase RDF at 1000 K of the GAP teacher and of the N_real = 25 models against GFN1-xTB MD, the
reference method of the default study (issue 17: "RDF also against reference-level MD").

The reference trajectory `data/carbon-gfn1-nvt-1000K.extxyz.gz` (shipped; also usable in the pipeline as
`stability.rdf_reference.files`, see xtb-rdf.yaml) was made with the pipeline's own NVT script and the tblite
driver, from the first hold frame (1.4 ps, 1000 K) of the teacher's stability replicas 0 and 1 (start.xyz):

    python scripts/nvt_md.py --threads 1 --inputs start.xyz --part <k> --parts 2 --seed 0 \
        --settings '{"driver": {"kind": "tblite", "method": "GFN1-xTB"}, "temperatures": [1000],
                     "steps": 1000, "snapshot_every": 20, "timestep_fs": 1.0, "filter_min_distance": 0.5}' \
        --out xtb-1000K-part<k>.xyz

Its first 200 fs (the switch from the GAP to xTB) were dropped when the file was written: it holds steps
220-1000 of both runs, 80 frames. The models' and the teacher's frames are the hold snapshots of their
stability-1000K.xyz (every replica that reached the hold), as stability.py takes them.
Writes rdf_xtb.csv and rdf_xtb.png into the output folder; the teacher is taken from the first study:

    python docs/stability-study/rdf_xtb.py docs/stability-study results/default results/zbl
"""

import csv
import sys
from pathlib import Path

import numpy as np
from ase.io import read

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from synpre.rdf import hold_frames, rdf, rdf_error  # noqa: E402

REFERENCE = ROOT / "data" / "carbon-gfn1-nvt-1000K.extxyz.gz"
RAMP_PS = 1.4  # 300 -> 1000 K at 500 K/ps
MODELS = {"teacher gap-fit": "teachers/gap-fit/stability-1000K.xyz"} | {
    f"{arm} seed {s}": f"{path}/seed-{s}/stability-1000K.xyz"
    for arm, path in (("direct", "direct/pretrain-0/finetune-25/scratch"),
                      ("pre-trained", "gap-fit/pretrain-800/finetune-25/full"))
    for s in range(3)}


def main(out_dir: str, *studies: str) -> None:
    out_dir, studies = Path(out_dir), [Path(s) for s in studies]
    xtb = read(REFERENCE, ":")
    r, g_xtb = rdf(xtb)
    _, g_teacher = rdf(hold_frames(read(studies[0] / MODELS["teacher gap-fit"], ":"), RAMP_PS))
    rows, curves = [], {"r": r, "GFN1-xTB": g_xtb, "teacher gap-fit": g_teacher}
    for study in studies:
        for name, rel in MODELS.items():
            if name.startswith("teacher") and study != studies[0]:
                continue
            name = name if name.startswith("teacher") else f"{study.name}: {name}"
            frames = hold_frames(read(study / rel, ":"), RAMP_PS)
            _, g = rdf(frames)
            rows.append({"model": name, "hold_frames": len(frames),
                         "rdf_error_vs_xtb": rdf_error(g, g_xtb) if frames else "",
                         "rdf_error_vs_teacher": rdf_error(g, g_teacher) if frames else "",
                         "first_peak_A": float(r[np.nanargmax(g)]) if frames else ""})
            if frames:
                curves[name] = g
    rows.append({"model": "GFN1-xTB", "hold_frames": len(xtb), "rdf_error_vs_xtb": 0.0,
                 "rdf_error_vs_teacher": rdf_error(g_xtb, g_teacher), "first_peak_A": float(r[np.argmax(g_xtb)])})
    with open(out_dir / "rdf_xtb.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for name, g in curves.items():
        if name == "r":
            continue
        style = {"GFN1-xTB": dict(color="k", lw=2.5), "teacher gap-fit": dict(color="grey", lw=2, ls="--")}.get(
            name, dict(lw=1, alpha=0.8))
        ax.plot(r, g, label=name, **style)
    ax.set(xlabel="r (Å)", ylabel="g(r)", xlim=(0.8, 6), title="1000 K hold: models and teacher against GFN1-xTB MD")
    ax.legend(fontsize=7)
    fig.savefig(out_dir / "rdf_xtb.png", dpi=120)
    for row in rows:
        print(row)


if __name__ == "__main__":
    main(*sys.argv[1:])
