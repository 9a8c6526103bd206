"""``assistant wyoming``: the assistant as a Wyoming server, for Home Assistant.

Wiring only, as wyoming-faster-whisper's ``__main__``: arguments → a one-line error at
start for what would fail later → load and warm each model once → serve until
SIGTERM/SIGINT. The daemon runs the same server when ``[wyoming] uri`` is set.
"""
from __future__ import annotations

import asyncio
import signal
import sys

DEFAULT_URI = "tcp://127.0.0.1:10700"


def add_parser(sub, common) -> None:
    p = sub.add_parser("wyoming", parents=[common],
                       help="serve speech to text, text to speech and the assistant over Wyoming (Home Assistant)")
    p.add_argument("--uri", help=f"where to listen: tcp://HOST:PORT or unix:///path (default: [wyoming] uri, "
                                 f"else {DEFAULT_URI}; port 0 picks a free one)")
    p.add_argument("--services", help="comma-separated: asr,tts,handle (default: [wyoming] services)")
    p.add_argument("--no-zeroconf", action="store_true", help="do not announce the server on zeroconf")


def parse_services(value: str | None, default: list[str]) -> tuple[str, ...]:
    from .wyoming_service.info import SERVICES
    from .wyoming_service.server import WyomingServiceError
    names = [s.strip() for s in value.split(",") if s.strip()] if value is not None else list(default)
    unknown = [n for n in names if n not in SERVICES]
    if unknown or not names:
        raise WyomingServiceError(f"unknown service(s) {', '.join(unknown) or '(none)'}; "
                                  f"choose from {','.join(SERVICES)}")
    return tuple(n for n in SERVICES if n in names)


def build_server(rt, uri: str, services: tuple[str, ...], zeroconf: bool, load: bool = True):
    """Load what ``services`` need (unless loaded already: the daemon), then the server for them."""
    from .wyoming_service.framing import Limits
    from .wyoming_service.info import build_info
    from .wyoming_service.server import WyomingServer, parse_uri
    from .wyoming_service.speech import Speech
    endpoint = parse_uri(uri)
    if load:
        rt.load(stt="asr" in services, tts="tts" in services, engine="handle" in services)
    w = rt.cfg.wyoming
    limits = Limits(audio_s=w.max_audio_s, max_clients=w.max_clients)
    info = build_info(rt.cfg, rt.paths.model_cache, services)
    return WyomingServer(Speech(rt), endpoint, info, services, limits, language=rt.cfg.stt.language or "en",
                         zeroconf_name=w.zeroconf_name if zeroconf else None)


def cmd_wyoming(ctx) -> int:
    from .wyoming_service.server import parse_uri
    cfg = ctx.cfg
    uri = ctx.args.uri or cfg.wyoming.uri or DEFAULT_URI
    parse_uri(uri)                                  # a bad URI fails before any model loads
    services = parse_services(ctx.args.services, cfg.wyoming.services)
    zeroconf = cfg.wyoming.zeroconf and not ctx.args.no_zeroconf
    server = build_server(ctx.runtime(), uri, services, zeroconf)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        def ready() -> None:
            ctx.out({"uri": str(server.endpoint), "services": list(services)},
                    f"serving Wyoming on {server.endpoint} ({', '.join(services)}); Ctrl-C to stop")

        await server.serve(stop, on_ready=ready)

    asyncio.run(main())
    return 0
