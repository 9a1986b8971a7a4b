"""Values a human types: parsing `key=value` and checking them against a space or a form.

Shared by the CLI, the TUI's forms and the engine (which checks again before acting), so all three
accept and refuse exactly the same things, with the same sentences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from xxp_tui.lang.domains import EnumDomain, RangeDomain, Scalar, UniformDomain
from xxp_tui.lang.model import ParamSpec, Space, Workflow


def parse_value(raw: str) -> Scalar:
    """`3` -> 3, `0.1` -> 0.1, `true` -> True, `"a b"` -> 'a b', anything else stays text."""
    text = raw.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return raw
    return value if math.isfinite(value) else raw


def parse_assignments(items: list[str]) -> tuple[dict[str, Scalar], list[str]]:
    """`["Train.lr=0.1", "k=rbf"]` -> values, errors."""
    values: dict[str, Scalar] = {}
    errors = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            errors.append(f"{item!r} is not key=value")
            continue
        values[key.strip()] = parse_value(raw)
    return values, errors


def _type_ok(value: Scalar, declared: str | None) -> bool:
    if declared is None:
        return True
    if declared == "Integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if declared == "Float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if declared == "Boolean":
        return isinstance(value, bool)
    if declared == "String":
        return isinstance(value, str)
    return True


def _default_in(domains: tuple, declared: ParamSpec | None) -> Scalar | None:
    if declared is not None and declared.default is not None and any(d.contains(declared.default) for d in domains):
        return declared.default
    d = domains[0]
    if isinstance(d, EnumDomain):
        return d.values[0] if d.values else None
    if isinstance(d, RangeDomain) and d.is_finite:
        values = d.enumerate()
        return values[len(values) // 2] if values else None
    if isinstance(d, RangeDomain):
        return math.sqrt(d.start * d.stop) if d.log else (d.start + d.stop) / 2
    if isinstance(d, UniformDomain):
        return math.sqrt(d.low * d.high) if d.log else (d.low + d.high) / 2
    return None


@dataclass
class Injection:
    config: dict[str, Scalar] = field(default_factory=dict)  # by value list, as strategies make them
    params: dict[str, Scalar] = field(default_factory=dict)  # by Task.param
    errors: list[str] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)  # parameters given their default
    off_grid: list[str] = field(default_factory=list)  # `Task.param`s set to a value the space's lists lack

    @property
    def ok(self) -> bool:
        return not self.errors


def space_parameters(space: Space, workflow: Workflow | None) -> dict[str, tuple[str, ParamSpec | None]]:
    """`Task.param` -> (value list, declared spec) for every parameter the space varies."""
    declared = workflow.declared_params() if workflow else {}
    return {b.key: (b.vp, declared.get(b.key)) for b in space.bindings if b.vp is not None}


def check_injection(space: Space, workflow: Workflow | None, values: Mapping[str, Scalar]) -> Injection:
    """Check a human-chosen point of `space`; keys are `Task.param` or value-list names."""
    out = Injection()
    params = space_parameters(space, workflow)
    by_vp = {vp: key for key, (vp, _) in params.items()}
    fixed = {b.key for b in space.bindings if b.vp is None}
    chosen: dict[str, Scalar] = {}
    for key, value in values.items():
        key, problem = _resolve_key(key, space, params, by_vp, fixed)
        if problem:
            out.errors.append(problem)
            continue
        if key in fixed:
            out.errors.append(f"{key} is fixed by space {space.name}; it cannot be set")
            continue
        if key not in params:
            listed = ", ".join(params) or "none"
            out.errors.append(f"{key} is not a parameter of space {space.name} (its parameters: {listed})")
            continue
        chosen[key] = value
    # Parameters bound to the same value list take one value: a variant is one point of the space.
    by_list: dict[str, Scalar] = {}
    for key, value in chosen.items():
        vp = params[key][0]
        if vp in by_list and by_list[vp] != value:
            out.errors.append(f"{key}={value!r}: it shares the value list {vp} with a parameter set to "
                              f"{by_list[vp]!r}; give them one value")
        by_list.setdefault(vp, value)
    for key, (vp, declared) in params.items():
        domains = space.param_values.get(vp, ())
        if key not in chosen and vp in by_list:
            chosen[key] = by_list[vp]
        if key not in chosen:
            default = _default_in(domains, declared) if domains else (declared.default if declared else None)
            if default is None:
                out.errors.append(f"{key} needs a value")
                continue
            chosen[key] = by_list[vp] = default
            out.filled.append(f"{key}={default}")
        value = chosen[key]
        if declared is not None and not _type_ok(value, declared.type):
            out.errors.append(f"{key}={value!r} is not of type {declared.type}")
            continue
        if declared is not None and declared.type == "Integer" and isinstance(value, float):
            value = int(value)
        if domains and not any(d.contains(value) for d in domains):
            shown = " + ".join(d.describe() for d in domains)
            admitted = _declared_admits(declared, value)
            if admitted is None:
                out.errors.append(f"{key}={value!r} is not in the space's {vp} = {shown}, and {key} declares no range "
                                  "that would admit another value")
                continue
            if not admitted:
                assert declared is not None and declared.domain is not None  # else admitted would be None
                out.errors.append(f"{key}={value!r} is outside {key}'s declared {declared.domain.describe()} "
                                  f"(the space's {vp} = {shown})")
                continue
            out.off_grid.append(key)
        out.params[key] = value
        out.config[vp] = value
    for b in space.bindings:
        if b.vp is None:
            out.params[b.key] = cast(Scalar, b.value)  # a binding without a value list has a fixed value
    return out


def _resolve_key(key: str, space: Space, params: Mapping, by_vp: Mapping[str, str], fixed: set[str]
                 ) -> tuple[str, str | None]:
    """`Task.param`, a value list's name, or a param's short name when only one task of the space has it."""
    if key in params or key in fixed or "." in key:
        return key, None
    if key in by_vp:
        return by_vp[key], None
    matches = [k for k in (*params, *sorted(fixed)) if k.split(".", 1)[-1] == key]
    if len(matches) == 1:
        return matches[0], None
    if len(matches) > 1:
        return key, f"{key} is ambiguous in space {space.name}: say which one ({', '.join(matches)})"
    return key, None


def _declared_admits(declared: ParamSpec | None, value: Scalar) -> bool | None:
    """Whether the task's declared range (or enum) admits `value`; None when it declares none."""
    domain = declared.domain if declared is not None else None
    if domain is None:
        return None
    if isinstance(domain, RangeDomain):
        return domain.within_bounds(value)
    return domain.contains(value)


