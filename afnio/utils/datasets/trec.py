"""The TREC question classification dataset."""

from __future__ import annotations

import os
import random

from afnio.utils.datasets._base import DownloadedDataset
from afnio.utils.datasets.utils import PathLike

__all__ = ["TREC"]

_TASKS = ["coarse", "fine"]
_SPLITS = ["train", "val", "test"]
_TRAIN_FILE = "train_5500.label"
_TEST_FILE = "TREC_10.label"

TRECSample = tuple[str, tuple[str, str]]


def _read_labelled_questions(path: str) -> list[TRECSample]:
    """Parses lines ``FINE_LABEL question text`` into ``(question, (fine, coarse))``."""
    samples = []
    with open(path, "rb") as f:
        for raw in f:
            # The files are ASCII except for one stray 0xF0 byte; it stands for a space.
            line = raw.replace(b"\xf0", b" ").strip().decode("utf-8", errors="replace")
            if not line:
                continue
            fine, _, question = line.partition(" ")
            samples.append((question, (fine, fine.split(":", 1)[0])))
    return samples


class TREC(DownloadedDataset[TRECSample]):
    """The TREC question classification dataset (Li & Roth): questions labelled with one of 6
    coarse classes (ABBR, DESC, ENTY, HUM, LOC, NUM) and one of 50 fine classes (``HUM:ind``,
    ``LOC:city``, …).

    The training file (5,452 questions) and the test file (500 questions, TREC 10) are
    downloaded on first use into ``{root}/TREC/raw`` and checked against their MD5s. ``train``
    and ``val`` come from the training file, de-duplicated and split per label (stratified by
    the labels of ``task``) with a fixed seed; ``test`` is the whole test file.

    Source: https://cogcomp.seas.upenn.edu/Data/QA/QC/

    Args:
        task: ``"coarse"`` or ``"fine"``: which labels the train/val split is stratified by.
        split: ``"train"``, ``"val"`` or ``"test"``.
        validation_split: The fraction of each label's training questions that goes to
            ``val`` (between 0 and 1).
        root: The data folder (required). To work offline, place ``train_5500.label`` and
            ``TREC_10.label`` in ``{root}/TREC/raw/``.
        progress: Whether to show a progress bar while downloading.

    Each sample is ``(question, (fine_label, coarse_label))``, all plain strings.

    Raises:
        ValueError: If ``task``, ``split`` or ``validation_split`` is invalid, or if the split
            leaves a label without training (or, when ``validation_split > 0``, validation)
            questions.
        TypeError: If ``root`` is missing or not a path.
        RuntimeError: If a file cannot be downloaded or is corrupted.

    Example:
        >>> from afnio.utils.datasets import TREC
        >>> train = TREC("coarse", "train", validation_split=0.1, root="data")  # doctest: +SKIP
        >>> question, (fine, coarse) = train[0]  # doctest: +SKIP
        >>> coarse  # doctest: +SKIP
        'ABBR'
    """

    mirrors = ["https://cogcomp.seas.upenn.edu/Data/QA/QC/"]
    resources = [
        (_TRAIN_FILE, "073462e3fcefaae31e00edb1f18d2d02"),
        (_TEST_FILE, "323a3554401d86e650717e2d2f942589"),
    ]

    def __init__(
        self,
        task: str,
        split: str,
        validation_split: float = 0.0,
        root: PathLike | None = None,
        *,
        progress: bool = True,
    ) -> None:
        if task not in _TASKS:
            raise ValueError(f"TREC Dataset: expected task in {_TASKS}, but got task={task!r}")
        if split not in _SPLITS:
            raise ValueError(f"TREC Dataset: expected split in {_SPLITS}, but got split={split!r}")
        if (
            isinstance(validation_split, bool)
            or not isinstance(validation_split, (int, float))
            or not 0 <= validation_split <= 1
        ):
            raise ValueError(
                "TREC Dataset: expected validation_split in [0, 1], but got "
                f"validation_split={validation_split!r}"
            )
        super().__init__(root, progress=progress)
        self.task = task
        self.split = split
        self.validation_split = validation_split
        filename = _TEST_FILE if split == "test" else _TRAIN_FILE
        self._download([filename])
        samples = _read_labelled_questions(os.path.join(self.raw_folder, filename))
        if split == "test":
            self._samples = samples
        else:
            train, val = self._stratified_split(samples)
            self._samples = train if split == "train" else val

    def _stratified_split(self, samples: list[TRECSample]) -> tuple[list, list]:
        unique = list(dict.fromkeys(samples))
        by_label: dict[str, list[TRECSample]] = {}
        for sample in unique:
            fine, coarse = sample[1]
            by_label.setdefault(fine if self.task == "fine" else coarse, []).append(sample)
        rng = random.Random(42)
        train: list[TRECSample] = []
        val: list[TRECSample] = []
        for label in sorted(by_label):
            group = by_label[label]
            rng.shuffle(group)
            cut = int(len(group) * (1 - self.validation_split))
            if cut == 0:
                raise ValueError(
                    f"TREC Dataset: validation_split={self.validation_split!r} leaves no training "
                    f"question for the {self.task} label {label!r} ({len(group)} in all); use a "
                    "smaller validation_split."
                )
            if self.validation_split > 0 and cut == len(group):
                raise ValueError(
                    f"TREC Dataset: validation_split={self.validation_split!r} leaves no "
                    f"validation question for the {self.task} label {label!r} ({len(group)} in "
                    "all); use a larger validation_split."
                )
            train += group[:cut]
            val += group[cut:]
        return train, val

    def __getitem__(self, index: int) -> TRECSample:
        return self._samples[self._check_index(index, len(self._samples))]

    def __len__(self) -> int:
        return len(self._samples)

    def extra_repr(self) -> str:
        task = "Classify Coarse Labels" if self.task == "coarse" else "Classify Fine Labels"
        return f"Split: {self._split_name(self.split)}\nTask: {task}"
