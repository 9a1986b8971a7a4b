"""Reading spec files: bytes -> text -> syntax tree, once per file, and following `import` lines.

Everything a load reads goes through one `SourceReader`, so each file is parsed once, its text is
kept for caret lines, and the spec hash covers exactly what was read.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from xxp_tui.lang import syntax
from xxp_tui.lang.diagnostics import Diagnostics, Pos
from xxp_tui.lang.library import Libraries

MAX_FILE_BYTES = 10 * 1024 * 1024


def display_path(path: Path) -> str:
    """Relative to the working directory when that is shorter, so diagnostics stay readable."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if len(rel) <= len(str(path)) else str(path)


class SourceReader:
    """Reads and parses the files of one load. `entry_text`, when given, stands for the entry
    file's content (the designer's unsaved edits)."""

    def __init__(self, entry: Path, entry_text: str | None, diags: Diagnostics) -> None:
        self.entry = entry
        self.entry_text = entry_text
        self.diags = diags
        self.sources: dict[str, str] = {}  # display path -> text, for carets
        self.raw_asts: list[syntax.SpecFile] = []
        self._hash_parts: list[tuple[str, str]] = []
        self._parsed: dict[Path, syntax.SpecFile | None] = {}

    def read(self, path: Path, pos: Pos | None = None, what: str = "file") -> syntax.SpecFile | None:
        """The parsed file, or None (with a diagnostic) when it cannot be read; a file is read once."""
        path = path.resolve()
        if path in self._parsed:
            return self._parsed[path]
        self._parsed[path] = None
        shown = display_path(path)
        if self.entry_text is not None and path == self.entry.resolve():
            return self._parse_source(path, shown, self.entry_text)
        data = self._read_bytes(path, shown, pos, what)
        if data is None:
            return None
        return self._parse_source(path, shown, self._decode(data, shown))

    def has_read(self, path: Path) -> bool:
        return path.resolve() in self._parsed

    def _read_bytes(self, path: Path, shown: str, pos: Pos | None, what: str) -> bytes | None:
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                self.diags.error(pos or Pos(shown), f"{shown} is larger than {MAX_FILE_BYTES // 2**20} MB")
                return None
            return path.read_bytes()
        except OSError as exc:
            self.diags.error(pos or Pos(shown), f"cannot read {what} {shown}: {exc.strerror or exc}")
            return None

    def _decode(self, data: bytes, shown: str) -> str:
        """UTF-8 text; a bad byte is reported where it is and replaced, so the rest still parses."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            self.diags.error(Pos(shown, line, col), f"not valid UTF-8 (byte 0x{data[exc.start]:02x})")
            text = data.decode("utf-8", errors="replace")
        return text[1:] if text.startswith("\ufeff") else text

    def _parse_source(self, path: Path, shown: str, text: str) -> syntax.SpecFile:
        from xxp_tui.lang.parser import parse_text  # lark: not imported when the spec comes from load_cache

        self.sources[shown] = text
        # The hash names files relative to the entry spec, so it does not depend on the cwd.
        self._hash_parts.append((os.path.relpath(path, self.entry.resolve().parent), text))
        spec = parse_text(text, shown, self.diags)
        self._parsed[path] = spec
        self.raw_asts.append(spec)
        return spec

    def read_imports(self, spec: syntax.SpecFile, folder: Path, libs: Libraries, files: list[syntax.SpecFile]) -> None:
        """Append every file `spec` imports (transitively) to `files`, each once."""
        for imp in spec.imports:
            found, tried = libs.find_import(imp.value, folder)
            if found is None:
                places = ", ".join(display_path(p.parent) for p in tried[:4])
                self.diags.error(imp.pos, f'cannot find imported file "{imp.value}" (looked in {places})')
                continue
            if self.has_read(found):
                continue
            sub = self.read(found, imp.pos, "imported file")
            if sub is not None:
                files.append(sub)
                self.read_imports(sub, found.resolve().parent, libs, files)

    def parsed_paths(self) -> list[Path]:
        return [p for p, spec in self._parsed.items() if spec is not None]

    def spec_hash(self) -> str:
        digest = hashlib.sha256()
        for name, text in self._hash_parts:
            digest.update(name.encode() + b"\0" + text.encode() + b"\0")
        return digest.hexdigest()
