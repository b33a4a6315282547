"""mkdocs hook: the committed figures under results/<protocol>/ become files of the site, so
the Protocols page shows them without a copy inside docs/."""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File


def on_files(files, config):
    root = Path(config["config_file_path"]).resolve().parent
    for png in sorted((root / "results").glob("*/*.png")):
        uri = png.relative_to(root).as_posix()
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, abs_src_path=str(png)))
    return files
