"""The study config against its JSON schema, as one line that names the key and the fix.

Snakemake's own ``validate`` prints the whole schema after the first error; a user with a typo needs the
key, what is wrong with it and, for an unknown key, the nearest known one.
"""

from __future__ import annotations

import copy
import difflib

import jsonschema
import yaml


class ConfigError(ValueError):
    pass


def _where(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def nearest(name: str, known) -> str | None:
    """The known name closest to a misspelt one, if any is close."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return close[0] if close else None


# keys a config may still carry from an older version of the workflow: what replaced them
REPLACED = {
    "stability.t_max": "stability.temperatures (a list of hold temperatures, K, e.g. [3000])",
    "stability.ramp_ps": "stability.ramp_rate_K_per_ps (the ramp lasts (T - t_start) / rate)",
    "stability.force_sigma": "stability.alarm_margin (the force alarm is calibrated: margin x the largest force "
                             "of the training cells and of the teacher's MD)",
    "stability.start.index": "stability.replicas and stability.start.where (replicas start from cells spread "
                             "through the pool)",
}


def _unknown_key(error) -> str | None:
    """'config key training.lrr is not known (did you mean training.lr?)' for an additionalProperties error."""
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return None
    known = list(error.schema.get("properties", {}))
    extra = [k for k in error.instance if k not in known]
    if not extra:
        return None
    prefix = ".".join(str(p) for p in error.absolute_path)
    key = f"{prefix}.{extra[0]}" if prefix else extra[0]
    if key in REPLACED:
        return f"config key {key} was replaced by {REPLACED[key]}"
    close = nearest(extra[0], known)
    hint = f"did you mean {prefix + '.' if prefix else ''}{close}?" if close else \
        f"known keys here: {', '.join(sorted(known))}"
    return f"config key {key} is not known ({hint})"


def load_schema(schema_path: str) -> dict:
    with open(schema_path) as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def check_config(config: dict, schema: dict, source: str = "the config") -> None:
    """Raise ConfigError with one line for the most relevant schema violation of ``config``."""
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if not errors:
        return
    # a misspelt key also leaves its correct spelling missing: name the typo, not the missing key
    unknown = [e for e in errors if _unknown_key(e)]
    error = unknown[0] if unknown else jsonschema.exceptions.best_match(errors)
    # an error deep inside an anyOf/allOf branch says more than the branch's summary
    while error.context:
        error = jsonschema.exceptions.best_match(error.context)
    message = _unknown_key(error) or f"config key {_where(error)}: {error.message}"
    raise ConfigError(f"{source}: {message}; fix it and rerun (every key is described in config/config.yaml "
                      "and workflow/schemas/config.schema.yaml)")


def fill_defaults(config: dict, schema: dict) -> None:
    """Fill ``config`` in place with the schema's defaults, as snakemake.utils.validate does (the recipe
    of jsonschema's FAQ), from the schema already loaded: parsing it again cost a dry run ~0.3 s."""
    base = jsonschema.Draft202012Validator
    properties = base.VALIDATORS["properties"]

    def set_defaults(validator, props, instance, subschema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from properties(validator, props, instance, subschema)

    jsonschema.validators.extend(base, {"properties": set_defaults})(schema).validate(config)


def drop_disabled(config: dict) -> None:
    """An optional synthetic source switched off by an overlay (``perturbation: {enabled: false}`` over the
    default's block) is no source at all: the rules test ``config.get("perturbation")``."""
    block = config.get("perturbation")
    if isinstance(block, dict) and block.pop("enabled", True) is False:  # not in the perturb jobs' settings either
        del config["perturbation"]
