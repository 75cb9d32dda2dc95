"""How a setting is declared, once: its default, its type (the annotation beside it), the rule its values
obey and the comment `--help` shows. Hydra types the composed config by these dataclasses; `config`
checks the rules before torch is imported, so a bad value is answered in a fraction of a second."""

import copy
from collections.abc import Callable
from dataclasses import field
from typing import Any

Rule = tuple[Callable[[Any], bool], str]  # (allowed(value), what the value must be)


def setting(default: Any, comment: str = "", rule: Rule | None = None) -> Any:
    """A dataclass field with its default, its `--help` comment and its rule."""
    # pylint: disable=invalid-field-call  # this helper builds the field that a dataclass body assigns
    metadata = {"comment": comment, "rule": rule}
    if isinstance(default, (list, dict)) or hasattr(default, "__dataclass_fields__"):  # mutable: a copy per instance
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def is_int(value: object) -> bool:
    """An int to a user: True is an int to Python, not to a user."""
    return isinstance(value, int) and not isinstance(value, bool)


def at_least(low: float, expected: str) -> Rule:
    """value >= low."""
    return (lambda value: value >= low), expected


def positive(expected: str = "a positive number") -> Rule:
    """value > 0."""
    return (lambda value: value > 0), expected


def one_of(*choices: object) -> Rule:
    """One of `choices`; 1 == True in Python, so a choice matches only a value of its own type."""

    def allowed(value: object) -> bool:
        return any(value == choice and type(value) is type(choice) for choice in choices)

    return allowed, ", ".join(str(choice).lower() for choice in choices[:-1]) + f" or {str(choices[-1]).lower()}"


POSITIVE = positive()
AT_LEAST_0 = at_least(0, "0 or more")
AUTO_OR_BOOL = one_of("auto", True, False)
AUTO_OR_POSITIVE: Rule = (lambda value: value == "auto" or (is_int(value) and value > 0), "auto or a positive number")
FRACTION: Rule = (lambda value: 0 <= value <= 1, "a fraction between 0 and 1")
SECONDS = positive("a positive number of seconds")
WIDTHS: Rule = (
    lambda value: bool(value) and all(is_int(width) and width > 0 for width in value),
    "a list of positive widths",
)
SEED_RANGE: Rule = (
    lambda value: is_int(value) and 0 <= value < 2**32,  # numpy's and Lightning's seeds are 32-bit
    "a whole number from 0 to 4294967295",
)
PATH: Rule = (lambda value: bool(str(value).strip()), "a path (not empty)")
