"""An operator's MIBs → names: compiled with pysmi from local files into a cache, then read.

``load_mib_names(dirs, ["ACME-TRAP-MIB"], cache)`` compiles each module (and what it imports)
from the folders in ``dirs`` (local files only: nothing is ever downloaded) into pysnmp's Python
form under ``cache``, recompiling only when a source changed, then loads them and returns every
named OID (notifications, objects, table columns) and the labels of enumerated INTEGERs. The SMI
base modules need no file (:mod:`.snmp_smi`). Runs at start-up and reload, off the event loop.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pagerbridge.agent.sources.snmp_names import Oid
from pagerbridge.agent.sources.snmp_smi import BASE_MODULES
from pagerbridge.errors import ConfigError

#: The folder under the agent's data directory where compiled MIBs are kept by default.
CACHE_FOLDER = "snmp-mibs"
_OK = ("compiled", "untouched", "borrowed")


def default_cache() -> Path:
    from pagerbridge.paths import data_dir

    return data_dir() / CACHE_FOLDER


def compile_mibs(dirs: Sequence[Path], mibs: Sequence[str], cache: Path) -> None:
    """Compile ``mibs`` (and their imports) from ``dirs`` into ``cache``; ConfigError names the
    module that is missing or does not compile."""
    from pysmi.codegen.pysnmp import PySnmpCodeGen, baseMibs  # type: ignore[import-untyped]
    from pysmi.compiler import MibCompiler  # type: ignore[import-untyped]
    from pysmi.error import PySmiError  # type: ignore[import-untyped]
    from pysmi.parser.dialect import smi_v1_relaxed  # type: ignore[import-untyped]
    from pysmi.parser.smi import parserFactory  # type: ignore[import-untyped]
    from pysmi.reader.callback import CallbackReader  # type: ignore[import-untyped]
    from pysmi.reader.localfile import FileReader  # type: ignore[import-untyped]
    from pysmi.searcher.pyfile import PyFileSearcher  # type: ignore[import-untyped]
    from pysmi.searcher.pypackage import PyPackageSearcher  # type: ignore[import-untyped]
    from pysmi.searcher.stub import StubSearcher  # type: ignore[import-untyped]
    from pysmi.writer.pyfile import PyFileWriter  # type: ignore[import-untyped]

    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the MIB cache {cache}: {exc.strerror}", key="sources.snmp.mib_cache"
        ) from exc
    compiler = MibCompiler(
        parserFactory(**smi_v1_relaxed)(), PySnmpCodeGen(), PyFileWriter(str(cache))
    )
    compiler.add_sources(*(FileReader(str(d)) for d in dirs))
    compiler.add_sources(CallbackReader(lambda name, _ctx: BASE_MODULES.get(name, "")))
    compiler.add_searchers(
        StubSearcher(*baseMibs),
        PyFileSearcher(str(cache)),
        PyPackageSearcher("pysnmp.smi.mibs"),
    )
    try:
        results = compiler.compile(*mibs)
    except PySmiError as exc:
        raise ConfigError(f"MIB compiler failed: {exc}", key="sources.snmp.mibs") from exc
    problems = []
    for name, status in results.items():
        if str(status) not in _OK:
            error = getattr(status, "error", None)
            why = f": {error}" if error else " (no file of that name in mib_dirs)"
            problems.append(f"{name} {status}{why}")
    if problems:
        raise ConfigError(
            "MIBs could not be compiled: " + "; ".join(problems), key="sources.snmp.mibs"
        )


def read_names(
    cache: Path, mibs: Sequence[str]
) -> tuple[dict[Oid, str], dict[str, dict[int, str]]]:
    """Load the compiled ``mibs`` (with their imports) and list their named OIDs and enums."""
    from pysnmp.smi.builder import DirMibSource, MibBuilder  # type: ignore[import-untyped]
    from pysnmp.smi.error import SmiError  # type: ignore[import-untyped]

    builder = MibBuilder()
    builder.add_mib_sources(DirMibSource(str(cache)))
    try:
        with warnings.catch_warnings():  # pysmi's generated code uses pysnmp's old names
            warnings.simplefilter("ignore", DeprecationWarning)
            builder.load_modules(*mibs)
    except SmiError as exc:
        raise ConfigError(f"cannot load compiled MIBs: {exc}", key="sources.snmp.mibs") from exc
    names: dict[Oid, str] = {}
    enums: dict[str, dict[int, str]] = {}
    for module, symbols in builder.mibSymbols.items():
        if module.startswith("__"):
            continue
        for label, obj in symbols.items():
            _collect(label, obj, names, enums)
    return names, enums


def _collect(label: str, obj: Any, names: dict[Oid, str], enums: dict[str, dict[int, str]]) -> None:
    oid = getattr(obj, "name", None)
    if not isinstance(oid, tuple) or not oid or not all(isinstance(n, int) for n in oid):
        return
    names.setdefault(oid, label)
    syntax = getattr(obj, "syntax", None)
    named = getattr(syntax, "namedValues", None)
    if named:
        enums.setdefault(label, {int(v): str(k) for k, v in named.items()})


def load_mib_names(
    dirs: Sequence[Path], mibs: Sequence[str], cache: Path | None = None
) -> tuple[dict[Oid, str], dict[str, dict[int, str]]]:
    """Compile (when needed) and load ``mibs``; see the module doc."""
    folder = cache or default_cache()
    compile_mibs(dirs, mibs, folder)
    return read_names(folder, mibs)


__all__ = ["CACHE_FOLDER", "compile_mibs", "load_mib_names", "read_names"]
