"""Every installed driver satisfies the protocol of its kind, and every capability it starts to offer, whole.

The drivers are found as the engine finds them, through the ``capturerig.drivers`` entry points, so a new
driver (ours or a plug-in's) is checked the day it is installed. The check is on the class: each member of
the protocol is there, a method with the protocol's parameters by name (more, with defaults, are fine), a
property as a property.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points

import pytest

from capturerig.devices import CAPABILITIES, KIND_PROTOCOLS, TriggerBox

DRIVERS = sorted(entry_points(group="capturerig.drivers"), key=lambda entry: entry.name)


def _members(protocol: type) -> dict[str, object]:
    """The protocol's own members (methods and properties), not object's or Protocol's machinery."""
    return {name: value for name, value in vars(protocol).items()
            if not name.startswith("_") and (callable(value) or isinstance(value, property))}


def _parameters(function: Callable[..., object]) -> list[inspect.Parameter]:
    return [p for p in inspect.signature(function).parameters.values() if p.name != "self"]


def conformance_problems(driver: type, protocol: type) -> list[str]:
    """What ``driver`` lacks of ``protocol``, one line per member."""
    problems = []
    for name, wanted in _members(protocol).items():
        found = inspect.getattr_static(driver, name, None)
        if found is None:
            problems.append(f"{protocol.__name__}.{name}: missing")
        elif isinstance(wanted, property):
            if not isinstance(found, property):
                problems.append(f"{protocol.__name__}.{name}: must be a property")
        elif not callable(found):
            problems.append(f"{protocol.__name__}.{name}: must be a method")
        else:
            required = _parameters(wanted)
            given = {p.name: p for p in _parameters(found)}
            missing = [p.name for p in required if p.name not in given]
            extra = [n for n, p in given.items() if n not in {r.name for r in required}
                     and p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            if missing or extra:
                problems.append(f"{protocol.__name__}.{name}{inspect.signature(found)}: "
                                f"the protocol's parameters are {[p.name for p in required]}")
    return problems


def claimed_capabilities(driver: type, capabilities: Sequence[type]) -> list[type]:
    """The capabilities a driver offers at least one member of (and so must offer whole)."""
    return [c for c in capabilities if any(inspect.getattr_static(driver, n, None) is not None for n in _members(c))]


@pytest.mark.parametrize("entry", DRIVERS, ids=[entry.name for entry in DRIVERS])
def test_every_installed_driver_satisfies_its_kinds_protocol_and_whole_capabilities(entry: EntryPoint) -> None:
    kind = entry.name.split(".", 1)[0]
    assert kind in KIND_PROTOCOLS, f"entry point {entry.name}: unknown kind {kind!r}"
    driver = entry.load()
    problems = conformance_problems(driver, KIND_PROTOCOLS[kind])
    for capability in claimed_capabilities(driver, CAPABILITIES[kind]):
        problems += conformance_problems(driver, capability)
    assert problems == [], f"{entry.name} ({driver.__module__}.{driver.__qualname__})"


def test_every_kind_of_device_has_a_driver_installed() -> None:
    kinds = {entry.name.split(".", 1)[0] for entry in DRIVERS}
    assert kinds == set(KIND_PROTOCOLS)


class _BrokenTrigger:
    """A trigger driver that forgot ``fire`` and half-implemented the sync read-back."""

    def __init__(self) -> None:
        self.fired: list[str] = []

    @property
    def id(self) -> str:
        return "broken"

    def open(self, timeout_s: float) -> None:
        self.fired.clear()

    def close(self) -> None:
        self.fired.clear()

    def read_sync(self, timeout_s: float) -> dict[str, float]:  # lacks wait_for_all
        return {camera: 0.0 for camera in self.fired}

    def outputs(self) -> dict[str, int]:  # a method where the capability has a property
        return {}


def test_the_check_names_what_a_broken_driver_lacks() -> None:
    problems = conformance_problems(_BrokenTrigger, TriggerBox)
    assert problems == ["TriggerBox.fire: missing"]
    claimed = claimed_capabilities(_BrokenTrigger, CAPABILITIES["trigger"])
    assert [c.__name__ for c in claimed] == ["SyncReadBack", "TriggerOutputs"]
    found = [line for c in claimed for line in conformance_problems(_BrokenTrigger, c)]
    assert found == ["SyncReadBack.read_sync(self, timeout_s: 'float') -> 'dict[str, float]': the protocol's "
                     "parameters are ['timeout_s', 'wait_for_all']",
                     "TriggerOutputs.outputs: must be a property"]

