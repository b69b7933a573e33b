"""Lazy package exports (PEP 562): names imported from their submodule on first access.

Keeps `import shoekit.data` / `shoekit.explain` / `shoekit.figures` light (no torch, plotly)
until a name that needs them is used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, names: dict[str, str]) -> tuple[Callable, Callable]:
    """`(__getattr__, __dir__)` for `package`, importing `name` from `package.names[name]`."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
