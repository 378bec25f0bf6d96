"""The build fails when a template string of any app lacks a Simplified Chinese translation.

Template msgids are extracted the way ``makemessages`` does (Django's ``templatize``) from every
template under src/guanxi; translations are read from the .po catalogues themselves (each app's
own, the project-wide one, and Django's), so a stale or missing compiled .mo cannot hide a gap.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import django
from django.utils.translation.template import templatize

SRC = Path(__file__).resolve().parents[2]  # src/guanxi
DJANGO_DIR = Path(django.__file__).resolve().parent

_LITERAL = r"""u?(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_CALL = re.compile(r"\b(npgettext|pgettext|ngettext|gettext)\(((?:\s*" + _LITERAL + r"\s*,?)+)")
_ONE_LITERAL = re.compile(_LITERAL)


def template_files() -> list[Path]:
    return sorted(
        p for p in SRC.rglob("templates/**/*.html") if ".venv" not in p.parts and "node_modules" not in p.parts
    )


def template_msgids(path: Path) -> set[tuple[str, str]]:
    """{(context, msgid)} of every {% translate %} / {% blocktranslate %} with a literal string."""
    found = set()
    for match in _CALL.finditer(templatize(path.read_text(encoding="utf-8"), origin=str(path))):
        func, args = match.groups()
        literals = [ast.literal_eval(lit.lstrip("u")) for lit in _ONE_LITERAL.findall(args)]
        context = literals.pop(0) if func.startswith(("pgettext", "npgettext")) else ""
        if literals:
            found.add((context, literals[0]))
    return found


def parse_po(path: Path) -> list[dict]:
    """Entries of a .po file: context, msgid, the msgstrs the language needs (nplurals), fuzzy; #~ skipped."""
    entries = []
    nplurals = 1
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, list[str]] = {}
        current = None
        fuzzy = False
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            match = re.match(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) (\".*\")$", line)
            if match:
                current = match.group(1)
                fields[current] = [match.group(2)]
            elif line.startswith('"') and current:
                fields[current].append(line)
        if "msgid" not in fields:
            continue
        text = {k: "".join(ast.literal_eval(part) for part in v) for k, v in fields.items()}
        if text["msgid"] == "":
            header = re.search(r"nplurals\s*=\s*(\d+)", text.get("msgstr", ""))
            nplurals = int(header.group(1)) if header else nplurals
            continue
        plural = "msgid_plural" in text
        entries.append(
            {
                "context": text.get("msgctxt", ""),
                "msgid": text["msgid"],
                "msgstrs": [v for k, v in text.items() if k.startswith("msgstr")][: nplurals if plural else 1],
                "fuzzy": fuzzy,
            }
        )
    return entries


def project_catalogues() -> list[Path]:
    return sorted(p for p in SRC.rglob("locale/zh_Hans/LC_MESSAGES/django.po") if ".venv" not in p.parts)


def translated_ids(paths) -> set[tuple[str, str]]:
    out = set()
    for path in paths:
        for e in parse_po(path):
            if not e["fuzzy"] and e["msgstrs"] and all(e["msgstrs"]):
                out.add((e["context"], e["msgid"]))
    return out


def test_extraction_finds_translate_and_blocktranslate(tmp_path):
    sample = tmp_path / "t.html"
    sample.write_text(
        '{% load i18n %}{% translate "Sign in" %}{% translate "Verb" context "menu" %}'
        "{% blocktranslate with n=x %}Hello {{ n }}{% endblocktranslate %}"
        "{% blocktranslate count counter=k %}one {{ counter }}{% plural %}many {{ counter }}{% endblocktranslate %}",
        encoding="utf-8",
    )
    assert template_msgids(sample) == {("", "Sign in"), ("menu", "Verb"), ("", "Hello %(n)s"), ("", "one %(counter)s")}


def test_po_parser_sees_empty_and_fuzzy_entries(tmp_path):
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: zh_Hans\\n"\n"Plural-Forms: nplurals=1; plural=0;\\n"\n\n'
        'msgid "A"\nmsgstr "甲"\n\nmsgid "B"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "C"\nmsgstr "丙"\n\nmsgid "D %(n)s"\nmsgid_plural "Ds %(n)s"\nmsgstr[0] "丁"\nmsgstr[1] ""\n',
        encoding="utf-8",
    )
    assert translated_ids([po]) == {("", "A"), ("", "D %(n)s")}


def test_every_template_string_has_a_zh_hans_translation():
    templates = template_files()
    assert any("workspace" in str(p) for p in templates)
    django_catalogues = list(DJANGO_DIR.rglob("locale/zh_Hans/LC_MESSAGES/django.po"))
    known = translated_ids(project_catalogues()) | translated_ids(django_catalogues)
    missing = sorted(
        f"{path.relative_to(SRC)}: {msgid!r}" + (f" (context {context!r})" if context else "")
        for path in templates
        for context, msgid in template_msgids(path)
        if (context, msgid) not in known
    )
    assert not missing, "Template strings without a zh-Hans translation:\n" + "\n".join(missing)


def test_workspace_catalogue_is_complete():
    po = SRC / "workspace" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    bad = [e["msgid"] for e in parse_po(po) if e["fuzzy"] or not e["msgstrs"] or not all(e["msgstrs"])]
    assert not bad, f"untranslated or fuzzy in {po}: {bad}"
