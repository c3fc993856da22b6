"""The one exception type for problems a user can cause (bad input files, parameters, reference files)."""

from __future__ import annotations

import os


class Tso3xInputError(Exception):
    """A bad input: names the file (and HDU or keyword, when known) and the problem.

    The CLI prints it as one line, ``tso3x: error: <file>: <problem>``, and exits with status 2.

    Parameters
    ----------
    path : str or os.PathLike or None
        The offending file; ``None`` for a problem with a parameter.
    problem : str
        What is wrong, in a few words.
    where : str, optional
        HDU and/or keyword inside the file, shown as ``file[where]``.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str, where: str | None = None):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        self.where = where
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.path is None:
            return self.problem
        loc = self.path if self.where is None else f"{self.path}[{self.where}]"
        return f"{loc}: {self.problem}"


class Tso3xRunError(Exception):
    """A run that failed after it began writing (disk full, I/O error): complete products are kept.

    The CLI prints it as one line, ``tso3x: error: <folder>: <problem>``, and exits with status 1.
    """

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
