"""The deterministic demo world: months of believable org billing, built through the engine.

    from creditdesk.demo import build_demo, DemoWorld
    world = build_demo(now, seed=7, members=24, months=6)

people.py is the cast and their habits, catalogue.py the plans, story.py the owner's acts,
usage.py each day's debits, builder.py the build that writes them all through the engine.
"""

from .builder import MAX_MEMBERS, MAX_MONTHS, build_demo
from .people import MIN_MEMBERS, DemoPerson, Habit
from .world import DemoWorld

__all__ = ["MAX_MEMBERS", "MAX_MONTHS", "MIN_MEMBERS", "DemoPerson", "DemoWorld", "Habit",
           "build_demo"]
