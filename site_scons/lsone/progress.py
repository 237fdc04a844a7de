"""Progress: [name] lines for each step, and for long transfers a live line on a terminal,
sparse lines in logs."""

import sys
import time


def logger(name):
    """A log function that prefixes each message with [name]."""
    return lambda message: print(f"[{name}] {message}", flush=True)


def human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n:.1f} GiB"


class Progress:
    """Reports bytes, percent, rate and ETA for one transfer."""

    def __init__(self, label, total=None, stream=None, start_at=0, log_interval=10.0):
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.done = start_at
        self.start_at = start_at
        self.started = time.monotonic()
        self.last_print = 0.0
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.log_interval = log_interval

    def line(self):
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (self.done - self.start_at) / elapsed
        text = f"{self.label}: {human_bytes(self.done)}"
        if self.total:
            pct = 100.0 * self.done / self.total
            text += f" of {human_bytes(self.total)} ({pct:.0f}%)"
        text += f", {human_bytes(rate)}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", ETA {int((self.total - self.done) / rate)} s"
        return text

    def update(self, nbytes):
        self.done += nbytes
        now = time.monotonic()
        interval = 0.2 if self.interactive else self.log_interval
        if now - self.last_print >= interval:
            self.last_print = now
            self._emit(final=False)

    def _emit(self, final):
        if self.interactive:
            self.stream.write("\r\033[K" + self.line() + ("\n" if final else ""))
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def finish(self):
        self._emit(final=True)
