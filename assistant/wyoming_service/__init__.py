"""The assistant over the Wyoming protocol: Home Assistant's speech services and satellites.

Named ``wyoming_service`` so it can never shadow the ``wyoming`` library it builds on.

    framing.py    capped reading of events (header, data and payload lengths)
    info.py       the ``info`` reply to ``describe``, from models/registry.py
    speech.py     asr over audio/stt.py, tts over audio/tts.py, handle over the Engine
    server.py     one handler per connection, the TCP/unix server, zeroconf
    satellite.py  a remote satellite as the voice loop's AudioSource and AudioSink
"""
