#!/usr/bin/env python3
"""House rules on size, checked in CI (ctest style.sizes):
  - no source file over 600 lines;
  - no function over 100 lines unless a comment just above it says why, on a line containing
    "long function:" (e.g. "// long function: one table of cases, read top to bottom").
Functions are found by a small scanner (comments, strings and character literals skipped): a '{'
whose head ends with a parameter list, at namespace or class scope; lambdas and blocks inside a
function count towards it.
usage: scripts/check_sizes.py [repo root]   (exit 1 and one line per violation)
       scripts/check_sizes.py --self-test"""
import os
import re
import subprocess
import sys

MAX_FILE, MAX_FUNCTION = 600, 100
SOURCES = re.compile(r"^(engine|kernels|models|data|apps|tests)/.*\.(h|hpp|cpp|cu|cuh)$")
SCOPE = re.compile(r"\b(namespace|struct|class|union|enum)\b|extern\s*\"C\"")
FUNCTION_HEAD = re.compile(r"\)\s*(const|noexcept|override|final|mutable|\s)*(->\s*[\w:<>,\s\*&]+)?$"
                           r"|\)\s*:\s*[\w:]+\s*[({].*[)}]$")
CONTROL = re.compile(r"^\s*(if|for|while|switch|catch|else|do|try|return)\b")


def code_only(text):
    """The text with comments, string and char literals blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (j - i - 1) + c if j < n else " "); i = j + 1
        else:
            out.append(c); i += 1
    return "".join(out)


def functions(text):
    """(first line, last line) of each function definition, 0-based."""
    code = code_only(text)
    stack, head_start = [], 0  # stack of (kind, start line)
    found = []
    for i, c in enumerate(code):
        if c in ";{}":
            if c == "{":
                head = code[head_start:i]
                head_line = code.count("\n", 0, head_start + len(head) - len(head.lstrip()))
                in_function = any(k == "function" for k, _ in stack)
                h = " ".join(head.split())
                if in_function:
                    kind = "block"
                elif SCOPE.search(h) and "(" not in h:
                    kind = "scope"
                elif FUNCTION_HEAD.search(h) and not CONTROL.match(h) and "=" not in h.split("(")[0]:
                    kind = "function"
                else:
                    kind = "block"
                stack.append((kind, head_line))
            elif c == "}" and stack:
                kind, start = stack.pop()
                if kind == "function":
                    found.append((start, code.count("\n", 0, i)))
            head_start = i + 1
    return found


def violations(name, text):
    """One line per rule broken by the file `name` with contents `text`."""
    lines = text.splitlines()
    bad = []
    if len(lines) > MAX_FILE:
        bad.append(f"{name}: {len(lines)} lines (at most {MAX_FILE}: split it by concept)")
    for first, last in functions(text):
        n = last - first + 1
        above = "\n".join(lines[max(0, first - 4):first])
        if n > MAX_FUNCTION and "long function:" not in above:
            bad.append(f"{name}:{first + 1}: a function of {n} lines (at most {MAX_FUNCTION} unless a "
                       f"'long function:' comment above it says why)")
    return bad


def self_test():
    """The checker must catch what it is for, and pass what it allows."""
    body = "\n".join(f"  x += {i};" for i in range(MAX_FUNCTION))
    long_fn = f"int f(int x) {{\n{body}\n  return x;\n}}\n"
    lambda_fn = f"void g() {{\n  auto h = [](int x) {{\n{body}\n  }};\n}}\n"
    short = "namespace a {\nstruct S {\n  int f() const { return 1; }\n};\n}  // namespace a\n"
    cases = [
        ("long function", long_fn, 1),
        ("long function with its reason", "// long function: a table read top to bottom\n" + long_fn, 0),
        ("a lambda counts towards its function", lambda_fn, 1),
        ("a long struct of short functions", "struct L {\n" + "".join(f"  int f{i}() {{ return {i}; }}\n"
                                                                    for i in range(2 * MAX_FUNCTION)) + "};\n", 0),
        ("short functions in a namespace", short, 0),
        ("a long file", "int x;\n" * (MAX_FILE + 1), 1),
        ("braces in strings and comments", 'const char* s = "{{{"; // }}}\nint m() { return 2; }\n', 0),
    ]
    failed = [name for name, text, want in cases if len(violations("t.cpp", text)) != want]
    for name in failed:
        print(f"self-test failed: {name}")
    print("self-test: ok" if not failed else "self-test: FAILED")
    return 1 if failed else 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    files = subprocess.run(["git", "-C", root, "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    bad = []
    for f in sorted(x for x in files if SOURCES.match(x)):
        bad += violations(f, open(os.path.join(root, f), errors="replace").read())
    for b in bad:
        print(b)
    print(f"check_sizes: {len(bad)} violation(s)" if bad else "check_sizes: ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
