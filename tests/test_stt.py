"""Speech recognition on real human recordings, scored after text normalisation."""
from __future__ import annotations

from audio.wavio import read_audio
from tests.textnorm import normalize, word_errors


def test_normalisation_spells_numbers_and_drops_punctuation():
    assert normalize("In 1813, Mr. Smith's 14th book!") == "in eighteen thirteen mister smith's fourteenth book"
    assert normalize("zero") == normalize("0")


def test_word_error_rate_on_real_recordings(runtime, speech_clips):
    errors = words = 0
    worst = []
    for clip in speech_clips:
        hyp = runtime.stt.transcribe(read_audio(clip.path)).text
        e, n = word_errors(clip.transcript, hyp)
        errors, words = errors + e, words + n
        worst.append((e / max(n, 1), clip.path.name, hyp))
    wer = errors / words
    worst.sort(reverse=True)
    print(f"WER {wer:.3f} over {len(speech_clips)} clips, {words} words; worst: {worst[:3]}")
    assert len(speech_clips) >= 9
    assert wer <= 0.08, f"WER {wer:.3f} too high; worst: {worst[:3]}"


def test_noise_gives_no_transcript(runtime, noise_files):
    """Whisper invents words from noise; the filter must drop them."""
    from audio.vad import Endpointer
    from audio.wavio import to_int16
    from audio.vad import frames_of
    heard = []
    for path in noise_files:
        audio = to_int16(read_audio(path))
        ep = Endpointer(runtime.cfg.vad)
        for frame in frames_of(audio, ep.frame_samples):
            utt = ep.feed(frame)
            if utt is not None:
                t = runtime.stt.transcribe(utt.audio)
                if t.accepted:
                    heard.append((path.name, t.text))
    assert heard == []
