"""The camera worker: one process per camera, the only place libgphoto2 is loaded.

Started by :mod:`capturerig.devices.gphoto2._process` as a fresh interpreter that loads only this
subpackage's stdlib modules (not capturerig's heavy ``__init__``), sets ``VCAMERADIR`` when asked and
only then imports ``gphoto2``. It answers one request at a time over stdin/stdout (see ``_wire``);
libgphoto2's own chatter goes to stderr, which the controller keeps the tail of for crash reports.
"""

from __future__ import annotations

import os
import posixpath
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from capturerig.devices.gphoto2._errors import FATAL_CODES, explain_gphoto2_error
from capturerig.devices.gphoto2._pairing import ExposureFiles, format_of
from capturerig.devices.gphoto2._widgets import (
    SettingRefused,
    WidgetInfo,
    read_back,
    resolve_settings,
)
from capturerig.devices.gphoto2._wire import WorkerGone, read_message, write_message

__all__ = ["main"]

EVENT_POLL_MS = 200


class _Failure(Exception):
    def __init__(self, message: str, *, code: int | None = None, setting: str | None = None,
                 hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.setting = setting
        self.hint = hint


class _Worker:
    def __init__(self, gp: Any) -> None:
        self.gp = gp
        self.camera: Any = None
        self.mapping: dict[str, dict[str, Any]] = {}
        self.extensions: dict[str, str] = {"jpeg": "jpg"}
        self.notes: list[str] = []
        self.model = self.port = self.serial = ""

    # -- binding -------------------------------------------------------------------------------------
    def _open(self, model: str, port: str) -> Any:
        gp = self.gp
        ports = gp.PortInfoList()
        ports.load()
        abilities = gp.CameraAbilitiesList()
        abilities.load()
        camera = gp.Camera()
        camera.set_port_info(ports[ports.lookup_path(port)])
        camera.set_abilities(abilities[abilities.lookup_model(model)])
        camera.init()
        return camera

    def _widgets(self) -> dict[str, WidgetInfo]:
        gp = self.gp
        found: dict[str, WidgetInfo] = {}

        def walk(widget: Any) -> None:
            kind = widget.get_type()
            if kind in (gp.GP_WIDGET_WINDOW, gp.GP_WIDGET_SECTION):
                for child in widget.get_children():
                    walk(child)
                return
            if kind == gp.GP_WIDGET_BUTTON:
                return
            choices: tuple[str, ...] = ()
            if kind in (gp.GP_WIDGET_RADIO, gp.GP_WIDGET_MENU):
                choices = tuple(str(widget.get_choice(i)) for i in range(widget.count_choices()))
            try:
                value = widget.get_value()
            except gp.GPhoto2Error:
                return
            found.setdefault(widget.get_name(), WidgetInfo(widget.get_name(), str(value), choices,
                                                           bool(widget.get_readonly())))

        walk(self.camera.get_config())
        return found

    def _serial(self, camera: Any) -> str:
        config = camera.get_config()
        try:
            return str(config.get_child_by_name("serialnumber").get_value()).strip()
        except self.gp.GPhoto2Error:
            for line in str(camera.get_summary()).splitlines():
                if "serial number" in line.lower():
                    return line.split(":", 1)[1].strip()
        return ""

    def connect(self, request: Mapping[str, Any]) -> dict[str, Any]:
        gp = self.gp
        self.close()
        self.mapping = dict(request.get("widgets") or {})
        self.extensions = dict(request["extensions"])
        wanted: str | None = request.get("serial")
        port_hint: str | None = request.get("port")
        detected = [(str(model), str(port)) for model, port in gp.Camera.autodetect()]
        if port_hint:  # the hint only orders the search: the serial decides
            detected.sort(key=lambda item: item[1] != port_hint)
        seen: list[str] = []
        for model, port in detected:
            try:
                camera = self._open(model, port)
            except gp.GPhoto2Error as exc:
                seen.append(f"{model} at {port}: cannot open ({explain_gphoto2_error(exc.code, exc.string)[0]})")
                if wanted is None and len(detected) == 1:
                    raise
                continue
            serial = self._serial(camera)
            if wanted is None or serial == wanted:
                self.camera = camera
                self.model = model
                self.port = port
                self.serial = serial
                break
            seen.append(f"serial {serial or '(none)'} ({model} at {port})")
            camera.exit()
        if self.camera is None:
            listing = "; ".join(seen) or "no camera at all"
            what = f"serial {wanted}" if wanted else "a camera"
            raise _Failure(f"no camera with {what} found (found: {listing})",
                           hint="check the rig's serial numbers, that the camera is on and its USB cable")
        target = request.get("capturetarget")
        if target:
            try:
                self.apply({"settings": {"capturetarget": target}})
            except (_Failure, gp.GPhoto2Error) as exc:  # bodies without the widget write where they can
                self.notes.append(f"capture target not set: {exc}")
        return self.status({})

    def status(self, request: Mapping[str, Any]) -> dict[str, Any]:
        gp = self.gp
        widgets = self._widgets()
        battery: float | None = None
        level = widgets.get("batterylevel")
        if level is not None:
            digits = level.value.strip().rstrip("%").strip()
            try:
                battery = float(digits)
            except ValueError:
                battery = 100.0 if digits.lower() == "full" else None
        free: int | None = None
        try:
            for info in self.camera.get_storageinfo():
                if info.fields & gp.GP_STORAGEINFO_FREESPACEKBYTES:
                    free = (free or 0) + int(info.freekbytes) * 1024
        except gp.GPhoto2Error:
            free = None
        return {"serial": self.serial, "model": self.model, "port": self.port, "battery_percent": battery,
                "free_bytes": free, "pid": os.getpid(), "notes": list(self.notes)}

    # -- settings ------------------------------------------------------------------------------------
    def apply(self, request: Mapping[str, Any]) -> dict[str, str]:
        settings = {str(k): str(v) for k, v in request["settings"].items()}
        try:
            resolved = resolve_settings(settings, self.mapping, self._widgets())
        except SettingRefused as exc:
            raise _Failure(str(exc), setting=exc.setting, hint="fix the setting in the rig or plan, or the "
                           "body profile's widgets section") from exc
        config = self.camera.get_config()
        for widget_name, value in resolved.values():
            widget = config.get_child_by_name(widget_name)
            kind = widget.get_type()
            if kind == self.gp.GP_WIDGET_TOGGLE:
                widget.set_value(int(value))
            elif kind == self.gp.GP_WIDGET_RANGE:
                widget.set_value(float(value))
            else:
                widget.set_value(value)
        self.camera.set_config(config)
        return read_back(settings, resolved, self.mapping, self._widgets())

    # -- capture -------------------------------------------------------------------------------------
    def _drain(self) -> list[str]:
        stale = []
        for _ in range(50):
            kind, data = self.camera.wait_for_event(0)
            if kind == self.gp.GP_EVENT_TIMEOUT:
                break
            if kind == self.gp.GP_EVENT_FILE_ADDED:
                stale.append(posixpath.join(data.folder, data.name))
        return stale

    def arm(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return {"stale": self._drain()}

    def _download(self, path: str) -> bytes:
        folder, name = posixpath.split(path)
        camera_file = self.camera.file_get(folder, name, self.gp.GP_FILE_TYPE_NORMAL)
        return bytes(memoryview(camera_file.get_data_and_size()))

    def collect(self, request: Mapping[str, Any], first: str | None = None,
                exposed_at: float | None = None) -> dict[str, Any]:
        gp = self.gp
        timeout_s = float(request["collect_timeout_s"])
        # Once an exposure's first file is on the card its companions follow at card-write pace (a RAW+JPEG
        # body announces the second file as an event after capture() returned the first): a body set to
        # write fewer formats than the rig lists fails here, not at the end of the whole capture timeout.
        companion_s = float(request.get("companion_timeout_s") or timeout_s)
        deadline = time.monotonic() + timeout_s
        first_at: float | None = None
        files = ExposureFiles(self.extensions)
        data: dict[str, bytes] = {}
        pending = [first] if first else []
        while True:
            for path in pending:
                if first_at is None:
                    first_at = time.monotonic()
                if format_of(path, self.extensions) is not None:  # an unconfigured RAW is not worth the USB time
                    data[path] = self._download(path)  # as soon as it is announced: the card keeps writing
                done = files.add(path)
                if done is not None:
                    exposed = exposed_at or time.time()
                    return {"files": [{"name": done[fmt], "format": fmt, "data": data[done[fmt]],
                                       "exposed_at": exposed} for fmt in self.extensions],  # the rig's order
                            "ignored": files.ignored}
            pending = []
            limit = deadline if first_at is None else min(deadline, first_at + companion_s)
            left_ms = int((limit - time.monotonic()) * 1000)
            if left_ms <= 0:
                raise self._incomplete(files, timeout_s, companion_s if limit < deadline else None)
            kind, event = self.camera.wait_for_event(min(EVENT_POLL_MS, left_ms))
            if kind == gp.GP_EVENT_FILE_ADDED:
                path = posixpath.join(event.folder, event.name)
                if files.extensions and path not in data and path not in files.ignored:
                    pending.append(path)

    def _incomplete(self, files: ExposureFiles, timeout_s: float, companion_s: float | None) -> _Failure:
        """Why no exposure's file set completed: a companion that never came, a body writing other formats,
        or nothing at all."""
        formats = ", ".join(self.extensions)
        quality = "+".join(sorted(self.extensions, key=lambda fmt: fmt != "raw"))  # the profiles' raw+jpeg
        hint = (f"set the body's image quality to write every format the rig lists for it (imageformat: "
                f"{quality} in its settings), or list only the formats it writes")
        missing = files.incomplete()
        if companion_s is not None and missing:
            stem, lacking = next(iter(missing.items()))
            came = ", ".join(posixpath.basename(p) for p in files.by_stem[stem].values())
            return _Failure(f"{came} arrived but its {' and '.join(lacking)} file did not within {companion_s:g} s "
                            f"(this camera's formats: {formats})", hint=hint)
        if companion_s is not None and files.ignored:
            wrote = ", ".join(posixpath.basename(p) for p in files.ignored)
            return _Failure(f"the camera wrote {wrote}, none of this camera's formats ({formats}), and nothing "
                            f"else within {companion_s:g} s", hint=hint)
        detail = f" (incomplete: {missing})" if missing else ""
        return _Failure(f"no complete file set ({formats}) arrived within {timeout_s:g} s{detail}",
                        hint="check the camera's image format setting and that it fired")

    def fire(self, request: Mapping[str, Any]) -> dict[str, Any]:
        gp = self.gp
        received = float(request.get("_received", time.time()))
        exposed_at = time.time()
        first: str | None = None
        # capture() returns once the first file is on the card and reports failures (the virtual camera's
        # out-of-memory) as errors; trigger_capture() would only show a capture-complete without a file.
        # A RAW+JPEG body announces the second file as an event, which collect() pairs.
        try:
            path = self.camera.capture(gp.GP_CAPTURE_IMAGE)
            first = posixpath.join(path.folder, path.name)
        except gp.GPhoto2Error as exc:
            if exc.code != gp.GP_ERROR_NOT_SUPPORTED:
                raise
            self.camera.trigger_capture()  # bodies that only fire and announce
        result = self.collect(request, first, exposed_at)
        result["received_at"] = received
        return result

    def delete(self, request: Mapping[str, Any]) -> dict[str, Any]:
        for path in request["names"]:
            folder, name = posixpath.split(str(path))
            self.camera.file_delete(folder, name)
        return {}

    def ping(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return {"pid": os.getpid()}

    def close(self) -> None:
        if self.camera is not None:
            camera, self.camera = self.camera, None
            try:
                camera.exit()
            except self.gp.GPhoto2Error:
                return


def _serve(worker: _Worker, inbox: int, outbox: int) -> None:
    handlers: dict[str, Callable[[Mapping[str, Any]], Any]] = {
        "connect": worker.connect, "status": worker.status, "apply": worker.apply, "arm": worker.arm,
        "fire": worker.fire, "collect": worker.collect, "delete": worker.delete, "ping": worker.ping}
    while True:
        try:
            request = read_message(inbox)
        except WorkerGone:
            worker.close()
            return
        request["_received"] = time.time()
        op = request.get("op")
        if op == "exit":
            worker.close()
            write_message(outbox, {"id": request["id"], "ok": True, "result": {}})
            return
        reply: dict[str, Any] = {"id": request["id"], "ok": True}
        try:
            if op not in handlers:
                raise _Failure(f"unknown request {op!r}")
            if worker.camera is None and op not in ("connect", "ping"):
                raise _Failure("camera not connected", hint="connect first")
            reply["result"] = handlers[op](request)
        except _Failure as exc:
            reply = {"id": request["id"], "ok": False, "message": str(exc), "code": exc.code,
                     "setting": exc.setting, "hint": exc.hint, "fatal": False}
        except worker.gp.GPhoto2Error as exc:
            message, hint = explain_gphoto2_error(exc.code, exc.string)
            reply = {"id": request["id"], "ok": False, "message": message, "code": exc.code, "setting": None,
                     "hint": hint, "fatal": exc.code in FATAL_CODES}
        write_message(outbox, reply)


def main() -> None:
    """Run the worker on this process's stdin/stdout (``VCAMERADIR`` comes from argv[1] when given)."""
    if len(sys.argv) > 1 and sys.argv[1]:
        os.environ["VCAMERADIR"] = sys.argv[1]  # must be set before libgphoto2 loads its camlibs
    outbox = os.dup(1)
    os.dup2(2, 1)  # anything the library prints goes to stderr, never into the protocol
    import gphoto2 as gp

    _serve(_Worker(gp), 0, outbox)
