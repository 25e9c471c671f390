"""Model resolution and management for the neural backends.

Nothing in here downloads implicitly. `resolve_model` looks at a local folder,
then at the local Hugging Face cache (never the network) and says whether the
model is usable. `pull` is the one explicit download, for machines where a hub
is reachable. `convert_to_ct2` turns a local transformers model into a
CTranslate2 folder.

A model is usable when its folder has a `config.json`, safetensors weights and
tokenizer files. Pickled `pytorch_model.bin` weights are refused: loading them
runs arbitrary code from the file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Source = Literal["path", "hf-cache", "missing"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# What `pull` fetches: configs, safetensors weights, tokenizer files. Never *.bin.
PULL_PATTERNS: tuple[str, ...] = (
    "*.json",
    "*.safetensors",
    "*.spm",
    "*.model",
    "vocab.*",
    "merges.txt",
)

_TOKENIZER_FILES: tuple[str, ...] = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "source.spm",
    "sentencepiece.bpe.model",
    "spiece.model",
)

# Tokenizer files copied next to a CTranslate2 conversion so that the folder
# is self-contained (CT2Translator can load its tokenizer from it).
_CT2_COPY_FILES: tuple[str, ...] = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "source.spm",
    "target.spm",
    "sentencepiece.bpe.model",
    "spiece.model",
    "merges.txt",
)

# CTranslate2's BartLoader reads `normalize_before` (pre-norm layers) from the
# configuration; transformers 5 no longer defines it. The architecture fixes it:
# BART (BARThez) is post-norm, mBART (mBARThez) and Pegasus are pre-norm.
_NORMALIZE_BEFORE = {"bart": False, "mbart": True, "pegasus": True}


class ModelError(Exception):
    """A model could not be found, fetched or converted; the message says what to do."""


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # as configured: a hub id or a path
    local_path: Path | None  # the folder to load from, when one was found
    source: Source
    usable: bool
    reason: str  # why it is (not) usable, phrased for the user

    @property
    def label(self) -> str:
        """Short name for engine strings and cache keys.

        A snapshot of the HF cache (found by name or given as a path) is
        "owner/name@<commit[:7]>"; another folder is its name; otherwise the name.
        """
        path = self.local_path
        if path is not None:
            if path.parent.name == "snapshots" and path.parent.parent.name.startswith("models--"):
                repo = path.parent.parent.name[len("models--") :].replace("--", "/")
                return f"{repo}@{path.name[:7]}"
            if self.source == "path":
                return path.name
        return self.name


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache folder, read from the environment at call time."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) asks for no network at all."""
    return any(
        os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def check_model_folder(folder: Path) -> tuple[bool, str]:
    """Whether `folder` holds a loadable transformers model: (usable, reason)."""
    if not folder.is_dir():
        return False, f"{folder} is not a folder"
    if not (folder / "config.json").is_file():
        return False, f"{folder} has no config.json: not a transformers model folder"
    has_safetensors = any(folder.glob("*.safetensors")) or (folder / "model.safetensors.index.json").is_file()
    if not has_safetensors:
        if (folder / "pytorch_model.bin").exists() or any(folder.glob("pytorch_model*.bin")):
            return False, (
                f"not usable: safetensors weights required; {folder} only has pytorch_model.bin "
                "(pickled weights are refused). Convert it once where you trust the file: "
                "load it and save_pretrained(..., safe_serialization=True)"
            )
        return False, f"{folder} has no *.safetensors weights"
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        return False, (
            f"{folder} has weights but no tokenizer files ({', '.join(_TOKENIZER_FILES)}); "
            "copy the tokenizer files of the model into it"
        )
    return True, f"safetensors model in {folder}"


def _looks_like_path(name: str) -> bool:
    # A hub id is "name" or "owner/name"; anything else that does not exist is a missing folder.
    return name.startswith(("/", "./", "../", "~", ".\\")) or name.count("/") > 1 or "\\" in name


def resolve_model(name_or_path: str, *, cache_dir: Path | None = None) -> ResolvedModel:
    """Find a model locally, without network: a folder first, then the HF cache.

    `cache_dir` defaults to the hub cache named by HF_HUB_CACHE / HF_HOME (read now,
    not at import time).
    """
    name = str(name_or_path)
    if not name.strip():
        return ResolvedModel(name, None, "missing", False, "no model configured (empty name)")
    path = Path(name).expanduser()
    if path.exists():
        usable, reason = check_model_folder(path)
        return ResolvedModel(name, path.resolve(), "path", usable, reason)
    if _looks_like_path(name):
        return ResolvedModel(name, None, "missing", False, f"no such folder: {path}")

    cache = cache_dir if cache_dir is not None else hf_cache_dir()
    if _PLAIN_HUB_ID.fullmatch(name) and not any(bad in name for bad in ("--", "..")) and not name.endswith(".git") \
            and not (cache / ("models--" + name.replace("/", "--"))).exists():
        # an id the hub accepts, with nothing of it in the cache: what snapshot_download would find, without
        # importing it (half a second at every run's start)
        return _not_in_cache(name, cache)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(name, cache_dir=str(cache), local_files_only=True))
    except HFValidationError:
        return ResolvedModel(
            name, None, "missing", False, f"{name!r} is neither an existing folder nor a valid hub model id"
        )
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        converted = _cached_conversion_snapshot(cache, name)
        if converted is not None:
            return ResolvedModel(
                name, converted, "hf-cache", True, f"safetensors model in {converted} (the hub's safetensors conversion)"
            )
        return _not_in_cache(name, cache)
    usable, reason = check_model_folder(folder)
    if not usable:
        # Many older repos (opus-mt among them) keep only pickled weights on main; the hub's
        # safetensors conversion lives on a pull-request revision that `pull` fetches.
        converted = _cached_conversion_snapshot(cache, name)
        if converted is not None:
            return ResolvedModel(
                name, converted, "hf-cache", True, f"safetensors model in {converted} (the hub's safetensors conversion)"
            )
    return ResolvedModel(name, folder, "hf-cache", usable, reason)


