"""DOCX -> (text, title) with a bound on what the zip may unpack to, checked before anything is parsed.

Why: a DOCX is a zip, so its size says little about its work. A 108 KB file unpacked to 37 MB of XML
and ran for minutes (431 KB reached 2.9 GB of memory); python-docx also looked up a paragraph's style
by scanning styles.xml once per paragraph (31 s for 16,000 paragraphs).

Bound: before python-docx sees the file, the zip may list at most ``MAX_PARTS`` parts, declare at
most ``MAX_UNZIPPED`` bytes in all and ``MAX_XML`` bytes of XML, and the XML parts, read once as a
stream, must really stay within ``MAX_XML`` (a lying size field is caught, not believed). A file over
a bound is skipped as ``too_large`` with the sizes in its detail. Paragraph text is read from the XML
tree with a plain child loop (the text python-docx's ``Paragraph.text`` gives, without an XPath query
per run) and a style's name is looked up once per style, so the time is linear in the XML size.
"""
from __future__ import annotations

import io
import zipfile

from .skip import Skip

MAX_PARTS = 10_000
MAX_XML = 32 << 20          # bytes of XML (document, styles, headers, ...) once unpacked
MAX_UNZIPPED = 256 << 20    # bytes of every part (images included) once unpacked
_READ_BLOCK = 1 << 20

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_RUN, _HYPERLINK = _W + "r", _W + "hyperlink"
_RUN_CONTENT = frozenset(_W + tag for tag in ("br", "cr", "noBreakHyphen", "ptab", "t", "tab"))


def docx_text(data: bytes) -> tuple[str, str]:
    """(text, title) of a DOCX file: paragraphs joined by blank lines, the first Title/Heading paragraph."""
    check_unpacked_size(data)
    try:
        import docx

        document = docx.Document(io.BytesIO(data))
    except Exception as err:
        raise Skip("corrupt", f"DOCX: {type(err).__name__}: {str(err)[:120]}") from None
    paragraphs = document.paragraphs
    texts = [paragraph_text(p._p) for p in paragraphs]
    style_names: dict[str | None, str] = {}
    title = ""
    for paragraph, text in zip(paragraphs, texts):
        if text.strip() and _style_name(paragraph, style_names).startswith(("Title", "Heading")):
            title = text
            break
    return "\n\n".join(texts), title or (document.core_properties.title or "")


def check_unpacked_size(data: bytes) -> None:
    """Raise ``Skip`` unless the zip's parts, declared and as actually read, stay within the bounds."""
    if data.count(b"PK\x01\x02") > MAX_PARTS:   # central-directory entries, counted before zipfile lists them
        raise Skip("too_large", f"DOCX lists more than {MAX_PARTS} parts")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as err:
        raise Skip("corrupt", f"DOCX: {type(err).__name__}: {str(err)[:120]}") from None
    xml = [p for p in parts if _is_xml(p.filename)]
    declared_all = sum(p.file_size for p in parts)
    declared_xml = sum(p.file_size for p in xml)
    if declared_all > MAX_UNZIPPED:
        raise Skip("too_large", f"DOCX unpacks to {_mb(declared_all)} > limit {_mb(MAX_UNZIPPED)}")
    if declared_xml > MAX_XML:
        raise Skip("too_large", f"DOCX unpacks to {_mb(declared_xml)} of XML > limit {_mb(MAX_XML)}")
    read = 0
    try:
        for part in xml:
            with archive.open(part) as stream:
                while block := stream.read(_READ_BLOCK):
                    read += len(block)
                    if read > MAX_XML:
                        raise Skip("too_large", f"DOCX XML unpacks to more than {_mb(MAX_XML)} "
                                                f"(its sizes say {_mb(declared_xml)})")
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError) as err:
        raise Skip("corrupt", f"DOCX: {type(err).__name__}: {str(err)[:120]}") from None


def paragraph_text(p) -> str:
    """``Paragraph.text`` of python-docx (runs and hyperlinks' runs; breaks, tabs, hyphens as characters)."""
    out = []
    for child in p:
        if child.tag == _RUN:
            out.append(_run_text(child))
        elif child.tag == _HYPERLINK:
            out.extend(_run_text(run) for run in child if run.tag == _RUN)
    return "".join(out)


def _run_text(run) -> str:
    return "".join(str(e) for e in run if e.tag in _RUN_CONTENT)


def _style_name(paragraph, cache: dict[str | None, str]) -> str:
    """The paragraph's style name, looked up once per style id (python-docx scans styles.xml per call)."""
    style_id = paragraph._p.style
    if style_id not in cache:
        style = paragraph.style
        cache[style_id] = (style.name or "") if style is not None else ""
    return cache[style_id]


def _is_xml(name: str) -> bool:
    return name.lower().endswith((".xml", ".rels"))


def _mb(size: int) -> str:
    return f"{size / (1 << 20):.1f} MB"
