"""Supervised contrastive pairs that work offline: title -> passage, as E5 used title-passage pairs.

    python bench/make_supervised_pairs.py --out /work/runs/pairs.jsonl

Writes ``l2v adapt --supervised-data`` JSON lines ``{query, positive, negative, instruction, dataset}``
from two sources, neither of which any reported evaluation draws on:

- WikiText-2 raw test (``= Article =`` / ``= = Section = =`` markup): "Article: Section" -> the
  section's first paragraph, hard negative a paragraph of *another section of the same article*;
  and "Article" -> its lead paragraph, negative the lead of another article;
- the PEPs (reStructuredText): "PEP title: section title" -> the section's first paragraph,
  hard negative another section of the same PEP. The PEPs bundled as the demo's sample documents
  are left out, so the demo never searches text its encoder was trained to retrieve.

Hard negatives from the same document are what make the task hard: the topic words match, only
the specific content does not.
"""
from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
INSTRUCTION = "Given a title, retrieve the passage it describes"
MIN_WORDS, MAX_WORDS = 25, 120
# the PEPs that were bundled in data/sample-docs when the shipped pairs were made (a superset of today's)
DEMO_PEPS = {f"pep-{n:04d}.rst" for n in (8, 20, 238, 255, 257, 274, 285, 289, 308, 318, 328, 343, 380, 435, 448, 465, 484, 492, 498, 515, 526, 557, 572, 584, 604, 616, 618, 636, 657, 701)}


def clip(text: str) -> str | None:
    """A passage of at most MAX_WORDS words; None when it is too short to be worth retrieving."""
    words = text.split()
    return " ".join(words[:MAX_WORDS]) if len(words) >= MIN_WORDS else None


def detok_wikitext(text: str) -> str:
    """Undo WikiText's tokenisation (' @-@ ', ' , ', ' .') so passages read like normal text."""
    text = re.sub(r" @(.)@ ", r"\1", text)
    text = re.sub(r" ([.,;:!?)'])", r"\1", text)
    return re.sub(r"([(]) ", r"\1", text).strip()


def wikitext_articles(path: Path) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """[(article title, [(section heading, [paragraphs])])]; the lead section's heading is ''."""
    articles: list[tuple[str, list[tuple[str, list[str]]]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        heading = re.fullmatch(r"((?:= )+)(.+?)((?: =)+)", stripped)
        if heading and heading.group(1) == "= ":
            articles.append((detok_wikitext(heading.group(2)), [("", [])]))
        elif heading and articles:
            articles[-1][1].append((detok_wikitext(heading.group(2)), []))
        elif articles:
            articles[-1][1][-1][1].append(detok_wikitext(stripped))
    return articles


RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")


def pep_sections(path: Path) -> tuple[str, list[tuple[str, list[str]]]]:
    """(PEP title, [(section title, [paragraphs])]) from a PEP's header and underlined headings."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    title = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Title:")), path.stem)
    sections: list[tuple[str, list[str]]] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph and sections:
            text = " ".join(part.strip() for part in paragraph)
            if not text.startswith(("..", "::")) and "``" not in text[:2]:
                sections[-1][1].append(text)
        paragraph.clear()

    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and RST_UNDERLINE.match(following) and len(following.strip()) >= len(line.strip()) - 2:
            flush()
            sections.append((line.strip(), []))
        elif RST_UNDERLINE.match(line) or not line.strip() or line.startswith((" ", "\t")):
            flush()  # blank lines, underlines and indented blocks (code, quotes) end a paragraph
        else:
            paragraph.append(line)
    flush()
    return title, [(name, paras) for name, paras in sections if name.lower() not in ("copyright", "references", "footnotes")]


def section_pairs(doc_title: str, sections: list[tuple[str, list[str]]], dataset: str,
                  rng: random.Random) -> list[dict]:
    """One pair per section with a usable first paragraph; the negative from another section."""
    usable = [(name, clip(paras[0])) for name, paras in sections if name and paras]
    usable = [(name, text) for name, text in usable if text]
    pairs = []
    for name, text in usable:
        others = [other for other_name, other in usable if other_name != name and other != text]
        if others:
            pairs.append({"query": f"{doc_title}: {name}", "positive": text, "negative": rng.choice(others),
                          "instruction": INSTRUCTION, "dataset": dataset})
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    pairs: list[dict] = []

    articles = wikitext_articles(DATA / "wikitext-2" / "raw" / "wiki.test.raw")
    leads = [(title, clip(sections[0][1][0])) for title, sections in articles if sections[0][1]]
    leads = [(title, text) for title, text in leads if text]
    for title, text in leads:
        negative = rng.choice([other for other_title, other in leads if other_title != title])
        pairs.append({"query": title, "positive": text, "negative": negative, "instruction": INSTRUCTION,
                      "dataset": "wikitext-leads"})
    for title, sections in articles:
        pairs += section_pairs(title, sections, "wikitext-sections", rng)

    for path in sorted((DATA / "peps").glob("pep-*.rst")):
        if path.name not in DEMO_PEPS:
            title, sections = pep_sections(path)
            pairs += section_pairs(title, sections, "pep-sections", rng)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps(pair, ensure_ascii=False) + "\n")
    counts = {name: sum(p["dataset"] == name for p in pairs) for name in sorted({p["dataset"] for p in pairs})}
    print(f"{len(pairs)} pairs -> {args.out}: {counts}")


if __name__ == "__main__":
    main()
