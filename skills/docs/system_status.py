"""CPU, memory, disk and battery through psutil; read-only."""
import re
from pathlib import Path

import psutil


_ASK = re.compile(r"^(?:(?:hey|ok|okay|so|please|can you|could you)\s+)*(?:how|what|what's|whats|is|are|check|give|"
                  r"tell|show|report|run|do a|get)\b", re.I)
_SUBJECT = re.compile(r"\b(computer|laptop|machine|system|pc|cpu|processor|ram|memory|disk|storage|drive|battery|"
                      r"charging|charged|plugged|status|health|load|usage|space)\b", re.I)
_FILLER = {"how", "what", "whats", "what's", "how's", "is", "are", "the", "my", "this", "computer", "laptop", "machine",
           "system", "pc", "cpu", "processor", "ram", "memory", "disk", "storage", "drive", "battery", "charging",
           "charged", "plugged", "in", "status", "health", "load", "usage", "space", "free", "left", "much", "used",
           "use", "being", "doing", "running", "working", "hard", "busy", "level", "percent", "percentage", "at",
           "of", "on", "give", "me", "a", "report", "check", "tell", "show", "get", "do", "run", "have", "i",
           "there", "it", "going", "full", "remaining", "available", "current", "currently", "right", "now",
           "please", "can", "you", "could", "does", "overall", "quick", "hey", "ok", "okay", "so", "an", "whole",
           "still", "using", "uses", "charge", "power", "info", "information", "stats", "statistics", "up", "and", "all", "how's"}
_ELSE = re.compile(r"\b(you|your|remember|know|car|phone|my memory|buy|cost|price|new)\b", re.I)


def parse(text: str):
    """The part asked about, when the text asks about this computer's state."""
    t = text.lower()
    if not _ASK.match(t):
        return None
    t = re.sub(r"^(?:(?:hey|ok|okay|so|please|can you|could you)\s+)+", "", t)
    if not _SUBJECT.search(t) or _ELSE.search(t) or set(re.findall(r"[a-z']+", t)) - _FILLER:
        return None         # "the battery life of an iPhone", "memory does a goldfish have": not this computer
    for part, pattern in (("battery", r"batter|charg|plugged|power"), ("cpu", r"\bcpu\b|processor|\bload\b|busy"),
                          ("memory", r"\bram\b|memory"), ("disk", r"disk|storage|space|drive")):
        if re.search(pattern, t):
            return {"part": part}
    return {"part": "all"}


def _cpu() -> str:
    return f"the processor is {psutil.cpu_percent(interval=0.3):.0f} percent busy"


def _memory() -> str:
    vm = psutil.virtual_memory()
    return f"memory is {vm.percent:.0f} percent used, with {vm.available / 2**30:.1f} gigabytes free"


def _disk() -> str:
    du = psutil.disk_usage(str(Path.home()))
    return f"the disk has {du.free / 2**30:.0f} gigabytes free"


def _battery() -> str:
    battery = psutil.sensors_battery() if hasattr(psutil, "sensors_battery") else None
    if battery is None:
        return "this computer has no battery, it runs on mains power"
    state = "charging" if battery.power_plugged else "on battery"
    return f"the battery is at {battery.percent:.0f} percent and {state}"


def run(args: dict, ctx) -> str:
    parts = {"cpu": [_cpu], "memory": [_memory], "disk": [_disk], "battery": [_battery],
             "all": [_cpu, _memory, _disk, _battery]}[args["part"]]
    said = [f() for f in parts]
    text = "; ".join(said[:-1]) + (", and " if len(said) > 1 else "") + said[-1]
    return text[0].upper() + text[1:] + "."
