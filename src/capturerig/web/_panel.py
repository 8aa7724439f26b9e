"""The panel's parts wired together: one instance per server, reachable from every route."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from capturerig.subjects import default_registry_path
from capturerig.web._calibration import CalibrationDesk
from capturerig.web._calibration_jobs import CalibrationJobs
from capturerig.web._catalog import Catalog
from capturerig.web._consent import ConsentDesk
from capturerig.web._device_tiles import rig_device_ids
from capturerig.web._devices import PanelDevices, PanelLights
from capturerig.web._hub import EventHub
from capturerig.web._packages import PackageShelf
from capturerig.web._runs import Hardware, RunManager
from capturerig.web._settings import WebSettings
from capturerig.web._thumbs import ThumbnailCache
from capturerig.web._views import PanelViews

__all__ = ["Panel"]


class Panel:
    """Settings, catalog, hub, views and the managers that act on the rig and the storage roots."""

    def __init__(self, settings: WebSettings) -> None:
        settings.check()
        self.settings = settings
        self.sessions_dir = settings.sessions_dir.absolute()
        self.packages_dir = settings.packages_dir.absolute()
        self.catalog = Catalog(settings.rigs, settings.extra_plans)
        self.hardware = Hardware()
        hosts: dict[str, list[str]] = {}
        for entry in self.catalog.rigs.values():
            for host in entry.loaded.config.hosts:
                hosts.setdefault(host.name, []).extend(c for c in host.cameras if c not in hosts.get(host.name, ()))
        motion = rig_device_ids({rig_id: entry.loaded.config for rig_id, entry in self.catalog.rigs.items()})
        self.views = PanelViews(busy=lambda: self.hardware.owner, hosts=hosts, rigs=motion)
        self.hub = EventHub(settings.client_queue_size, [self.views.apply])
        first_rig = next(iter(self.catalog.rigs.values()), None)  # None: every rig file is broken
        registry = settings.registry or default_registry_path(first_rig.loaded.config if first_rig else None)
        self.consent = ConsentDesk(registry, settings.purpose)
        self.runs = RunManager(self.catalog, self.sessions_dir, self.hub, self.hardware, settings.registry,
                               settings.purpose)
        self.devices = PanelDevices(self.hub, self.hardware, self.sessions_dir)
        self.lights = PanelLights(self.hub, self.hardware, {entry.loaded.config.name: entry.loaded.config.safe_state
                                                            for entry in self.catalog.rigs.values()})
        self.hub.reducers.append(self.lights.note_session)  # a session's light changes join the lights history
        self.calibration_dir = (settings.calibration_dir or self.sessions_dir.parent / "calibration").absolute()
        self.calibration = CalibrationDesk(self.calibration_dir)
        self.calibration_jobs = CalibrationJobs(self.catalog, self.runs, self.hardware, self.calibration,
                                                self.calibration_dir / ".staged-rigs")
        self.packages = PackageShelf(self.packages_dir, self.calibration_dir)
        cache = settings.cache_dir or Path(tempfile.mkdtemp(prefix="capturerig-panel-thumbs-"))
        self.thumbs = ThumbnailCache(cache)

    def state(self) -> dict[str, Any]:
        """Everything a freshly opened panel needs, as a ``Snapshot`` message (call on the event loop: the views
        live there)."""
        return self.views.snapshot(clients=len(self.hub.clients))
