"""Bundled models: present, checksummed, and replaceable by a path in config."""
from __future__ import annotations

import json

from models.registry import LLM
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


def test_llm_is_assembled_once_and_verified(tmp_path):
    first = assemble_llm(tmp_path, quiet=True)
    stamp = first.stat().st_mtime_ns
    assert sha256_file(first) == LLM.assembled_sha256
    assert assemble_llm(tmp_path, quiet=True).stat().st_mtime_ns == stamp   # cached, not rebuilt


def test_corrupt_assembled_llm_is_rebuilt(tmp_path):
    path = assemble_llm(tmp_path, quiet=True)
    with open(path, "r+b") as f:       # flip bytes in place, as a failing disk would
        f.seek(1000)
        f.write(b"\x00" * 16)
    rebuilt = assemble_llm(tmp_path, quiet=True)
    assert sha256_file(rebuilt) == LLM.assembled_sha256


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