def check_answer(fields: Mapping[str, ParamSpec], values: Mapping[str, Scalar]) -> tuple[dict[str, Scalar], list[str]]:
    """An interaction's answer: declared fields are typed and checked; with no declared fields,
    any key=value pairs are accepted."""
    if not fields:
        return dict(values), []
    errors = []
    answer: dict[str, Scalar] = {}
    for key, value in values.items():
        if key not in fields:
            errors.append(f"{key} is not a field of this interaction (fields: {', '.join(fields)})")
            continue
        spec = fields[key]
        if spec.type == "Boolean" and isinstance(value, str) and value.lower() in ("yes", "no", "y", "n"):
            value = value.lower() in ("yes", "y")
        if not _type_ok(value, spec.type):
            errors.append(f"{key}={value!r} is not of type {spec.type}")
            continue
        if spec.domain is not None and not (
            spec.domain.within_bounds(value) if isinstance(spec.domain, RangeDomain) else spec.domain.contains(value)
        ):
            errors.append(f"{key}={value!r} is outside {spec.domain.describe()}")
            continue
        answer[key] = value
    for key, spec in fields.items():
        if key not in answer and key not in values:
            if spec.default is None:
                errors.append(f"{key} needs a value")
            else:
                answer[key] = spec.default
    return answer, errors

