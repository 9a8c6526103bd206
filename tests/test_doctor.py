"""The install runs on this CPU and says so: no AMX code, a self-check that never stays silent."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

AMX_INSTRUCTIONS = ("ldtilecfg", "tilezero", "tileloadd", "tdpbssd", "tdpbf16ps", "tilestored")


def _llama_lib_dir() -> Path:
    import importlib.util
    spec = importlib.util.find_spec("llama_cpp")
    return Path(next(iter(spec.submodule_search_locations))) / "lib"


@pytest.mark.skipif(shutil.which("objdump") is None, reason="binutils' objdump is needed to read the library")
def test_the_built_llama_library_contains_no_amx_instruction():
    """llama.cpp's AMX kernels die with SIGILL on some Xeons (issue 18): none may be compiled in."""
    libs = sorted(_llama_lib_dir().glob("libggml-cpu*.so*"))
    assert libs, "libggml-cpu.so not found beside llama_cpp"
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(libs[0])], capture_output=True,
                          text=True, check=True).stdout
    used = {op for op in AMX_INSTRUCTIONS if f"\t{op} " in text or f"\t{op}\n" in text}
    assert not used, f"AMX instructions in {libs[0].name}: {used}"
    assert "\tvfmadd" in text                     # the disassembly is real: FMA kernels are there


def test_the_build_records_what_it_needs_and_this_cpu_has_it():
    info = json.loads((Path(sys.prefix) / "llama-build.json").read_text())
    assert not any("AMX" in a and a.endswith("=ON") for a in info["cmake_args"])
    assert "-DGGML_NATIVE=OFF" in info["cmake_args"] or info["cpu"] == "native"
    from assistant.doctor import check_llama_build
    assert check_llama_build() is None


def test_a_build_for_a_bigger_cpu_is_refused_in_one_line(tmp_path, monkeypatch):
    """A venv copied from a newer machine names the missing instructions and the rebuild."""
    from assistant import doctor
    info = {"version": "0.3.36", "cpu": "detected", "needs": ["avx2", "avx512_fp16_imaginary"], "cmake_args": []}
    monkeypatch.setattr(doctor, "build_info", lambda: info)
    message = doctor.check_llama_build()
    assert message and "avx512_fp16_imaginary" in message and doctor.REBUILD in message
    assert "\n" not in message


def test_doctor_passes_every_stage(cli):
    result = cli("--json", "doctor", timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    stages = {s["stage"]: s for s in report["stages"]}
    assert set(stages) == {"build", "llm", "stt", "tts", "embeddings", "memory"}
    assert all(s["ok"] for s in stages.values()), stages
    assert "prompt tokens" in stages["llm"]["detail"]       # a real multi-token decode ran


def test_doctor_reports_a_stage_that_dies_by_a_signal(cli):
    """A fake crash: SIGILL cannot be ordered up on demand, so the LLM stage's child kills
    itself with it (ASSISTANT_DOCTOR_CRASH, a test-only hook). The parent must name the
    stage, the signal and the fix in one line, and exit non-zero."""
    result = cli("doctor", "--stage", "llm", env={"ASSISTANT_DOCTOR_CRASH": "llm:SIGILL"}, timeout=300)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "llm" in lines[0] and "SIGILL" in lines[0] and "--rebuild-llm" in lines[0]
    assert "FAIL llm" in result.stdout


def test_a_missing_optional_extra_is_one_line(tmp_path):
    """Another sentence-transformers model needs the optional extra; without it, one line."""
    code = ("import sys; sys.modules['sentence_transformers'] = None;"
            "from memory.embeddings import Embedder; from assistant.errors import ModelError\n"
            "try:\n    Embedder(sys.argv[1], backend='sentence-transformers')\n"
            "except ModelError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "[sentence-transformers]" in out.stdout and len(out.stdout.strip().splitlines()) == 1


def test_the_wheel_installs_only_the_documented_top_level_names(tmp_path):
    """The installed distribution's top-level names, read from the built wheel's RECORD
    (docs/architecture.md, "Packaging", says why these five and not one namespace)."""
    import zipfile
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp_path), str(REPO)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("*.whl"))
    with zipfile.ZipFile(wheel) as z:
        tops = {name.split("/")[0] for name in z.namelist() if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"assistant", "audio", "memory", "models", "skills"}, tops
