"""Substring search on short queries (one or two characters) that PostgreSQL can answer from an index.

Name search is a substring match (``icontains``: ``UPPER(name) LIKE UPPER('%…%')``). The trigram index
serves queries of three characters or more; a one- or two-character query (a Chinese surname, or a
two-character full name such as 王伟) contains no trigram, so PostgreSQL would read the whole table.

``guanxi_short_grams(text)`` returns every one- and two-character substring of a value
(``'王秀英'`` → ``{王, 秀, 英, 王秀, 秀英}``); a GIN index on ``guanxi_short_grams(UPPER(name))``
(``ShortGramIndex``) then answers "which names contain this one- or two-character string" exactly.
``substring_q`` asks a short query that way on PostgreSQL and as ``icontains`` elsewhere, with the same
results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.postgres.fields import ArrayField
from django.db import connection, models
from django.db.models.functions import Upper

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor
    from django.db.migrations.state import StateApps
    from django.db.models.sql.compiler import SQLCompiler

#: Longest query the short-gram index serves; longer ones are the trigram index's.
SHORT_GRAM_MAX = 2

CREATE_SHORT_GRAMS_FUNCTION = """
CREATE OR REPLACE FUNCTION guanxi_short_grams(value text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  grams text[] := string_to_array(value, NULL);  -- the characters
BEGIN
  FOR i IN 1 .. char_length(value) - 1 LOOP
    grams := grams || substr(value, i, 2);  -- each neighbouring pair
  END LOOP;
  RETURN grams;
END
$$
"""
DROP_SHORT_GRAMS_FUNCTION = "DROP FUNCTION IF EXISTS guanxi_short_grams(text)"


def create_short_grams_function(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Migration step (``RunPython``): the function the short-gram index calls; nothing to do elsewhere."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_SHORT_GRAMS_FUNCTION)


def drop_short_grams_function(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SHORT_GRAMS_FUNCTION)


class ShortGrams(models.Func):
    """``guanxi_short_grams(expression)``: the one- and two-character substrings (PostgreSQL only)."""

    function = "guanxi_short_grams"
    output_field = ArrayField(models.TextField())


class ShortGramsContain(models.Func):
    """``guanxi_short_grams(UPPER(field)) @> ARRAY[UPPER(query)]``: the condition the index serves."""

    output_field = models.BooleanField()

    def __init__(self, field: str, query: str):
        super().__init__(Upper(field), Upper(models.Value(query, output_field=models.TextField())))

    def as_sql(  # type: ignore[override]  # Func's template arguments are not used here
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> tuple[str, tuple[Any, ...]]:
        (field_sql, field_params), (query_sql, query_params) = (
            compiler.compile(expression) for expression in self.source_expressions
        )
        return f"guanxi_short_grams({field_sql}) @> ARRAY[{query_sql}]", (*field_params, *query_params)


def substring_q(field: str, query: str) -> models.Q:
    """Names (or any text ``field``) containing ``query``, case-insensitively: what ``icontains`` finds.

    On PostgreSQL a one- or two-character query is asked as ``ShortGramsContain`` alone, which finds
    exactly the rows ``icontains`` finds (``UPPER`` maps character to character, so a one- or
    two-character substring of ``UPPER(field)`` is one of its short grams) and which the planner can
    estimate from the index's statistics: a rare character is an index lookup, a very common one a
    walk of the newest rows until the page is full. Everything else is ``icontains``.
    """
    if connection.vendor == "postgresql" and 0 < len(query.upper()) <= SHORT_GRAM_MAX:
        return models.Q(ShortGramsContain(field, query))
    return models.Q(**{f"{field}__icontains": query})
