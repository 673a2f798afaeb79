"""What the bundled datasets share: a root folder, raw files with known MD5s, mirrors to
download them from, and the repr."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TypeVar

from afnio.utils.data.dataset import Dataset
from afnio.utils.datasets.utils import PathLike, check_integrity, download_url

T_co = TypeVar("T_co", covariant=True)

_SPLIT_NAMES = {"train": "Train", "val": "Validation", "test": "Test"}


class DownloadedDataset(Dataset[T_co]):
    """A dataset read from raw files under ``{root}/{ClassName}/raw``, downloaded on first use.

    Subclasses set ``mirrors`` (base URLs, tried in order, each followed by the file name) and
    ``resources`` (``(filename, md5)`` pairs). Both are class attributes so that they can be
    pointed elsewhere, e.g. at a local server in tests or an internal mirror.
    """

    mirrors: list[str] = []
    resources: list[tuple[str, str]] = []

    def __init__(self, root: PathLike | None, *, progress: bool = True) -> None:
        name = type(self).__name__
        if root is None:
            raise TypeError(
                f"{name} Dataset: `root` is required: the folder that holds (or will hold) the "
                f"data, e.g. root='data' for data/{name}/raw."
            )
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(
                f"{name} Dataset: `root` must be a path (str or os.PathLike), but got "
                f"{type(root).__name__}: {root!r}."
            )
        self.root = os.path.expanduser(os.fspath(root))
        self.progress = progress

    @property
    def raw_folder(self) -> str:
        """The folder holding the raw downloaded files."""
        return os.path.join(self.root, type(self).__name__, "raw")

    def _resources(self, filenames: Iterable[str] | None) -> list[tuple[str, str]]:
        if filenames is None:
            return list(self.resources)
        wanted = set(filenames)
        return [(f, md5) for f, md5 in self.resources if f in wanted]

    def _check_exists(self, filenames: Iterable[str] | None = None) -> bool:
        return all(
            check_integrity(os.path.join(self.raw_folder, f), md5)
            for f, md5 in self._resources(filenames)
        )

    def _download(self, filenames: Iterable[str] | None = None) -> None:
        """Makes sure the raw files are present and intact, downloading those that are not."""
        name = type(self).__name__
        for filename, md5 in self._resources(filenames):
            path = os.path.join(self.raw_folder, filename)
            errors: list[str] = []
            for mirror in self.mirrors:
                try:
                    download_url(
                        f"{mirror}{filename}",
                        self.raw_folder,
                        filename=filename,
                        md5=md5,
                        progress=self.progress,
                    )
                except RuntimeError as error:
                    errors.append(str(error))
                    continue
                break
            else:
                details = "\n".join(f"- {e}" for e in errors) or "- no mirror is configured"
                raise RuntimeError(
                    f"Error downloading {filename} for the {name} dataset:\n{details}\n"
                    f"To use the dataset offline, place the file at {path} yourself "
                    f"(expected MD5 {md5})."
                )

    def _split_name(self, split: str) -> str:
        return _SPLIT_NAMES[split]

    def extra_repr(self) -> str:
        """Extra lines for ``repr()``."""
        return ""

    def __repr__(self) -> str:
        lines = [f"Number of datapoints: {len(self)}", f"Root location: {self.root}"]
        lines += self.extra_repr().splitlines()
        return "\n".join([f"Dataset {type(self).__name__}"] + ["    " + line for line in lines])

    def _check_index(self, index: int, length: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(
                f"{type(self).__name__} indices must be integers, but got "
                f"{type(index).__name__}: {index!r}."
            )
        if not -length <= index < length:
            raise IndexError("Index out of range.")
        return index
