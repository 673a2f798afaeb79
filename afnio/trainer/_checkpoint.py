"""Trainer checkpoints: where they go, what they hold, how an agent and optimizers get them back.

A checkpoint is an ``afnio.save`` archive (written atomically) of::

    {
        "version": 1,
        "epoch": 1-based epoch,
        "batch": 0-based index of the last finished batch, or None for an end-of-epoch checkpoint,
        "agent_state_dict": agent.state_dict(),
        "optimizer_state_dict": optimizer.state_dict() (a list of them for several optimizers),
        "trainer_state": everything resuming needs (position, running metrics, costs, history,
                         the state of Python's global random generator),
    }
"""

from __future__ import annotations

import copy
import glob
import os
import pickle
import time
from collections.abc import Mapping
from typing import Any

import afnio
from afnio._files import write_atomically
from afnio.models.model import BaseModel

__all__ = [
    "CHECKPOINT_VERSION",
    "batch_checkpoint_path",
    "epoch_checkpoint_path",
    "find_last_checkpoint",
    "read_checkpoint",
    "restore_agent",
    "restore_optimizers",
    "write_checkpoint",
]

CHECKPOINT_VERSION = 1

_LAST = "last_checkpoint.txt"
_KEYS = ("epoch", "batch", "agent_state_dict", "optimizer_state_dict", "trainer_state")
_MODEL_KEYS = frozenset({"class_type", "provider", "usage"})


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def batch_checkpoint_path(root: str, epoch: int, batch_idx: int) -> str:
    """``{root}/checkpoints/epoch_{epoch}/checkpoint_batch{batch_idx}_{YYYYmmdd-HHMMSS}.hf``."""
    name = f"checkpoint_batch{batch_idx}_{_stamp()}.hf"
    return os.path.join(root, "checkpoints", f"epoch_{epoch}", name)


def epoch_checkpoint_path(root: str, epoch: int) -> str:
    """``{root}/checkpoints/checkpoint_epoch{epoch}_{YYYYmmdd-HHMMSS}.hf``."""
    return os.path.join(root, "checkpoints", f"checkpoint_epoch{epoch}_{_stamp()}.hf")


def _pointer(root: str) -> str:
    return os.path.join(root, "checkpoints", _LAST)


def write_checkpoint(root: str, path: str, payload: dict[str, Any]) -> None:
    """Saves ``payload`` atomically to ``path`` (creating folders), then records it as the
    latest checkpoint of ``root`` (in ``{root}/checkpoints/last_checkpoint.txt``).

    Raises:
        RuntimeError: If something in it cannot be saved (e.g. a lambda registered on the agent).
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        afnio.save(payload, path)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise RuntimeError(
            f"Could not write the checkpoint {path}: {exc} (Or create the Trainer with "
            "enable_checkpointing=False.)"
        ) from exc
    pointer = _pointer(root)
    relative = os.path.relpath(path, root)
    write_atomically(pointer, lambda handle: handle.write(relative), prefix=".last-")


def remove_interrupted_writes(root: str) -> list[str]:
    """Deletes the temporary files that interrupted checkpoint writes left under
    ``{root}/checkpoints`` (``afnio.save``'s ``.afnio-*.tmp`` and the pointer's ``.last-*``).

    Called when a run resumes: the run that was writing them is gone, and its last complete
    checkpoint is intact. Returns the paths removed.
    """
    folder = os.path.join(root, "checkpoints")
    stale = glob.glob(os.path.join(folder, "**", ".afnio-*.tmp"), recursive=True)
    stale += glob.glob(os.path.join(folder, ".last-*"))
    for path in stale:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return stale


def find_last_checkpoint(root: str) -> str:
    """The latest checkpoint written under ``root``: the one named by
    ``{root}/checkpoints/last_checkpoint.txt``, else the newest ``.hf`` file by time.

    Raises:
        FileNotFoundError: If there is none.
    """
    try:
        with open(_pointer(root), encoding="utf-8") as handle:
            path = os.path.join(root, handle.read().strip())
        if os.path.isfile(path):
            return path
    except OSError:
        pass
    paths = glob.glob(os.path.join(root, "checkpoints", "**", "*.hf"), recursive=True)
    if not paths:
        raise FileNotFoundError(f"No checkpoint found under {os.path.join(root, 'checkpoints')}.")
    return max(paths, key=lambda p: (os.stat(p).st_mtime_ns, p))


def read_checkpoint(path: str) -> dict[str, Any]:
    """Loads a checkpoint written by the Trainer.

    Raises:
        ValueError: If the file is not a Trainer checkpoint.
    """
    payload = afnio.load(path)
    missing = [key for key in _KEYS if not isinstance(payload, Mapping) or key not in payload]
    if missing:
        raise ValueError(
            f"{path} is not a checkpoint written by afnio's Trainer (missing {missing}); "
            "fit(ckpt_path=...) needs one of the files under <default_root_dir>/checkpoints."
        )
    return dict(payload)


def _is_saved_model(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == _MODEL_KEYS


def restore_agent(agent: Any, state_dict: Mapping[str, Any]) -> None:
    """Loads the agent's state; model clients are not restored (the agent keeps its own).

    Raises:
        RuntimeError: If the checkpoint does not match the agent.
    """
    model_keys = {key for key, value in state_dict.items() if _is_saved_model(value)}
    kept = {key: value for key, value in state_dict.items() if key not in model_keys}
    result = agent.load_state_dict(kept, strict=False)
    missing = [key for key in result.missing_keys if key not in model_keys]
    if missing or result.unexpected_keys:
        raise RuntimeError(
            f"The checkpoint does not match the agent {type(agent).__name__}: missing keys "
            f"{missing}, unexpected keys {result.unexpected_keys}."
        )


def restore_optimizers(optimizers: list[Any], saved: Any) -> None:
    """Loads optimizer state dicts; saved model clients are replaced by the live ones.

    Raises:
        ValueError: If the number of optimizers differs from the checkpoint's.
    """
    saved_list = saved if isinstance(saved, list) else [saved]
    if len(saved_list) != len(optimizers):
        raise ValueError(
            f"The checkpoint holds {len(saved_list)} optimizer state(s), but "
            f"configure_optimizers() returned {len(optimizers)}."
        )
    for optimizer, state in zip(optimizers, saved_list):
        state = {"state": state["state"], "param_groups": copy.copy(state["param_groups"])}
        groups = []
        for live, group in zip(optimizer.param_groups, state["param_groups"]):
            group = dict(group)
            for key, value in group.items():
                if _is_saved_model(value) and isinstance(live.get(key), BaseModel):
                    group[key] = live[key]
            groups.append(group)
        state["param_groups"] = groups + state["param_groups"][len(groups) :]
        optimizer.load_state_dict(state)
