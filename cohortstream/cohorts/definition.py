"""Cohort definitions: the JSON users write, validated into typed criteria.

Invalid definitions fail with ``DefinitionError`` naming the field at fault
(``criteria.conditions.1.within: ...``), which the API and the CLI show as is.
"""

from __future__ import annotations

import hashlib
import re
from functools import cached_property
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MAX_WINDOW_SECONDS = 400 * 86_400  # what bounded per-person state is sized for
COHORT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")

CountOperator = Literal["gt", "gte", "eq", "lte", "lt"]
PersonOperator = Literal[
    "eq",
    "neq",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "regex",
    "in",
    "not_in",
    "is_set",
    "is_not_set",
]


class DefinitionError(ValueError):
    """A definition that cannot be used; ``field`` is the dotted path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def parse_duration(text: str) -> int:
    """``"90s"``, ``"15m"``, ``"12h"``, ``"7d"``, ``"2w"`` -> seconds."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m, 12h or 7d")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PropertyFilter(_Strict):
    """A filter on an event's properties (``where``) - same operators as person conditions."""

    key: Annotated[str, Field(min_length=1)]
    operator: PersonOperator = "eq"
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_operator(self) -> PropertyFilter:
        _check_operator_value(self.operator, self.value)
        return self


PERIOD_SECONDS = {"hour": 3_600, "day": 86_400, "week": 604_800}
# Range and gap conditions keep occurrences thinned to what their width can
# tell apart: about two per width over the span they look back, so the span
# is bounded in widths to keep per-person state bounded.
MAX_SPAN_IN_WIDTHS = 100
MAX_RANGE_POINTS = 1_000


