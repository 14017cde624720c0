"""One error tree: every exception class in the package is under InferTraceError and drawn.

The classes are found by importing every module of the package (an import that
fails fails the test, it does not hide a module), so a new exception class
anywhere must join the tree and its drawing in ``infertrace.errors``.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import pkgutil
import re

import pytest

import infertrace
from infertrace import errors
from infertrace.errors import InferTraceError


def exception_classes() -> list[type[BaseException]]:
    """Every exception class defined in a module of the package, by module and name."""
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(infertrace.__path__, "infertrace."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found.append(value)
    found.append(InferTraceError)
    return sorted(set(found), key=lambda c: (c.__module__, c.__qualname__))


CLASSES = exception_classes()
_TREE_LINE = re.compile(r"[│├└─ ]*── ([\w.]+)(?: \((\w+)\))?")


def _drawn() -> dict[str, str | None]:
    """The tree in errors.py's docstring: dotted name (module-relative) -> builtin named."""
    assert errors.__doc__ is not None
    return {
        m.group(1): m.group(2)
        for line in errors.__doc__.splitlines()
        if (m := _TREE_LINE.match(line.strip()))
    }


def _tree_name(cls: type[BaseException]) -> str:
    module = cls.__module__.removeprefix("infertrace.")
    return cls.__qualname__ if module == "errors" else f"{module}.{cls.__qualname__}"


def test_the_walk_finds_the_classes_of_every_layer() -> None:
    names = {c.__qualname__ for c in CLASSES}
    assert {"InferTraceError", "BodyTooLarge", "MigrationError", "ParamError"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=_tree_name)
def test_every_exception_class_is_under_infertrace_error(cls: type[BaseException]) -> None:
    assert issubclass(cls, InferTraceError), f"{_tree_name(cls)} is outside the error tree"


@pytest.mark.parametrize("cls", [c for c in CLASSES if c is not InferTraceError], ids=_tree_name)
def test_every_exception_class_is_drawn_in_the_tree(cls: type[BaseException]) -> None:
    drawn = _drawn()
    assert _tree_name(cls) in drawn, f"errors.py's tree does not draw {_tree_name(cls)}"
    builtin = drawn[_tree_name(cls)]
    if builtin is not None:
        assert issubclass(cls, getattr(builtins, builtin)), f"{cls} is not a {builtin}"


def test_the_tree_draws_only_classes_that_exist() -> None:
    existing = {_tree_name(c) for c in CLASSES}
    assert set(_drawn()) - existing == set()


def test_the_tree_draws_each_class_under_its_base() -> None:
    """A class drawn below another (deeper indent) subclasses it."""
    assert errors.__doc__ is not None
    by_name = {_tree_name(c): c for c in CLASSES}
    parents: list[tuple[int, type[BaseException]]] = []
    for line in errors.__doc__.splitlines():
        match = _TREE_LINE.match(line.strip())
        if match is None:
            continue
        depth = line.index("── ")
        cls = by_name[match.group(1)]
        while parents and parents[-1][0] >= depth:
            parents.pop()
        base = parents[-1][1] if parents else InferTraceError
        assert issubclass(cls, base), f"{match.group(1)} is drawn under {base.__name__}"
        parents.append((depth, cls))
