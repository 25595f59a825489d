"""Helpers shared by the thin command-line scripts in ``scripts/``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path


def json_arg(text: str):
    """A JSON value given inline, or ``@path`` to a JSON file (the form the rules pass, printable by hand)."""
    if text.startswith("@"):
        return json.loads(Path(text[1:]).read_text())
    return json.loads(text)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--threads", type=int, default=1, help="threads for torch/OpenMP (the rule's threads:)")
    p.add_argument("--log", help="also write the log to this file")
    return p


def setup_logging(logfile: str | None = None) -> logging.Logger:
    handlers = [logging.StreamHandler(sys.stderr)]
    if logfile:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(logfile, mode="a"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers, force=True)
    return logging.getLogger("synpre")


def fail(message: str) -> None:
    """Stop with one clear line (the message names the file / index / key and the fix)."""
    print(f"ERROR: {message}", file=sys.stderr)
    raise SystemExit(1)


def part_parser(description: str) -> argparse.ArgumentParser:
    """Arguments of the jobs that split given structures into parts (perturb, nvt)."""
    p = parser(description)
    p.add_argument("--inputs", nargs="+", required=True, help="extxyz files of the source structures")
    p.add_argument("--settings", type=json_arg, required=True, help="the config section (JSON or @file)")
    p.add_argument("--part", type=int, default=0, help="this job takes source structures part, part+parts, ...")
    p.add_argument("--parts", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    return p


def source_structures(args) -> list:
    """All source structures (numbered in info['source_index']), cut to settings['max_sources']."""
    from .datasets import read_frames

    sources = [a for path in args.inputs for a in read_frames(path)]
    for i, a in enumerate(sources):
        a.info.setdefault("source_index", i)
    return sources[: args.settings.get("max_sources") or None]


def with_synpre_importable(env: dict) -> dict:
    """``env`` for a nequip-train/-package/-compile subprocess: the generated nequip configs name synpre's
    callbacks, training-set sampler and parameter groups, which those tools import by name."""
    scripts = str(Path(__file__).resolve().parents[1])
    return dict(env, PYTHONPATH=os.pathsep.join(filter(None, [scripts, env.get("PYTHONPATH")])))