class EventCondition(_Strict):
    type: Literal["event"]
    event: Annotated[str, Field(min_length=1)]
    # first_time: the person's first ever occurrence falls within the window.
    # stopped: occurred within ``between`` but not since its recent end.
    # started_again: an occurrence within the window came after a ``gap`` without one.
    # regularly: occurred in at least ``value`` of the last ``of_last`` periods.
    check: Literal[
        "exists", "not_exists", "count", "first_time", "stopped", "started_again", "regularly"
    ] = "exists"
    operator: CountOperator | None = None
    value: Annotated[int, Field(ge=0)] | None = None
    within: str | None = None
    # ["90d", "30d"]: occurred between 90 and 30 days ago, (now - 90d, now - 30d].
    between: Annotated[list[str], Field(min_length=2, max_length=2)] | None = None
    gap: str | None = None
    of_last: Annotated[int, Field(ge=1)] | None = None
    period: Literal["hour", "day", "week"] | None = None
    where: list[PropertyFilter] = Field(default_factory=list)

    @field_validator("within", "gap")
    @classmethod
    def _window(cls, within: str | None) -> str | None:
        if within is not None and parse_duration(within) > MAX_WINDOW_SECONDS:
            raise ValueError(f"windows are limited to {MAX_WINDOW_SECONDS // 86_400}d")
        return within

    @field_validator("between")
    @classmethod
    def _range(cls, between: list[str] | None) -> list[str] | None:
        if between is None:
            return None
        start, end = (parse_duration(d) for d in between)
        if start <= end:
            raise ValueError("between needs the earlier bound first, as in ['90d', '30d']")
        if start > MAX_WINDOW_SECONDS:
            raise ValueError(f"ranges are limited to {MAX_WINDOW_SECONDS // 86_400}d back")
        if start > MAX_SPAN_IN_WIDTHS * (start - end):
            raise ValueError(
                f"a range must be at least 1/{MAX_SPAN_IN_WIDTHS} as wide as it reaches back"
            )
        return between

    @model_validator(mode="after")
    def _fields_fit_check(self) -> EventCondition:
        check = self.check
        if check == "count" and (self.operator is None or self.value is None):
            raise ValueError("check 'count' needs an operator and a value")
        if check == "regularly":
            if self.value is None or self.value < 1 or self.of_last is None or not self.period:
                raise ValueError("check 'regularly' needs value (>= 1), of_last and period")
            if self.operator is not None:
                raise ValueError("check 'regularly' takes no operator")
            if self.value > self.of_last:
                raise ValueError("value is larger than of_last: it could never match")
            if self.of_last * PERIOD_SECONDS[self.period] > MAX_WINDOW_SECONDS:
                raise ValueError(f"of_last reaches past {MAX_WINDOW_SECONDS // 86_400}d")
        elif check != "count" and (self.operator is not None or self.value is not None):
            raise ValueError(f"check {check!r} takes no operator or value")
        if check != "regularly" and (self.of_last is not None or self.period is not None):
            raise ValueError("of_last and period belong to check 'regularly'")
        if check == "regularly" and (self.within or self.between):
            raise ValueError("check 'regularly' takes no within or between")
        if self.within is not None and self.between is not None:
            raise ValueError("give within or between, not both")
        if check == "first_time" and self.within is None:
            raise ValueError("check 'first_time' needs within (when the first time counts)")
        if check == "stopped" and self.between is None:
            raise ValueError("check 'stopped' needs between (when it was done)")
        if check == "started_again":
            if self.gap is None or self.within is None:
                raise ValueError("check 'started_again' needs gap and within")
            if parse_duration(self.within) > MAX_SPAN_IN_WIDTHS * parse_duration(self.gap):
                raise ValueError(f"within may be at most {MAX_SPAN_IN_WIDTHS} times the gap")
        elif self.gap is not None:
            raise ValueError("gap belongs to check 'started_again'")
        if check in ("first_time", "started_again") and self.between is not None:
            raise ValueError(f"check {check!r} takes within, not between")
        span = self.range_seconds
        if check == "count" and span is not None:
            widths = span[0] / (span[0] - span[1])
            if (self.value or 0) + 1 > MAX_RANGE_POINTS / widths:
                raise ValueError(
                    f"a count over this range may be at most {int(MAX_RANGE_POINTS / widths) - 1}"
                    " (it keeps about value + 1 occurrences per width it reaches back)"
                )
        return self

    # Definitions are frozen and read on every evaluation: what they derive is kept.
    @cached_property
    def spec_key(self) -> str:
        """Conditions on the same event and filters share one counter."""
        return event_spec_key(self.event, self.where)

    @cached_property
    def window_seconds(self) -> int | None:
        return None if self.within is None else parse_duration(self.within)

    @cached_property
    def range_seconds(self) -> tuple[int, int] | None:
        """``between`` as (start, end) seconds back from now."""
        if self.between is None:
            return None
        return parse_duration(self.between[0]), parse_duration(self.between[1])

    @cached_property
    def gap_seconds(self) -> int | None:
        return None if self.gap is None else parse_duration(self.gap)

    @cached_property
    def period_seconds(self) -> int | None:
        return None if self.period is None else PERIOD_SECONDS[self.period]


def event_spec_key(event: str, where: list[PropertyFilter]) -> str:
    """The counter of an event name and its filters, whatever their order."""
    filters = sorted(
        (f.key, f.operator, orjson.dumps(f.value, option=orjson.OPT_SORT_KEYS).decode())
        for f in where
    )
    return event + ("?" + orjson.dumps(filters).decode() if filters else "")


MAX_SEQUENCE_STEPS = 5


class SequenceStep(_Strict):
    event: Annotated[str, Field(min_length=1)]
    where: list[PropertyFilter] = Field(default_factory=list)
    # How soon after the previous step this one must come; none on the first.
    within: str | None = None

    @field_validator("within")
    @classmethod
    def _gap(cls, within: str | None) -> str | None:
        if within is not None:
            parse_duration(within)
        return within

    @cached_property
    def spec_key(self) -> str:
        return event_spec_key(self.event, self.where)


