"""TODO docstring."""
from __future__ import annotations

import threading
from time import sleep
from typing import Callable


class PortReader:
    """Drains a python-rtmidi MidiIn (with no callback set) from a thread, giving each message
    to `deliver((message, delta), None)`, the callback signature (`Engine.on_midi`), in order.
    Stop it before deleting the port; `deliver` must be quick (it is the engine's enqueue)."""

    def __init__(self, midi_in, deliver: Callable, interval: float = 0.0005):
        self.midi_in = midi_in
        self.deliver = deliver
        self.interval = interval  # s between polls of an empty port: the most a message waits
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "PortReader":
        self._thread = threading.Thread(target=self._run, name="liveimpro-input", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        get, deliver, interval, stopping = self.midi_in.get_message, self.deliver, self.interval, self._stop.is_set
        while not stopping():
            event = get()
            if event is None:
                sleep(interval)
            else:
                deliver(event, None)


__all__ = ["PortReader"]
