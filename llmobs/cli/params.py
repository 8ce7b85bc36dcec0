"""Click parameter types the commands share: numbers are finite.

``click.FloatRange`` lets ``inf`` and ``nan`` through (``nan`` compares false to every
bound), and they then end as a traceback (``time.sleep(inf)``) or a run that never ends. Every
float flag of every command is one of these; the config models refuse the same values in
YAML (``llmobs.config.StrictModel``).
"""

from __future__ import annotations

import math
from typing import Any

import click


class Finite(click.FloatRange):
    """A finite float, optionally within bounds."""

    name = "finite number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if isinstance(number, float) and not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


POSITIVE = Finite(min=0, min_open=True)
"""Greater than 0 and finite: durations, intervals, rates."""

NON_NEGATIVE = Finite(min=0)
"""0 or more and finite."""

FRACTION = Finite(0, 1)
"""From 0 to 1."""
