"""Streaming imports from CSV or XLSX files, of customers here and of what other apps register.

The file is read row by row and written in batches, so a million rows need no more memory than a
thousand. A dry run checks every row and writes nothing; the real run writes each good row once and
reports every rejected row with its reason in a CSV the user can download, fix and import again.

- ``reading``: file formats, encodings, the mapping of columns to fields;
- ``cleaning``: row checks every kind shares and the pool of processes that cleans batches;
- ``writing``: the run of a job, its checkpoints and resume, the rejected-rows report and its files;
- ``kinds``: the registry of import kinds (``customers`` registers "customers", ``sales`` "orders");
- ``customers``: the customers kind.
"""

from __future__ import annotations

from guanxi.customers.imports.cleaning import format_errors, import_workers, oversized_cell
from guanxi.customers.imports.customers import (
    ALIASES,
    CUSTOMER_FIELDS,
    GENDERS,
    CustomerCopyRows,
    CustomerRowCleaner,
)
from guanxi.customers.imports.kinds import ImportKind, Row, import_kind, import_kind_register, import_kinds
from guanxi.customers.imports.reading import (
    ImportFileError,
    auto_mapping,
    count_rows,
    file_sha256,
    import_dir,
    read_header,
    read_rows,
    validate_mapping,
)
from guanxi.customers.imports.writing import (
    ImportRun,
    ImportTakenOver,
    import_files_cleanup,
    import_job_create,
    import_run,
    upload_discard,
)

__all__ = [
    "ALIASES",
    "CUSTOMER_FIELDS",
    "GENDERS",
    "CustomerCopyRows",
    "CustomerRowCleaner",
    "ImportFileError",
    "ImportKind",
    "ImportRun",
    "ImportTakenOver",
    "Row",
    "auto_mapping",
    "count_rows",
    "file_sha256",
    "format_errors",
    "import_dir",
    "import_files_cleanup",
    "import_job_create",
    "import_kind",
    "import_kind_register",
    "import_kinds",
    "import_run",
    "import_workers",
    "oversized_cell",
    "read_header",
    "read_rows",
    "upload_discard",
    "validate_mapping",
]
