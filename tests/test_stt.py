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


def test_encoder_window_fits_the_speech():
    from audio.stt import encoder_frames
    second = 16000
    assert encoder_frames(2 * second, 15.0) == 1500          # short speech: the configured window
    assert encoder_frames(16 * second, 15.0) == 2000         # longer: rounded up, with a margin
    assert encoder_frames(29 * second, 15.0) == 3000         # never beyond Whisper's 30 s
    assert encoder_frames(90 * second, 15.0) == 3000
    assert encoder_frames(2 * second, 30.0) == 3000          # 30 = Whisper's own window


def test_short_window_hears_what_the_full_window_hears(runtime, speech_clips):
    """The shortened encoder window must not lose or invent words on a real recording."""
    from audio.stt import Transcriber
    clip = speech_clips[0]
    short_cfg = runtime.cfg.stt.model_copy(update={"window_s": 15.0})
    short = Transcriber(short_cfg, runtime._path("stt")).transcribe(read_audio(clip.path))
    full = runtime.stt.transcribe(read_audio(clip.path))
    e, n = word_errors(full.text, short.text)
    assert short.accepted and e / n <= 0.2, (short.text, full.text)
