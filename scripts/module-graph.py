#!/usr/bin/env python3
"""Checks that the library's top-level modules form a one-way graph (no cycles).

    scripts/module-graph.py              # check src/; exit 1 naming every cycle
    scripts/module-graph.py --edges      # also print the graph, one edge a line
    scripts/module-graph.py --self-test  # check the checker on synthetic trees

It reads the library as rustc would find it: `src/lib.rs` and the modules it declares
(`mod x;` to `x.rs` or `x/mod.rs`, recursively, inline `mod x { ... }` included), minus the
binary's `cli`. Every path that leaves its top-level module counts as an edge: `crate::x`,
`use crate::{x, y::z}` and `super::` chains that climb past the top-level module. Comments,
string and character literals are blanked first, so a path in a doc comment or a message is
not a dependency. A cycle is reported with the file:line of every reference along it.

Python 3 standard library only, so that it runs wherever the test script does.
"""

import argparse
import os
import re
import sys
import tempfile

# The binary's modules: `src/main.rs` and `src/cli/` are not part of the library graph.
BINARY_MODULES = {"cli"}


def blank(text):
    """Returns `text` with comments and string/char literals replaced by spaces (newlines
    kept, so that line numbers still hold)."""
    out = []
    i, n = 0, len(text)

    def keep_lines(s):
        return "".join(c if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(keep_lines(text[i:j]))
            i = j
        elif (m := re.compile(r'b?r(#*)"').match(text, i)) and (
            i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")
        ):
            end = '"' + m.group(1)
            j = text.find(end, m.end())
            j = n if j < 0 else j + len(end)
            out.append(keep_lines(text[i:j]))
            i = j
        elif c == '"' or (c == "b" and text.startswith('b"', i)):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(keep_lines(text[i:j]))
            i = j
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a): only the former
            # closes with a quote right after one character or one escape.
            m = re.compile(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", re.S).match(text, i)
            if m:
                out.append(" " * (m.end() - i))
                i = m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


MOD_DECL = re.compile(r"\bmod\s+([A-Za-z_][A-Za-z0-9_]*)\s*([;{])")
PATH_ATTR = re.compile(r'#\s*\[\s*path\s*=\s*"([^"]+)"\s*\]\s*$')
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
# `crate::a`, `crate::{a, b::c}`; `super::super::a`, `super::{a, b}`.
CRATE_PATH = re.compile(r"(?<![A-Za-z0-9_$])crate\s*::\s*(\{|" + IDENT + ")")
SUPER_PATH = re.compile(
    r"(?<![A-Za-z0-9_:])((?:super\s*::\s*)+)(\{|" + IDENT + ")"
)


def group_heads(text, open_at):
    """The first segment of every path in the `{...}` group opening at `open_at`."""
    depth, j, heads, start = 0, open_at, [], open_at + 1
    while j < len(text):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                break
        if depth == 1 and text[j] in "{,":
            start = j + 1
            m = re.compile(r"\s*(" + IDENT + ")").match(text, start)
            if m:
                heads.append((m.group(1), m.start(1)))
        j += 1
    return heads


class Module:
    """One module: its path from the crate root and where its items live."""

    def __init__(self, path, file, start, end):
        self.path = path  # ("config", "runconfig"); () is the crate root
        self.file = file
        self.start, self.end = start, end  # the span of `text` that is this module's body


def modules_of(src):
    """Every library module reachable from `src/lib.rs`, with the blanked text of its file.
    Inline modules are returned with the span of their braces, nested inside their file's."""
    found, texts, missing = [], {}, []

    def load(path, file, dir_for_children):
        raw = open(file, encoding="utf-8").read()
        text = blank(raw)
        texts[file] = (raw, text)
        walk(path, file, text, 0, len(text), dir_for_children)

    def walk(path, file, text, start, end, child_dir):
        found.append(Module(path, file, start, end))
        raw = texts[file][0]
        i = start
        while True:
            m = MOD_DECL.search(text, i, end)
            if not m:
                return
            name, kind = m.group(1), m.group(2)
            # `#[path = "..."]` on the line before: its string was blanked, read the raw text.
            line_start = raw.rfind("\n", 0, m.start())
            prev_start = raw.rfind("\n", 0, max(line_start, 0))
            attr = PATH_ATTR.search(raw[prev_start + 1 : max(line_start, 0)] + "")
            child = path + (name,)
            if kind == ";":
                i = m.end()
                if path == () and name in BINARY_MODULES:
                    continue
                if attr:
                    f = os.path.join(os.path.dirname(file), attr.group(1))
                    load(child, f, os.path.splitext(f)[0])
                    continue
                for f, d in (
                    (os.path.join(child_dir, name + ".rs"), os.path.join(child_dir, name)),
                    (os.path.join(child_dir, name, "mod.rs"), os.path.join(child_dir, name)),
                ):
                    if os.path.isfile(f):
                        load(child, f, d)
                        break
                else:
                    missing.append((file, name))
            else:
                depth, j = 1, m.end()
                while j < end and depth:
                    depth += {"{": 1, "}": -1}.get(text[j], 0)
                    j += 1
                if not (path == () and name in BINARY_MODULES):
                    walk(child, file, text, m.end(), j - 1, os.path.join(child_dir, name))
                i = j

    load((), os.path.join(src, "lib.rs"), src)
    return found, texts, missing


def innermost(mods, file, pos):
    """The module whose body holds `pos` in `file` (the deepest inline one)."""
    best = None
    for m in mods:
        if m.file == file and m.start <= pos <= m.end:
            if best is None or len(m.path) > len(best.path):
                best = m
    return best


def references(src):
    """Edges between top-level modules: {(from, to): [(file, line, what), ...]}."""
    mods, texts, missing = modules_of(src)
    tops = {m.path[0] for m in mods if m.path}
    edges = {}

    def add(frm, to, file, text, pos, what):
        if to in tops and frm != to:
            line = text.count("\n", 0, pos) + 1
            rel = os.path.relpath(file, os.path.dirname(src))
            edges.setdefault((frm, to), []).append((rel, line, what))

    for file, (_, text) in texts.items():
        def here(pos):
            return innermost(mods, file, pos).path

        for m in CRATE_PATH.finditer(text):
            path = here(m.start())
            if not path:
                continue
            heads = (
                group_heads(text, m.start(1))
                if m.group(1) == "{"
                else [(m.group(1), m.start(1))]
            )
            for head, _ in heads:
                add(path[0], head, file, text, m.start(), "crate::" + head)
        for m in SUPER_PATH.finditer(text):
            path = here(m.start())
            if not path:
                continue
            ups = m.group(1).count("super")
            base = path[: len(path) - ups]
            if len(base) > 0:
                continue  # still inside the same top-level module
            heads = (
                group_heads(text, m.start(2))
                if m.group(2) == "{"
                else [(m.group(2), m.start(2))]
            )
            for head, _ in heads:
                add(path[0], head, file, text, m.start(), "super::" * ups + head)
    return tops, edges, missing


def cycles(nodes, edges):
    """The strongly connected components with more than one module (Tarjan), each as a
    sorted list, and for each one a shortest cycle through its first module."""
    succ = {n: sorted({b for (a, b) in edges if a == n}) for n in nodes}
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for n in sorted(nodes):
        if n not in index:
            strong(n)
    out = []
    for comp in sorted(comps):
        start = comp[0]
        # Breadth-first from `start` back to itself, within the component.
        prev, frontier, seen = {}, [start], {start}
        cycle = None
        while frontier and cycle is None:
            nxt = []
            for v in frontier:
                for w in succ[v]:
                    if w not in comp:
                        continue
                    if w == start:
                        path = [v]
                        while path[-1] != start:
                            path.append(prev[path[-1]])
                        cycle = [start] + path[::-1][1:] + [start]
                        break
                    if w not in seen:
                        seen.add(w)
                        prev[w] = v
                        nxt.append(w)
                if cycle:
                    break
            frontier = nxt
        out.append((comp, cycle))
    return out


def plural(n, word):
    return f"{n} {word}{'s' * (n != 1)}"


def check(src, show_edges=False, out=sys.stdout):
    """Prints the report for `src`; returns the exit code (0: one-way, 1: cycles)."""
    tops, edges, missing = references(src)
    for file, name in missing:
        print(f"error: {file} declares `mod {name};` but neither {name}.rs nor "
              f"{name}/mod.rs exists", file=out)
    if missing:
        return 2
    if show_edges:
        for (a, b) in sorted(edges):
            print(f"{a} -> {b}  ({len(edges[(a, b)])} references)", file=out)
    found = cycles(tops, edges)
    if not found:
        print(f"module graph: {plural(len(tops), 'library module')}, "
              f"{plural(len(edges), 'edge')}, no cycle", file=out)
        return 0
    for comp, cycle in found:
        print(f"error: module cycle {' -> '.join(cycle)}", file=out)
        if len(comp) > len(cycle) - 1:
            print(f"  (these modules all depend on each other: {', '.join(comp)})", file=out)
        for a, b in zip(cycle, cycle[1:]):
            sites = edges[(a, b)]
            print(f"  {a} -> {b}: {plural(len(sites), 'reference')}", file=out)
            for file, line, what in sites[:5]:
                print(f"    {file}:{line}: {what}", file=out)
            if len(sites) > 5:
                print(f"    ... and {len(sites) - 5} more", file=out)
    print(f"{plural(len(found), 'module cycle')}: each edge above must go one "
          "way; move what both sides need into the module below them", file=out)
    return 1


SELF_TESTS = [
    # (name, files, expected exit code, text the report must contain)
    (
        "acyclic tree passes",
        {
            "lib.rs": "pub mod a;\npub mod b;\npub mod cli;\n",
            "a.rs": "use crate::b::Thing;\n",
            "b.rs": "pub struct Thing;\n",
            "cli/mod.rs": "use crate::a;\n",
        },
        0,
        "no cycle",
    ),
    (
        "the binary's cli is not part of the graph",
        {
            "lib.rs": "pub mod a;\npub mod cli;\n",
            "a.rs": "pub fn f() { crate::cli::g() }\n",
            "cli/mod.rs": "pub fn g() { crate::a::f() }\n",
        },
        0,
        "1 library module,",
    ),
    (
        "use crate:: both ways",
        {
            "lib.rs": "pub mod a;\npub mod b;\n",
            "a.rs": "use crate::b::Thing;\n",
            "b/mod.rs": "mod inner;\n",
            "b/inner.rs": "pub struct Thing;\nfn f() { crate::a::g(); }\n",
        },
        1,
        "error: module cycle a -> b -> a\n  a -> b: 1 reference\n    src/a.rs:1: crate::b",
    ),
    (
        "grouped use and a three-module cycle",
        {
            "lib.rs": "mod a;\nmod b;\nmod c;\n",
            "a.rs": "use crate::{\n    b::X,\n    std_like,\n};\n",
            "b.rs": "use crate::c::Y;\n",
            "c.rs": "pub fn f() -> crate::a::Z { todo!() }\n",
        },
        1,
        "module cycle a -> b -> c -> a",
    ),
    (
        "super:: past the top-level module",
        {
            "lib.rs": "mod a;\nmod b;\n",
            "a/mod.rs": "mod deep;\n",
            "a/deep.rs": "use super::super::b::X;\nuse super::sibling;\n",
            "b.rs": "use super::{a, c};\n",
        },
        1,
        "src/a/deep.rs:1: super::super::b",
    ),
    (
        "inline test module: super:: stays inside",
        {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "use crate::b::X;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::b;\n}\n",
            "b.rs": "#[cfg(test)]\nmod tests {\n    use super::X;\n    fn f() { crate::a::g() }\n}\n",
        },
        1,
        "src/b.rs:4: crate::a",
    ),
    (
        "comments, strings and chars are not references",
        {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "use crate::b::X;\n",
            "b.rs": (
                "/// Like [`crate::a::f`].\n"
                "/* crate::a::g /* nested */ crate::a */\n"
                "const S: &str = \"crate::a::h\";\n"
                "const R: &str = r#\"crate::a \"quoted\" \"#;\n"
                "const C: char = '\"';\n"
                "fn f<'a>(x: &'a str) -> &'a str { x } // crate::a\n"
            ),
        },
        0,
        "no cycle",
    ),
    (
        "a #[path] module is followed",
        {
            "lib.rs": "mod a;\n#[path = \"elsewhere/bee.rs\"]\nmod b;\n",
            "a.rs": "use crate::b::X;\n",
            "elsewhere/bee.rs": "use crate::a::Y;\n",
        },
        1,
        "src/elsewhere/bee.rs:1: crate::a",
    ),
]


def self_test():
    failed = 0
    for name, files, want_code, want_text in SELF_TESTS:
        with tempfile.TemporaryDirectory() as root:
            src = os.path.join(root, "src")
            for rel, body in files.items():
                p = os.path.join(src, rel)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "w", encoding="utf-8") as f:
                    f.write(body)

            class Capture:
                text = ""

                def write(self, s):
                    Capture.text += s

            code = check(src, out=Capture())
            ok = code == want_code and want_text in Capture.text
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name}")
            if not ok:
                print(f"  exit {code}, expected {want_code}; wanted {want_text!r} in:")
                print("  " + Capture.text.replace("\n", "\n  "))
    print(f"{len(SELF_TESTS) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default=os.path.join(os.path.dirname(__file__), "..", "src"))
    ap.add_argument("--edges", action="store_true", help="print every edge too")
    ap.add_argument("--self-test", action="store_true", help="check the checker")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    return check(os.path.normpath(args.src), show_edges=args.edges)


if __name__ == "__main__":
    sys.exit(main())
