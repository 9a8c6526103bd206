"""Configuration: defaults, overrides, and errors that name file, line and key."""
from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Config, Section, load_config
from assistant.errors import ConfigError
from assistant.paths import DEFAULT_CONFIG_FILE


def test_default_file_matches_builtin_defaults():
    """config.toml documents exactly the defaults the code uses, and every section."""
    assert load_config(None) == Config()
    text = DEFAULT_CONFIG_FILE.read_text()
    for section in ("audio", "vad", "stt", "llm", "tts", "memory", "skills"):
        assert f"[{section}]" in text


def test_user_file_overrides_defaults(tmp_path):
    user = tmp_path / "config.toml"
    user.write_text("[tts]\nspeed = 1.5\n\n[llm]\ntemperature = 0.0\n")
    cfg = load_config(user)
    assert cfg.tts.speed == 1.5 and cfg.llm.temperature == 0.0
    assert cfg.tts.volume == Config().tts.volume


def _error(tmp_path: Path, text: str) -> ConfigError:
    user = tmp_path / "config.toml"
    user.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(user)
    return e.value


def test_wrong_type_names_file_line_and_key(tmp_path):
    err = _error(tmp_path, "[audio]\ninput_device = \"\"\n\n[tts]\nspeed = \"fast\"\n")
    assert (err.line, err.key) == (5, "tts.speed")
    assert f"{tmp_path / 'config.toml'}:5: tts.speed:" in str(err)
    assert "\n" not in str(err)


def test_unknown_key_is_an_error(tmp_path):
    err = _error(tmp_path, "[llm]\ntemperature = 0.2\ntemprature = 0.5\n")
    assert (err.line, err.key) == (3, "llm.temprature")
    assert "unknown key" in str(err)


@pytest.mark.parametrize("section", sorted(Config.model_fields))
def test_every_section_refuses_unknown_keys_and_wrong_types(tmp_path, section):
    """[vad], [stt], [tts] and [skills] are defined by the layers that read them
    (audio.settings, skills.settings), not here: they must be as strict as the rest."""
    model = Config.model_fields[section].annotation
    assert model.model_config == Section.model_config
    err = _error(tmp_path, f"[{section}]\nno_such_key = 1\n")
    assert (err.line, err.key) == (2, f"{section}.no_such_key") and "unknown key" in str(err)
    live = Config()
    name, value = next((n, v) for n, v in getattr(live, section).__dict__.items() if isinstance(v, (int, float, str)))
    with pytest.raises(ValueError):     # validate_assignment: a live edit of the wrong type is refused
        setattr(getattr(live, section), name, [value])


def test_unknown_section_is_an_error(tmp_path):
    err = _error(tmp_path, "[speach]\nspeed = 1\n")
    assert err.key == "speach" and err.line == 1


def test_out_of_range_value(tmp_path):
    err = _error(tmp_path, "[vad]\naggressiveness = 7\n")
    assert err.key == "vad.aggressiveness" and "3" in str(err)


def test_bad_toml_syntax_gives_line(tmp_path):
    err = _error(tmp_path, "[tts]\nspeed = = 2\n")
    assert err.line == 2 and "invalid TOML" in str(err)


def test_missing_model_path(tmp_path):
    err = _error(tmp_path, "[llm]\nmodel = \"/nonexistent/model.gguf\"\n")
    assert err.key == "llm.model" and err.line == 2 and "/nonexistent/model.gguf" in str(err)


def test_missing_config_file_given_explicitly(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml", required=True)


def test_config_cli_set_get_unset_keep_comments_and_refuse_bad_values(tmp_path):
    from tests.conftest import run_cli
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("# my own settings\n[llm]\n# cooler replies\ntemperature = 0.2\n")
    assert run_cli("config", "set", "tts.speed", "1.3", home=home).returncode == 0
    text = (home / "config.toml").read_text()
    assert "# my own settings" in text and "# cooler replies" in text and "speed = 1.3" in text
    assert run_cli("config", "get", "tts.speed", home=home).stdout.strip() == "1.3"
    bad = run_cli("config", "set", "tts.speed", "fast", home=home)
    assert bad.returncode == 2 and "tts.speed" in bad.stderr and "Traceback" not in bad.stderr
    unknown = run_cli("config", "set", "tts.pitch", "2", home=home)
    assert unknown.returncode == 2 and "unknown key" in unknown.stderr
    assert (home / "config.toml").read_text() == text           # refused edits write nothing
    assert run_cli("config", "unset", "tts.speed", home=home).returncode == 0
    assert run_cli("config", "get", "tts.speed", home=home).stdout.strip() == "1.0"
    assert "# cooler replies" in (home / "config.toml").read_text()
    (home / "config.toml").write_text("[llm]\ntemperature = \"hot\"\n")
    result = run_cli("config", "validate", home=home)
    assert result.returncode == 2 and ":2: llm.temperature" in result.stderr
