"""Meta's Facility Support Analyzer dataset."""

from __future__ import annotations

import json
import os
import random

from afnio._variable import Variable
from afnio.utils.datasets._base import DownloadedDataset
from afnio.utils.datasets.utils import PathLike

__all__ = ["FacilitySupport"]

_SPLITS = ["train", "val", "test"]

FacilitySupportSample = tuple[Variable, tuple[Variable, Variable, Variable]]


class FacilitySupport(DownloadedDataset[FacilitySupportSample]):
    """The Facility Support Analyzer dataset: 200 enterprise emails and messages about facility
    maintenance and support, each labelled with an urgency, a sentiment and service categories.

    The file ``dataset.json`` is downloaded on first use into ``{root}/FacilitySupport/raw`` and
    checked against its MD5; later uses read the verified copy. The samples are shuffled with a
    fixed seed and split 33% / 33% / 34% into train (66), val (66) and test (68).

    Source: https://github.com/meta-llama/llama-prompt-ops, use case
    ``facility-support-analyzer``.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        root: The data folder (required). To work offline, place ``dataset.json`` at
            ``{root}/FacilitySupport/raw/dataset.json``.
        progress: Whether to show a progress bar while downloading.

    Each sample is ``(message, (urgency, sentiment, categories))``, four fresh
    :class:`~afnio.Variable` objects: the message text (role ``"input email or message"``),
    the urgency (``"low"``, ``"medium"`` or ``"high"``; role ``"output urgency"``), the
    sentiment (``"negative"``, ``"neutral"`` or ``"positive"``; role ``"output sentiment"``) and
    the categories as a JSON object mapping each category name to a bool (role
    ``"output categories"``).

    Raises:
        ValueError: If ``split`` is not one of the three splits.
        TypeError: If ``root`` is missing or not a path.
        RuntimeError: If the file cannot be downloaded or is corrupted.

    Example:
        >>> from afnio.utils.datasets import FacilitySupport
        >>> train = FacilitySupport("train", root="data")  # doctest: +SKIP
        >>> message, (urgency, sentiment, categories) = train[0]  # doctest: +SKIP
        >>> urgency.role  # doctest: +SKIP
        'output urgency'
    """

    mirrors = [
        "https://raw.githubusercontent.com/meta-llama/llama-prompt-ops/refs/heads/main/"
        "use-cases/facility-support-analyzer/"
    ]
    resources = [("dataset.json", "530dc66b1b07c9b15b19f08891e9bfa0")]

    def __init__(self, split: str, root: PathLike | None, *, progress: bool = True) -> None:
        if split not in _SPLITS:
            raise ValueError(
                f"FacilitySupport Dataset: expected split in {_SPLITS}, but got split={split!r}"
            )
        super().__init__(root, progress=progress)
        self.split = split
        self._download()
        samples = self._load(os.path.join(self.raw_folder, "dataset.json"))
        random.Random(0).shuffle(samples)
        n_train = int(len(samples) * 0.33)
        n_val = int(len(samples) * 0.33)
        if split == "train":
            self._samples = samples[:n_train]
        elif split == "val":
            self._samples = samples[n_train : n_train + n_val]
        else:
            self._samples = samples[n_train + n_val :]

    @staticmethod
    def _load(path: str) -> list[tuple[str, str, str, str]]:
        """Reads ``(message, urgency, sentiment, categories as JSON)`` for every record."""
        with open(path, encoding="utf-8") as f:
            records = json.load(f)
        if not isinstance(records, list):
            raise RuntimeError(f"{path} should hold a JSON list of records.")
        samples = []
        for i, record in enumerate(records):
            try:
                message = record["fields"]["input"]
                answer = json.loads(record["answer"])
                samples.append(
                    (
                        message,
                        answer["urgency"],
                        answer["sentiment"],
                        json.dumps(answer["categories"]),
                    )
                )
            except (KeyError, TypeError, ValueError) as error:
                raise RuntimeError(
                    f"Record {i} of {path} is not in the expected format (fields.input and a "
                    f"JSON answer with urgency, sentiment and categories): {error!r}"
                ) from error
        return samples

    def __getitem__(self, index: int) -> FacilitySupportSample:
        index = self._check_index(index, len(self._samples))
        message, urgency, sentiment, categories = self._samples[index]
        return (
            Variable(message, role="input email or message"),
            (
                Variable(urgency, role="output urgency"),
                Variable(sentiment, role="output sentiment"),
                Variable(categories, role="output categories"),
            ),
        )

    def __len__(self) -> int:
        return len(self._samples)

    def extra_repr(self) -> str:
        return f"Split: {self._split_name(self.split)}"