# A hub model id that huggingface_hub's validate_repo_id accepts (a subset: ASCII letters and digits at both ends)
_PLAIN_HUB_ID = re.compile(r"[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?(?:/[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?)?",
                           re.ASCII)


def _not_in_cache(name: str, cache: Path) -> ResolvedModel:
    return ResolvedModel(
        name,
        None,
        "missing",
        False,
        f"{name} is not a local folder and not in the Hugging Face cache ({cache}); "
        "run `python -m pipeline models pull` where a hub is reachable, or copy the model "
        "folder here and point the config at it",
    )


def _cached_conversion_snapshot(cache: Path, name: str) -> Path | None:
    """A usable snapshot of a `refs/pr/<n>` revision of `name` in the cache, if any (newest PR first)."""
    repo = cache / ("models--" + name.replace("/", "--"))
    refs = sorted(
        (repo / "refs" / "pr").glob("*"), key=lambda p: int(p.name) if p.name.isdigit() else -1, reverse=True
    )
    for ref in refs:
        try:
            commit = ref.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        folder = repo / "snapshots" / commit
        if commit and check_model_folder(folder)[0]:
            return folder
    return None


def require_model(name_or_path: str, *, what: str = "model") -> ResolvedModel:
    """`resolve_model`, raising ModelError when the model is not usable."""
    resolved = resolve_model(name_or_path)
    if not resolved.usable or resolved.local_path is None:
        raise ModelError(f"{what} {name_or_path!r}: {resolved.reason}")
    return resolved


def default_ct2_dir(model_name: str, compute_type: str, base: Path | None = None) -> Path:
    """Where a CTranslate2 conversion lives by default: <base>/models/<name>-ct2-<compute_type>.

    `base` defaults to the project root (the folder holding the `pipeline` package).
    """
    last = Path(model_name.rstrip("/\\")).name
    if not last:
        raise ModelError(f"cannot derive a CTranslate2 folder name from model {model_name!r}")
    return (base if base is not None else PROJECT_ROOT) / "models" / f"{last}-ct2-{compute_type}"


