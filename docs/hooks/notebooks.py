"""MkDocs hook: render the notebooks of ``notebooks/`` (outside ``docs/``) in the site.

Every ``*.ipynb`` and ``*.md`` under ``notebooks/`` becomes a page at the same path
(``notebooks/00-tour.ipynb`` -> ``notebooks/00-tour/``), rendered by the ``mkdocs-jupyter``
plugin without running it. The "Notebooks" section of the navigation, left empty in
``mkdocs.yml``, is filled here, so a new notebook appears in the site without editing the
configuration: the top-level notebooks first, then one sub-section per folder (the
course), each opening on its ``README.md``. Links from that Markdown into ``docs/`` (right on
GitHub: ``../../docs/guides/teach.md``) are rewritten to the same page in the site.
"""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

SECTION = "Notebooks"
FOLDER = "notebooks"
_SUFFIXES = {".ipynb", ".md"}
_SKIPPED_PARTS = {".ipynb_checkpoints", "__pycache__"}


def _root(config: MkDocsConfig) -> Path:
    return Path(config.config_file_path).resolve().parent


def notebook_paths(root: Path) -> list[str]:
    """Paths, relative to ``root``, of the pages to make from ``root/notebooks``."""
    folder = root / FOLDER
    found = [
        path.relative_to(root).as_posix()
        for path in folder.rglob("*")
        if path.is_file()
        and path.suffix in _SUFFIXES
        and not _SKIPPED_PARTS.intersection(path.relative_to(folder).parts)
    ]
    return sorted(found, key=lambda p: (p.count("/"), not p.endswith("README.md"), p))


def _heading(path: Path) -> str | None:
    """The first Markdown heading of a notebook, without its ``#``."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # mkdocs-jupyter reports unreadable notebooks itself
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", [])).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return None


def _nav_entries(root: Path, paths: list[str], prefix: str) -> list[Any]:
    entries: list[Any] = []
    sections: dict[str, list[str]] = {}
    for path in paths:
        rest = path[len(prefix) :]
        if "/" in rest:
            sections.setdefault(rest.split("/", 1)[0], []).append(path)
        elif prefix.endswith("/solutions/") and (heading := _heading(root / path)):
            # the solved lessons carry the lessons' titles: say which is which in the menu
            entries.append({f"Solution: {heading}": path})
        else:
            entries.append(path)
    for name, inner in sorted(sections.items()):
        title = name.replace("-", " ").replace("_", " ").capitalize()
        entries.append({title: _nav_entries(root, inner, f"{prefix}{name}/")})
    return entries


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Fill the empty "Notebooks" entry of the navigation with the notebooks found."""
    root = _root(config)
    entries = _nav_entries(root, notebook_paths(root), f"{FOLDER}/")
    for item in config.nav or []:
        if isinstance(item, dict) and SECTION in item and not item[SECTION]:
            item[SECTION] = entries
    return config


_LINK = re.compile(r"(\]\()([^)\s#]+)")


def on_page_markdown(markdown: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Point links from ``notebooks/`` into ``docs/`` at the pages they mean in the site."""
    here = posixpath.dirname(page.file.src_uri)
    if not page.file.src_uri.startswith(f"{FOLDER}/"):
        return markdown

    def rewrite(match: re.Match[str]) -> str:
        target = match.group(2)
        if "://" in target or target.startswith(("/", "mailto:")):
            return match.group(0)
        resolved = posixpath.normpath(posixpath.join(here, target))
        if not resolved.startswith("docs/"):
            return match.group(0)
        return match.group(1) + posixpath.relpath(resolved.removeprefix("docs/"), here)

    return _LINK.sub(rewrite, markdown)


@event_priority(100)  # before mkdocs-jupyter's on_files, which must see the notebooks
def on_files(files: Files, *, config: MkDocsConfig) -> Files:
    """Add the notebooks (and the Markdown beside them) to the site's files."""
    root = _root(config)
    for path in notebook_paths(root):
        files.append(File(path, str(root), config.site_dir, config.use_directory_urls))
    return files
