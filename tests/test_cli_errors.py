"""Bad input gets one clear line naming the problem, a non-zero exit, and no traceback."""
from __future__ import annotations

import numpy as np
import soundfile as sf

from tests.conftest import TEST_DATA


def assert_one_line_error(result, *needles: str) -> None:
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(("error: ", "config error: ")) and "error: config error" not in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_corrupt_wav(cli, tmp_path):
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage that is not audio" * 3)
    assert_one_line_error(cli("transcribe", str(bad)), str(bad), "not a readable audio file")
    assert_one_line_error(cli("run", "--input", str(bad), "--output", str(tmp_path / "o.wav")), str(bad))


def test_empty_wav(cli, tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.int16), 16000, subtype="PCM_16")
    assert_one_line_error(cli("transcribe", str(empty)), str(empty), "empty")


def test_missing_wav(cli, tmp_path):
    assert_one_line_error(cli("transcribe", str(tmp_path / "nope.wav")), "no such file")


def test_8khz_stereo_wav_is_resampled_and_works(cli, tmp_path):
    import soxr
    audio, rate = sf.read(TEST_DATA / "speech" / "coqui_lj_LJ001-0008.wav", dtype="float32")
    low = soxr.resample(audio, rate, 8000)
    stereo = np.stack([low, low * 0.8], axis=1)
    path = tmp_path / "stereo8k.wav"
    sf.write(path, stereo, 8000, subtype="PCM_16")
    result = cli("transcribe", str(path))
    assert result.returncode == 0, result.stderr
    assert "never been surpassed" in result.stdout.lower()


def test_config_value_of_wrong_type(cli, tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[llm]\ntemperature = \"warm\"\n")
    result = cli("--config", str(cfg), "models")
    assert_one_line_error(result, f"{cfg}:2", "llm.temperature")
    assert result.returncode == 2


def test_config_unknown_key(cli, tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[tts]\nspeed = 1.0\npitch = 3\n")
    assert_one_line_error(cli("--config", str(cfg), "say", "hi"), f"{cfg}:3", "tts.pitch", "unknown key")


def test_model_path_that_does_not_exist(cli, tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[stt]\nmodel = \"/no/such/whisper\"\n")
    assert_one_line_error(cli("--config", str(cfg), "transcribe", str(TEST_DATA / "speech" / "coqui_lj_LJ001-0008.wav")),
                          "stt.model", "/no/such/whisper")


def test_voice_whose_config_is_missing_or_corrupt(cli, tmp_path):
    voice = tmp_path / "voice.onnx"
    voice.write_bytes(b"not an onnx model")
    cfg = tmp_path / "voice.toml"
    cfg.write_text(f"[tts]\nvoice = \"{voice}\"\n")
    assert_one_line_error(cli("--config", str(cfg), "say", "hi", "--output", str(tmp_path / "o.wav")),
                          "voice.onnx.json", "is missing")
    (tmp_path / "voice.onnx.json").write_text("{not json")
    assert_one_line_error(cli("--config", str(cfg), "say", "hi", "--output", str(tmp_path / "o.wav")),
                          "voice.onnx.json", "unreadable")


def test_user_config_in_home_is_validated_too(cli):
    cli.home.mkdir(parents=True)
    (cli.home / "config.toml").write_text("[memory]\ntop_k = -1\n")
    assert_one_line_error(cli("models"), "memory.top_k")