def is_ct2_model_dir(path: Path) -> bool:
    """True when `path` looks like a CTranslate2 model folder (has model.bin and a config)."""
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def pull(name: str, *, cache_dir: Path | None = None) -> Path:
    """Download a model's config, safetensors weights and tokenizer into the HF cache.

    The only function here that touches the network. Returns the snapshot folder.
    When the repo's main revision only has pickled weights (opus-mt models do), the
    hub's own safetensors conversion (an open pull request by SFconvertbot) is
    fetched instead, and `resolve_model` finds it in the cache.
    """
    remedy = (
        "No model hub is reachable from this machine. On a machine with access, run "
        f"`python -m pipeline models pull` (or download {name} there), copy the model folder "
        "here, and set the model key of the config (translate.model or summarize.model) to that folder"
    )
    if hub_offline():
        raise ModelError(f"cannot pull {name}: HF_HUB_OFFLINE is set. {remedy}")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, RepositoryNotFoundError

    cache = cache_dir if cache_dir is not None else hf_cache_dir()
    try:
        folder = Path(
            snapshot_download(name, cache_dir=str(cache), allow_patterns=list(PULL_PATTERNS), etag_timeout=15)
        )
    except HFValidationError:
        raise ModelError(f"cannot pull {name!r}: not a valid hub model id (expected 'owner/name')") from None
    except RepositoryNotFoundError:
        raise ModelError(f"cannot pull {name}: no such model on the hub (check the name)") from None
    except Exception as exc:  # network stacks raise many types; all mean the same to the user
        detail = (str(exc).strip().splitlines() or [""])[0].rstrip(".")
        raise ModelError(f"cannot pull {name} ({type(exc).__name__}: {detail}). {remedy}") from None
    usable, reason = check_model_folder(folder)
    if usable:
        return folder
    if any(folder.glob("*.json")) and not any(folder.glob("*.safetensors")):
        converted = _pull_safetensors_conversion(name, cache)
        if converted is not None:
            return converted
    raise ModelError(f"pulled {name} into {folder}, but it is not usable: {reason}")


_CONVERSION_PR_TITLE = "Adding `safetensors` variant of this model"
_CONVERSION_BOT = "SFconvertbot"


def _pull_safetensors_conversion(name: str, cache: Path) -> Path | None:
    """Fetch the hub's own safetensors conversion (an open pull request by SFconvertbot), if one exists.

    Read-only: this never asks the hub to start a conversion.
    """
    from huggingface_hub import get_repo_discussions, snapshot_download

    try:
        prs = [
            d
            for d in get_repo_discussions(repo_id=name)
            if d.is_pull_request and d.status == "open" and d.title == _CONVERSION_PR_TITLE and d.author == _CONVERSION_BOT
        ]
    except Exception as exc:
        raise ModelError(f"cannot list the pull requests of {name} to find its safetensors conversion: {exc}") from None
    for pr in sorted(prs, key=lambda d: d.num, reverse=True):
        try:
            folder = Path(
                snapshot_download(
                    name, revision=f"refs/pr/{pr.num}", cache_dir=str(cache), allow_patterns=list(PULL_PATTERNS), etag_timeout=15
                )
            )
        except Exception as exc:
            raise ModelError(f"cannot download the safetensors conversion of {name} (refs/pr/{pr.num}): {exc}") from None
        if check_model_folder(folder)[0]:
            return folder
    return None