class SequenceCondition(_Strict):
    """Steps done in order, each strictly after the previous one and at most its
    ``within`` later, the last one inside the rolling ``within`` of the whole."""

    type: Literal["sequence"]
    steps: Annotated[list[SequenceStep], Field(min_length=2, max_length=MAX_SEQUENCE_STEPS)]
    within: str

    @field_validator("within")
    @classmethod
    def _window(cls, within: str) -> str:
        parse_duration(within)
        return within

    @model_validator(mode="after")
    def _steps_fit(self) -> SequenceCondition:
        if self.steps[0].within is not None:
            raise ValueError("the first step takes no within (nothing comes before it)")
        for number, step in enumerate(self.steps[1:], start=2):
            if step.within is None:
                raise ValueError(f"step {number} needs within (how soon after step {number - 1})")
        if self.horizons[0] > MAX_WINDOW_SECONDS:
            raise ValueError(
                f"within and the steps' within together reach past {MAX_WINDOW_SECONDS // 86_400}d"
            )
        return self

    @cached_property
    def window_seconds(self) -> int:
        return parse_duration(self.within)

    @cached_property
    def gaps(self) -> tuple[int, ...]:
        """Seconds allowed before each step after the first."""
        return tuple(parse_duration(step.within or "") for step in self.steps[1:])

    @cached_property
    def horizons(self) -> tuple[int, ...]:
        """How far back each step's occurrences can still start a chain ending in the window."""
        return tuple(
            self.window_seconds + sum(self.gaps[index:]) for index in range(len(self.steps))
        )

    @cached_property
    def step_lists(self) -> tuple[tuple[int, int], ...]:
        """Per step, (horizon, thinning width) of the occurrence list it reads. The
        first step only has to say whether some occurrence precedes a second-step
        one by at most its gap: a window question, so it is thinned to that width."""
        return tuple(
            (horizon, self.gaps[0] if index == 0 else 0)
            for index, horizon in enumerate(self.horizons)
        )


class PersonCondition(_Strict):
    type: Literal["person"]
    key: Annotated[str, Field(min_length=1)]
    operator: PersonOperator
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_operator(self) -> PersonCondition:
        _check_operator_value(self.operator, self.value)
        return self


class CohortCondition(_Strict):
    type: Literal["cohort"]
    cohort_id: Annotated[str, Field(pattern=COHORT_ID.pattern)]
    member: bool = True


class AndCondition(_Strict):
    type: Literal["and"]
    conditions: Annotated[list[Condition], Field(min_length=1)]


class OrCondition(_Strict):
    type: Literal["or"]
    conditions: Annotated[list[Condition], Field(min_length=1)]


class NotCondition(_Strict):
    type: Literal["not"]
    condition: Condition


Condition = Annotated[
    EventCondition
    | SequenceCondition
    | PersonCondition
    | CohortCondition
    | AndCondition
    | OrCondition
    | NotCondition,
    Field(discriminator="type"),
]


class CohortDefinition(_Strict):
    id: Annotated[str, Field(pattern=COHORT_ID.pattern)]
    project_id: Annotated[int, Field(gt=0)]
    name: Annotated[str, Field(min_length=1, max_length=400)]
    kind: Literal["dynamic", "static", "manual"] = "dynamic"
    criteria: Condition | None = None
    min_dwell: str | None = None
    max_dwell: str | None = None
    entry_limit: Literal["unlimited", "once"] | Annotated[int, Field(ge=1)] = "unlimited"

    @field_validator("min_dwell", "max_dwell")
    @classmethod
    def _dwell(cls, dwell: str | None) -> str | None:
        if dwell is not None:
            parse_duration(dwell)
        return dwell

    @model_validator(mode="after")
    def _criteria_fit_kind(self) -> CohortDefinition:
        if self.kind == "manual" and self.criteria is not None:
            raise ValueError("manual cohorts take no criteria (members are added by the API)")
        if self.kind != "manual" and self.criteria is None:
            raise ValueError(f"{self.kind} cohorts need criteria")
        if (
            self.min_dwell
            and self.max_dwell
            and parse_duration(self.min_dwell) > parse_duration(self.max_dwell)
        ):
            raise ValueError("min_dwell is longer than max_dwell")
        return self

    @cached_property
    def min_dwell_seconds(self) -> int:
        return 0 if self.min_dwell is None else parse_duration(self.min_dwell)

    @cached_property
    def max_dwell_seconds(self) -> int | None:
        return None if self.max_dwell is None else parse_duration(self.max_dwell)

    @cached_property
    def max_entries(self) -> int | None:
        if self.entry_limit == "unlimited":
            return None
        return 1 if self.entry_limit == "once" else int(self.entry_limit)


