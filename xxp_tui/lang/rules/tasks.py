"""Rules on task signatures (task.xxp files and signature statements in a task block) and on
the parameters they declare."""

from __future__ import annotations

from xxp_tui.lang import syntax
from xxp_tui.lang.diagnostics import Pos, did_you_mean
from xxp_tui.lang.domains import Domain, RangeDomain, value_type
from xxp_tui.lang.model import PARAM_TYPES, normalise_type
from xxp_tui.lang.rules import Context, Scope, rule

METRIC_KINDS = ("single-value", "series")


def fits_type(value: object, declared: str | None) -> bool:
    """Whether a value suits a declared parameter type (an integer is a fine Float)."""
    if declared is None or declared not in PARAM_TYPES:
        return True
    actual = value_type(value)  # type: ignore[arg-type]
    if declared == "Float":
        return actual in ("Float", "Integer")
    return actual == declared


def within(domain: Domain | None, value: object) -> bool:
    if domain is None:
        return True
    if isinstance(domain, RangeDomain):
        return domain.within_bounds(value)  # type: ignore[arg-type]  # a declared range is a closed interval
    return domain.contains(value)  # type: ignore[arg-type]


def _known_type(p: syntax.ParamDef) -> str | None:
    declared = normalise_type(p.type.text) if p.type else None
    return declared if declared in PARAM_TYPES else None


@rule("task.duplicate-port", Scope.TASK_BLOCK)
def duplicate_port(ctx: Context, block: syntax.TaskBlock) -> None:
    """An input or output port is declared once per task."""
    for direction, ports in (("input", block.inputs), ("output", block.outputs)):
        seen: dict[str, Pos] = {}
        for port in ports:
            if port.text in seen:
                ctx.error(port.pos, f"{direction} port {port.text} is declared twice (first at {seen[port.text]})")
            seen[port.text] = port.pos


@rule("task.duplicate-param", Scope.TASK_BLOCK)
def duplicate_param(ctx: Context, block: syntax.TaskBlock) -> None:
    """A param is declared once per task."""
    seen: set[str] = set()
    for p in block.params:
        if p.name.text in seen:
            ctx.error(p.name.pos, f"param {p.name.text} is declared twice")
        seen.add(p.name.text)


@rule("task.duplicate-metric", Scope.TASK_BLOCK)
def duplicate_metric(ctx: Context, block: syntax.TaskBlock) -> None:
    """A metric is declared once per task."""
    seen: set[str] = set()
    for m in block.metrics:
        if m.name.text in seen:
            ctx.error(m.name.pos, f"metric {m.name.text} is declared twice")
        seen.add(m.name.text)


@rule("task.metric-kind", Scope.TASK_BLOCK)
def metric_kind(ctx: Context, block: syntax.TaskBlock) -> None:
    """A metric's kind is single-value or series."""
    for m in block.metrics:
        if m.kind is not None and m.kind.text not in METRIC_KINDS:
            ctx.error(
                m.kind.pos,
                f"metric kind must be single-value or series, not {m.kind.text}"
                f"{did_you_mean(m.kind.text, METRIC_KINDS)}",
            )


@rule("task.retries", Scope.TASK_BLOCK)
def retries_not_negative(ctx: Context, block: syntax.TaskBlock) -> None:
    """`retries` is 0 or more."""
    if block.retries is not None and block.retries[0] < 0:
        ctx.error(block.retries[1], "retries must be 0 or more")


@rule("param.type", Scope.PARAM)
def param_type(ctx: Context, p: syntax.ParamDef) -> None:
    """A param's type is one of the parameter types."""
    if p.type is not None and _known_type(p) is None:
        ctx.error(
            p.type.pos,
            f"unknown parameter type {p.type.text}{did_you_mean(p.type.text, PARAM_TYPES)} "
            f"(types: {', '.join(PARAM_TYPES)})",
        )


@rule("param.default-type", Scope.PARAM)
def param_default_type(ctx: Context, p: syntax.ParamDef) -> None:
    """A param's literal default is of its declared type."""
    if p.default is None or isinstance(p.default, syntax.Ref):
        return
    declared = _known_type(p)
    if not fits_type(p.default, declared):
        ctx.error(p.name.pos, f"default {p.default!r} of param {p.name.text} is not of type {declared}")


@rule("param.default-in-domain", Scope.PARAM)
def param_default_in_domain(ctx: Context, p: syntax.ParamDef) -> None:
    """A param's literal default (of the right type) lies in its declared range or enum."""
    if p.default is None or isinstance(p.default, syntax.Ref) or not fits_type(p.default, _known_type(p)):
        return
    if p.domain is not None and not within(p.domain, p.default):
        ctx.error(
            p.domain_pos or p.name.pos,
            f"default {p.default!r} of param {p.name.text} is outside its {p.domain.describe()}",
        )
