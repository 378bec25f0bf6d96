"""The kinds of import: what the columns of a file may map to, and how its rows are run.

Each app registers the kinds it owns in its ``AppConfig.ready()`` (customers: "customers"; sales:
"orders"). ``import_run``, the ``guanxi import`` command and the import pages look a kind up by the
job's ``target``, so the import machinery here never imports the apps above ``customers``; they reuse
its reading, cleaning and writing.

A kind's ``run(run, rows)`` gets the ``ImportRun`` (the job, dry run or not, and where to report rejected
rows, checkpoints and progress) and the file's rows after the resume point as ``(line number, {column:
text})``; it writes (or, in a dry run, counts) batch by batch, each batch with its checkpoint
(``ImportRun.commit_point``) in its transaction, then calls ``ImportRun.advance``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from guanxi.customers.imports.writing import ImportRun

#: A row of the file: (line number, {column heading: cell text}).
Row = tuple[int, dict[str, str]]


@dataclass(frozen=True)
class ImportKind:
    """One kind of import (``ImportJob.target``)."""

    name: str
    #: The fields a column may be mapped to.
    fields: Sequence[str]
    #: Common headings (lower case, Chinese and English) -> field, for the guessed mapping.
    aliases: Mapping[str, str]
    #: Fields a mapping must include.
    required: Sequence[str]
    #: Runs the rows of a job (see the module's docstring).
    run: Callable[[ImportRun, Iterator[Row]], None]
    #: Whether columns named after a custom attribute map to it (``attr:<key>``).
    custom_attributes: bool = False
    #: Field -> its label (lazy strings) for the mapping page; a field without one reads as its code.
    labels: Mapping[str, Any] = field(default_factory=dict)

    def label(self, name: str) -> str:
        """The field's label as users read it ("姓名", "订单号"), never its code when a label is registered."""
        label = self.labels.get(name)
        return str(label) if label is not None else name


_kinds: dict[str, ImportKind] = {}


def import_kind_register(kind: ImportKind) -> None:
    _kinds[kind.name] = kind


def import_kind(name: str) -> ImportKind:
    try:
        return _kinds[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"Imports of {name} need the app that registers them (import_kind_register) in INSTALLED_APPS."
        ) from None


def import_kinds() -> dict[str, ImportKind]:
    """The registered kinds by name."""
    return dict(_kinds)