def _check_operator_value(operator: str, value: Any) -> None:
    if operator in ("is_set", "is_not_set"):
        if value is not None:
            raise ValueError(f"operator {operator!r} takes no value")
        return
    if value is None:
        raise ValueError(f"operator {operator!r} needs a value")
    if operator in ("in", "not_in") and not isinstance(value, list):
        raise ValueError(f"operator {operator!r} needs a list value")
    if operator == "regex":
        if not isinstance(value, str):
            raise ValueError("operator 'regex' needs a string value")
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from None
    if operator in ("gt", "gte", "lt", "lte") and (
        isinstance(value, bool) or not isinstance(value, (int, float, str))
    ):
        raise ValueError(f"operator {operator!r} needs a number or a string")


def parse_definition(raw: Any) -> CohortDefinition:
    """Validate one definition (a dict from JSON); raises DefinitionError."""
    try:
        return CohortDefinition.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(_field_path(error["loc"]))
        raise DefinitionError(field, error["msg"].removeprefix("Value error, ")) from None


_TAGS = frozenset({"event", "sequence", "person", "cohort", "and", "or", "not"})


def _field_path(loc: tuple[Any, ...]) -> list[str]:
    """pydantic's location without the union tags it inserts (``criteria.and.conditions``)."""
    parts: list[str] = []
    for part in loc:
        text = str(part)
        after_condition = parts and (parts[-1] in ("criteria", "condition") or parts[-1].isdigit())
        if text in _TAGS and after_condition:
            continue
        parts.append(text)
    return parts


def generation_of(definition: CohortDefinition) -> str:
    """What a cohort's history depends on: its criteria. A new generation is
    materialized from history again; renames and dwell changes are not."""
    criteria = definition.criteria.model_dump(mode="json") if definition.criteria else None
    body = orjson.dumps([definition.kind, criteria], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha1(body, usedforsecurity=False).hexdigest()[:16]


def leaves(condition: Any) -> list[Any]:
    """The conditions of a criteria tree below its and/or/not, in order (none for
    the criteria-less manual cohorts)."""
    if isinstance(condition, (AndCondition, OrCondition)):
        return [leaf for c in condition.conditions for leaf in leaves(c)]
    if isinstance(condition, NotCondition):
        return leaves(condition.condition)
    return [] if condition is None else [condition]


def referenced_cohorts(condition: Any) -> set[str]:
    """Ids of the cohorts a criteria tree reads."""
    return {c.cohort_id for c in leaves(condition) if isinstance(c, CohortCondition)}


def dependency_order(definitions: list[CohortDefinition]) -> list[CohortDefinition]:
    """Definitions ordered so each comes after the cohorts it reads; rejects cycles
    and references to cohorts of other projects or none at all."""
    by_id = {d.id: d for d in definitions}
    ordered: list[CohortDefinition] = []
    state: dict[str, str] = {}

    def visit(definition: CohortDefinition, path: list[str]) -> None:
        if state.get(definition.id) == "done":
            return
        if state.get(definition.id) == "visiting":
            cycle = " -> ".join([*path[path.index(definition.id) :], definition.id])
            raise DefinitionError("criteria", f"cohort references form a cycle: {cycle}")
        state[definition.id] = "visiting"
        for reference in sorted(referenced_cohorts(definition.criteria)):
            target = by_id.get(reference)
            if target is None or target.project_id != definition.project_id:
                raise DefinitionError(
                    "criteria", f"cohort {definition.id!r} references unknown cohort {reference!r}"
                )
            visit(target, [*path, definition.id])
        state[definition.id] = "done"
        ordered.append(definition)

    for definition in definitions:
        visit(definition, [])
    return ordered


AndCondition.model_rebuild()
OrCondition.model_rebuild()
NotCondition.model_rebuild()
CohortDefinition.model_rebuild()
