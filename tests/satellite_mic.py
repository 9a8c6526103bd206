"""A microphone for wyoming-satellite's --mic-command: a recording, over and over, at real time.

    python3 satellite_mic.py QUESTION.raw [GAP_S]

Writes raw 16 kHz mono int16 to stdout: GAP_S of silence, then the recording, forever.
The satellite starts its mic command when it starts, not when a server connects, so the
question repeats until someone hears it. Standard library only (runs on any python3).
"""
import sys
import time

RATE, CHUNK = 16000, 1024


def main() -> None:
    question = open(sys.argv[1], "rb").read()
    gap = float(sys.argv[2]) if len(sys.argv) > 2 else 8.0
    cycle = b"\0\0" * int(gap * RATE) + question
    out, sent, started = sys.stdout.buffer, 0, time.monotonic()
    while True:
        for i in range(0, len(cycle), CHUNK * 2):
            out.write(cycle[i:i + CHUNK * 2])
            out.flush()
            sent += len(cycle[i:i + CHUNK * 2]) // 2
            delay = started + sent / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
