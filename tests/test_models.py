"""Bundled models: present, checksummed, and replaceable by a path in config."""
from __future__ import annotations

import json

from models.registry import LLM, LLM_0_5B, LLMS
from models.resolve import assemble_llm
from models.checksum import sha256_file
from tests.conftest import TEST_DATA


def test_models_lists_every_stage_with_good_checksums(cli):
    cli("models", "--prepare")
    result = cli("--json", "models")
    assert result.returncode == 0, result.stderr
    rows = {r["stage"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"stt", "llm", "tts", "embeddings"}
    for row in rows.values():
        assert row["checksum"] == "ok", row
        assert row["size_bytes"] > 1_000_000 and row["source"].startswith("bundled: ")
    assert "1.5B" in rows["llm"]["name"]                        # the default conversational model


def test_the_small_llm_is_a_named_choice(cli, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[llm]\nmodel = "qwen2.5-coder-0.5b"\n')
    rows = {r["stage"]: r for r in json.loads(cli("--config", str(cfg), "--json", "models", "--prepare").stdout)}
    assert "0.5B" in rows["llm"]["name"] and rows["llm"]["checksum"] == "ok"
    cfg.write_text('[llm]\nmodel = "qwen2.5-coder-7b"\n')
    bad = cli("--config", str(cfg), "models", "--prepare")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1
    assert "qwen2.5-coder-0.5b" in bad.stderr            # the message lists the bundled names


def test_homes_share_one_assembled_llm(tmp_path, monkeypatch):
    """A new --home does not assemble its own 1 GB copy: the machine's cache serves all."""
    from assistant.paths import resolve_paths
    monkeypatch.delenv("ASSISTANT_MODEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    a, b = resolve_paths(tmp_path / "a"), resolve_paths(tmp_path / "b")
    assert a.model_cache == b.model_cache == tmp_path / "xdg" / "assistant" / "models"
    (tmp_path / "c" / "cache" / "models").mkdir(parents=True)     # a home that keeps its own
    assert resolve_paths(tmp_path / "c").model_cache == tmp_path / "c" / "cache" / "models"


def test_llm_is_assembled_once_and_verified(tmp_path):
    first = assemble_llm(tmp_path, quiet=True, spec=LLM_0_5B)
    stamp = first.stat().st_mtime_ns
    assert sha256_file(first) == LLM_0_5B.assembled_sha256
    assert assemble_llm(tmp_path, quiet=True, spec=LLM_0_5B).stat().st_mtime_ns == stamp   # cached


def test_the_default_llm_assembles_from_its_22_parts_and_its_q4_0_variant_is_derived(tmp_path):
    assert LLM is LLMS["qwen2.5-coder-1.5b"] and len(LLM.files) == 22
    assert sha256_file(assemble_llm(tmp_path, quiet=True)) == LLM.assembled_sha256
    # llama.cpp's quantizer gives the pinned bytes on this machine too (any CPU, any threads)
    variant = LLMS["qwen2.5-coder-1.5b-q4_0"]
    made = assemble_llm(tmp_path, quiet=True, spec=variant)
    assert made.name == variant.assembled_name and sha256_file(made) == variant.assembled_sha256
    stamp = made.stat().st_mtime_ns
    assert assemble_llm(tmp_path, quiet=True, spec=variant).stat().st_mtime_ns == stamp    # made once
    assert not list(tmp_path.glob(".*partial"))


def test_corrupt_assembled_llm_is_rebuilt(tmp_path):
    path = assemble_llm(tmp_path, quiet=True, spec=LLM_0_5B)
    with open(path, "r+b") as f:       # flip bytes in place, as a failing disk would
        f.seek(1000)
        f.write(b"\x00" * 16)
    rebuilt = assemble_llm(tmp_path, quiet=True, spec=LLM_0_5B)
    assert sha256_file(rebuilt) == LLM_0_5B.assembled_sha256


def test_a_user_model_path_replaces_the_default(cli, tmp_path):
    import shutil
    from models.registry import STT, packaged_path
    own = tmp_path / "my-whisper"
    shutil.copytree(packaged_path(STT.files[0]).parent, own)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[stt]\nmodel = "{own}"\n')
    rows = {r["stage"]: r for r in json.loads(cli("--config", str(cfg), "--json", "models").stdout)}
    assert rows["stt"]["source"] == "config: stt.model" and rows["stt"]["path"] == str(own)
    result = cli("--config", str(cfg), "transcribe", str(TEST_DATA / "speech" / "coqui_lj_LJ001-0008.wav"))
    assert result.returncode == 0 and "surpassed" in result.stdout