def _vocab_size_check(model_dir: Path, config: dict[str, Any]) -> None:
    vocab_file = model_dir / "vocab.json"
    vocab_size = config.get("vocab_size")
    if not vocab_file.is_file() or vocab_size is None:
        return
    try:
        entries = len(json.loads(vocab_file.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{vocab_file}: cannot read it as JSON ({exc})") from None
    if entries != vocab_size:
        raise ModelError(
            f"{vocab_file} has {entries} entries but {model_dir / 'config.json'} says vocab_size={vocab_size}; "
            "CTranslate2 would pair tokens with the wrong embedding rows. Use the vocab.json that "
            "belongs to these weights"
        )


def convert_to_ct2(model_dir: Path | str, out_dir: Path | str, quantization: str, *, force: bool = False) -> Path:
    """Convert a local transformers model (safetensors) to a CTranslate2 folder.

    The output is written to a temporary sibling folder and renamed into place, so
    a crash never leaves a half-converted model at `out_dir`. Tokenizer files are
    copied next to `model.bin`. For BART-family models without a
    `normalize_before` key (transformers 5 dropped it; CTranslate2 4.8 reads it),
    the value the architecture implies (False for BART/BARThez) is set on the
    loaded configuration, not written into the model's config.json, which may be
    a read-only blob of the HF cache.
    """
    resolved = require_model(str(model_dir), what="model to convert")
    src = resolved.local_path
    assert src is not None
    out = Path(out_dir)
    if out.exists() and not force:
        if is_ct2_model_dir(out):
            return out
        raise ModelError(f"{out} exists and is not a CTranslate2 model; remove it or choose another folder")
    try:
        config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{src / 'config.json'}: cannot read it ({exc})") from None
    _vocab_size_check(src, config)

    try:
        import ctranslate2
        import transformers
        from ctranslate2.converters import TransformersConverter
    except ImportError as exc:
        raise ModelError(f"CTranslate2 conversion needs ctranslate2 and transformers ({exc}); pip install ctranslate2") from None

    class _SafeConverter(TransformersConverter):
        """Safetensors only, no remote code, BART-family config patched in memory."""

        def load_model(self, model_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            cfg = kwargs.get("config")
            model_type = getattr(cfg, "model_type", "")
            if cfg is not None and model_type in _NORMALIZE_BEFORE and not hasattr(cfg, "normalize_before"):
                cfg.normalize_before = _NORMALIZE_BEFORE[model_type]
            kwargs["use_safetensors"] = True
            kwargs.pop("trust_remote_code", None)
            return model_class.from_pretrained(model_name_or_path, **kwargs)

        def load_tokenizer(self, tokenizer_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            kwargs.pop("trust_remote_code", None)
            return tokenizer_class.from_pretrained(model_name_or_path, **kwargs)

    copy_files = [name for name in _CT2_COPY_FILES if (src / name).is_file()]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        converter = _SafeConverter(str(src), copy_files=copy_files, trust_remote_code=False)
        converter.convert(str(tmp), quantization=quantization, force=True)
        (tmp / "pipeline-conversion.json").write_text(
            json.dumps(
                {
                    "source_model": resolved.name,
                    "source_label": resolved.label,
                    "source_path": str(src),
                    "quantization": quantization,
                    "ctranslate2": ctranslate2.__version__,
                    "transformers": transformers.__version__,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except ModelError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(
            f"converting {src} to CTranslate2 ({quantization}) failed: {type(exc).__name__}: {exc}"
        ) from exc
    return out


def select_torch_device(device: str, *, setting: str) -> str:
    """"cpu" or "cuda" for torch: "auto" takes CUDA when available; "cuda" without it is an error.

    `setting` names the config key in the error message (e.g. "translate.device").
    """
    import torch

    if device == "cpu":
        return "cpu"
    if device in ("auto", "cuda"):
        if torch.cuda.is_available():
            return "cuda"
        if device == "cuda":
            raise ModelError(
                f"{setting} is 'cuda' but torch sees no CUDA device (torch {torch.__version__}); "
                f"set {setting} to 'auto' or 'cpu'"
            )
        return "cpu"
    raise ModelError(f"{setting}: unknown device {device!r} (expected auto, cpu or cuda)")
