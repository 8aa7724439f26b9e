"""Our setting names and values <-> a camera's config widgets and choices (pure; stdlib only).

A body profile maps each setting (``aperture``) to the brand's widget (``f-number`` on Nikon and Sony,
``aperture`` on Canon) and, where the spellings differ, our values to the camera's (``daylight`` ->
``Daylight``). Without a value map, numbers are matched by value, so ``shutter: 1/100`` finds ``1/100``
on a Nikon and ``0.0100s`` on libgphoto2's virtual camera, and ``aperture: 8`` finds ``f/8`` or ``8``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

__all__ = [
    "DEFAULT_WIDGETS",
    "SETTING_NAMES",
    "SettingRefused",
    "WidgetInfo",
    "read_back",
    "resolve_settings",
    "widget_candidates",
]

SETTING_NAMES = ("iso", "shutter", "aperture", "whitebalance", "imageformat", "capturetarget")

# Used when a body profile does not map a setting: the common libgphoto2 names, first match wins.
DEFAULT_WIDGETS: dict[str, tuple[str, ...]] = {
    "iso": ("iso",),
    "shutter": ("shutterspeed", "shutterspeed2"),
    "aperture": ("f-number", "aperture"),
    "whitebalance": ("whitebalance",),
    "imageformat": ("imageformat", "imagequality"),
    "capturetarget": ("capturetarget",),
}
_NUMERIC = frozenset({"iso", "shutter", "aperture"})
_RELATIVE_TOLERANCE = 0.02  # 1/3-stop neighbours differ by >= 7 %, printing rounds to ~1 %


@dataclass(frozen=True)
class WidgetInfo:
    """One config widget as the camera offers it (``choices`` empty for free text or ranges)."""

    name: str
    value: str
    choices: tuple[str, ...] = ()
    readonly: bool = False


class SettingRefused(ValueError):
    """A setting the camera does not have, or a value it does not offer."""

    def __init__(self, setting: str, message: str) -> None:
        self.setting = setting
        super().__init__(message)


def _number(text: str) -> float | None:
    """``1/125`` -> 0.008, ``f/8`` -> 8, ``0.0100s`` -> 0.01, ``ISO 100`` -> 100; None if not a number."""
    cleaned = re.sub(r"^(f/|iso\s*)", "", text.strip().lower())
    cleaned = re.sub(r"\s*(s|sec|\")$", "", cleaned)
    try:
        if "/" in cleaned:
            return float(Fraction(cleaned))
        return float(cleaned)
    except (ValueError, ZeroDivisionError):
        return None


def _same_number(a: str, b: str) -> bool:
    x, y = _number(a), _number(b)
    if x is None or y is None:
        return False
    return abs(x - y) <= _RELATIVE_TOLERANCE * max(abs(x), abs(y))


def _value_map(spec: Mapping[str, Any]) -> dict[str, str]:
    values = spec.get("values") or {}
    return {str(k): str(v) for k, v in values.items()}


def widget_candidates(setting: str, mapping: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...]:
    """The widget names ``setting`` may live in: the profile's, else the common libgphoto2 names."""
    spec = mapping.get(setting)
    if spec is not None:
        return (str(spec["widget"]),)
    return DEFAULT_WIDGETS.get(setting, (setting,))


def _find_widget(setting: str, mapping: Mapping[str, Mapping[str, Any]],
                 widgets: Mapping[str, WidgetInfo]) -> WidgetInfo:
    candidates = widget_candidates(setting, mapping)
    for name in candidates:
        if name in widgets:
            return widgets[name]
    known = ", ".join(SETTING_NAMES)
    where = (f"no widget {' or '.join(repr(c) for c in candidates)}" if setting in SETTING_NAMES or setting in mapping
             else f"not a setting name we know ({known})")
    raise SettingRefused(setting, f"{setting} is not supported by this camera ({where})")


def _to_camera(setting: str, value: str, widget: WidgetInfo, values: Mapping[str, str]) -> str:
    lowered = {k.lower(): v for k, v in values.items()}
    wanted = lowered.get(value.strip().lower(), value.strip())
    if not widget.choices:
        return wanted
    for choice in widget.choices:
        if choice.lower() == wanted.lower():
            return choice
    if setting in _NUMERIC:
        for choice in widget.choices:
            if _same_number(wanted, choice):
                return choice
    reverse = {v: k for k, v in values.items()}
    offered = ", ".join(reverse.get(c, c) for c in widget.choices)
    raise SettingRefused(setting, f"{setting} {value} is not offered by this camera "
                                  f"(widget '{widget.name}' offers: {offered})")


def resolve_settings(settings: Mapping[str, str], mapping: Mapping[str, Mapping[str, Any]],
                     widgets: Mapping[str, WidgetInfo]) -> dict[str, tuple[str, str]]:
    """Our settings as ``{setting: (widget name, camera value)}``; raises SettingRefused for the first refusal.

    Parameters
    ----------
    settings
        Our names and values, e.g. ``{"aperture": "8"}``.
    mapping
        The body profile's ``widgets`` section as plain data: ``{setting: {"widget": name, "values": {..}}}``.
    widgets
        Every widget the camera offers, by name.
    """
    resolved: dict[str, tuple[str, str]] = {}
    for setting, value in settings.items():
        widget = _find_widget(setting, mapping, widgets)
        if widget.readonly:
            raise SettingRefused(setting, f"{setting} is read-only on this camera (widget '{widget.name}'); "
                                          "set it on the camera body (mode dial)")
        resolved[setting] = (widget.name, _to_camera(setting, value, widget, _value_map(mapping.get(setting, {}))))
    return resolved


def read_back(requested: Mapping[str, str], resolved: Mapping[str, tuple[str, str]],
              mapping: Mapping[str, Mapping[str, Any]], widgets: Mapping[str, WidgetInfo]) -> dict[str, str]:
    """The camera's current values in our terms: the requested string when the camera holds what was written."""
    result: dict[str, str] = {}
    for setting, value in requested.items():
        widget_name, written = resolved[setting]
        current = widgets[widget_name].value
        reverse = {v: k for k, v in _value_map(mapping.get(setting, {})).items()}
        if current == written or (setting in _NUMERIC and _same_number(current, value)):
            result[setting] = value
        else:
            result[setting] = reverse.get(current, current)
    return result
