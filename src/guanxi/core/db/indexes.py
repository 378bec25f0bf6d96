"""Indexes that only PostgreSQL can build, with a plain fallback elsewhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models.indexes import IndexExpression

if TYPE_CHECKING:
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor
    from django.db.backends.ddl_references import Statement

# What django.contrib.postgres's AppConfig.ready() does for OpClass (that app, with its per-connection
# type-handler queries, is not installed): let CREATE INDEX put the operator class after the expression.
if OpClass not in IndexExpression.wrapper_classes:
    IndexExpression.register_wrappers(*IndexExpression.wrapper_classes, OpClass)


class TrigramIndex(GinIndex):
    """A GIN trigram index (``pg_trgm``) that makes ``icontains``/``LIKE '%…%'`` searches index lookups.

    Declare it as ``TrigramIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name=...)`` to serve
    Django's ``icontains``, which compares ``UPPER(column)``. On other databases (SQLite in tests and
    small installs) it is created as a plain index on the same expression, so schema rebuilds work.
    Needs ``TrigramExtension()`` in the migration before it.
    """

    def create_sql(
        self,
        model: type[models.Model],
        schema_editor: BaseDatabaseSchemaEditor,
        using: str = "",
        **kwargs: Any,
    ) -> Statement:
        if schema_editor.connection.vendor == "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        plain = [e.source_expressions[0] if isinstance(e, OpClass) else e for e in self.expressions]
        return models.Index(*plain, name=self.name).create_sql(model, schema_editor, **kwargs)


class ShortGramIndex(models.Index):
    """A GIN index on ``guanxi_short_grams(expression)`` for one- and two-character substring search.

    Declare it as ``ShortGramIndex(Upper("name"), name=...)`` beside a ``TrigramIndex`` on the same
    expression and query with ``guanxi.core.db.search.substring_q``. On other databases it is a plain
    index on the expression, so schema rebuilds work. Needs the function first
    (``RunPython(create_short_grams_function, drop_short_grams_function)`` in the migration).
    """

    def create_sql(
        self,
        model: type[models.Model],
        schema_editor: BaseDatabaseSchemaEditor,
        using: str = "",
        **kwargs: Any,
    ) -> Statement:
        if schema_editor.connection.vendor == "postgresql":
            from guanxi.core.db.search import ShortGrams

            grams = [ShortGrams(e) for e in self.expressions]
            return GinIndex(*grams, name=self.name).create_sql(model, schema_editor, using=using, **kwargs)
        return models.Index(*self.expressions, name=self.name).create_sql(model, schema_editor, **kwargs)
