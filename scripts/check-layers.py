#!/usr/bin/env python3
"""The layer table of docs/ARCHITECTURE.md in executable form.

    scripts/check-layers.py                  check every #include in src/ (run by scripts/lint.sh)
    scripts/check-layers.py --include-trees DIR
                                             write the per-layer include trees Meson compiles with

A file in src/<layer>/ may include "<target>/..." only when LAYERS[<layer>] allows
<target> (a whole layer folder, a subfolder or one header), and must not include the
third-party headers its layer never knows. Unit tests (*_test.cpp) follow their
layer's rules. The compile-once units of Boost (src/core/*_impl.cpp) are libraries of
their own and are exempt.

The include trees: DIR/<layer>/ holds a symbolic link per layer folder that the
layer's sources may reach (what LAYERS allows, followed through the headers it
includes), and DIR/<layer>-api/ the folders that its own headers reach. Meson gives a
library the first and exports the second, so an include of a layer that is not
allowed fails to compile as well.
"""

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"

# Third-party headers by what the table of conventions calls them.
BEAST = ("boost/beast",)
JSON = ("boost/json",)
OPENSSL = ("openssl/", "boost/asio/ssl")
LIBPQ = ("libpq-fe.h", "libpq/")
HIREDIS = ("hiredis/",)

# layer: (what its files may include, third-party headers it never knows).
# An allowed entry is a layer folder ("store"), a subfolder ("store/redis/") or one header.
LAYERS = {
    "core": ({"core"}, BEAST + JSON + OPENSSL + LIBPQ + HIREDIS),
    "store": ({"core", "store"}, BEAST),
    "mail": ({"core", "mail"}, BEAST + LIBPQ + HIREDIS),
    # The Redis client of store, not its PostgreSQL side.
    "jobs": ({"core", "jobs", "store/redis/"}, BEAST + LIBPQ + HIREDIS),
    # The interfaces of store and of the job queue.
    "auth": (
        {
            "core",
            "auth",
            "store/pg/repositories.hpp",
            "store/pg/records.hpp",
            "store/pg/key_repository.hpp",
            "store/kv/auth_kv.hpp",
            "store/kv/invalidation_stream.hpp",
            "jobs/enqueuer.hpp",
        },
        BEAST + LIBPQ + HIREDIS,
    ),
    "net": ({"core", "auth", "net"}, LIBPQ + HIREDIS),
    "verify": ({"core", "auth", "verify"}, LIBPQ + HIREDIS),
    "app": ({"core", "store", "mail", "jobs", "auth", "net", "verify", "app"}, ()),
}

EXEMPT = re.compile(r"^src/core/[a-z_]+_impl\.cpp$")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')


def sources():
    return sorted(p for p in SRC.rglob("*") if p.suffix in (".cpp", ".hpp") and p.is_file())


def includes(path):
    """(line number, '<' or '"', target) of every #include in `path`."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                out.append((n, m.group(1), m.group(2)))
    return out


def allowed(layer, target):
    for entry in LAYERS[layer][0]:
        if entry.endswith(".hpp"):
            if target == entry:
                return True
        elif entry.endswith("/"):
            if target.startswith(entry):
                return True
        elif target.split("/", 1)[0] == entry:
            return True
    return False


def check():
    problems = []
    for path in sources():
        rel = path.relative_to(ROOT).as_posix()
        layer = rel.split("/")[1]
        if layer not in LAYERS:
            problems.append(f"{rel}: folder src/{layer} is not in the layer table (scripts/check-layers.py)")
            continue
        if EXEMPT.match(rel):
            continue
        for n, kind, target in includes(path):
            if kind == '"':
                to = target.split("/", 1)[0]
                if "/" not in target or to not in LAYERS:
                    problems.append(f'{rel}:{n}: "{target}": project headers are included as "<layer>/..."')
                elif not allowed(layer, target):
                    problems.append(f'{rel}:{n}: {layer} → {to}: "{target}" is not allowed for {layer}')
            elif any(target.startswith(p) for p in LAYERS[layer][1]):
                problems.append(f"{rel}:{n}: {layer} → <{target}>: {layer} never knows this library")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(
            f"check-layers: {len(problems)} include(s) break the layer table (docs/ARCHITECTURE.md)",
            file=sys.stderr,
        )
        return 1
    return 0


def reach(start):
    """The layer folders reached from the files `start` through quoted includes."""
    seen, folders, todo = set(), set(), list(start)
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        folders.add(path.relative_to(SRC).parts[0])
        for _, kind, target in includes(path):
            if kind == '"' and target.split("/", 1)[0] in LAYERS:
                todo.append(SRC / target)
    return folders


def allowed_files(layer):
    """The layer's own sources and the headers of others it may include."""
    files = [f for f in (SRC / layer).rglob("*") if f.suffix in (".cpp", ".hpp")]
    for entry in LAYERS[layer][0]:
        p = SRC / entry
        if entry.split("/", 1)[0] != layer:
            files.extend([p] if p.is_file() else p.rglob("*.hpp"))
    return files


def link_tree(directory, folders):
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.is_symlink() and entry.name not in folders:
            entry.unlink()
    for folder in sorted(folders):
        link = directory / folder
        if link.is_symlink() and os.readlink(link) == str(SRC / folder):
            continue
        if link.is_symlink():
            link.unlink()
        link.symlink_to(SRC / folder, target_is_directory=True)


def include_trees(out):
    out = Path(out)
    for layer in LAYERS:
        link_tree(out / layer, reach(allowed_files(layer)))
        link_tree(out / f"{layer}-api", reach(list((SRC / layer).rglob("*.hpp"))) | {layer})
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--include-trees":
        sys.exit(include_trees(sys.argv[2]))
    if len(sys.argv) == 1:
        sys.exit(check())
    print(__doc__, file=sys.stderr)
    sys.exit(2)
