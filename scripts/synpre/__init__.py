"""synpre: the shared library behind the pipeline's scripts (one thin CLI per Snakemake rule).

Synthetic pre-training for NequIP interatomic potentials (Gardner, Baker & Deringer, MLST 2024):
teacher MD sampling -> teacher labels -> NequIP pre-training -> fine-tuning on few real structures.
"""

__version__ = "0.1.0"
