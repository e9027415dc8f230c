"""The library never prints: only harness/cli/ may write to stdout or stderr (DESIGN.md, layout). Everything else
reports through return values, messages and callbacks. The check reads the sources with comments and string
literals removed, so `snprintf`, `fprintf(f, ...)` to a caller's file and prose about stderr stay allowed."""
import re

import pytest

from conftest import ROOT

HARNESS = ROOT / "harness"
SOURCES = ("*.c", "*.h", "*.cc", "*.cpp", "*.hpp", "*.def")

# calls that print by definition, the standard streams by any name, and redirections of them
FORBIDDEN = [
    (re.compile(r"(?<![\w.>])(printf|vprintf|puts|putchar|perror|psignal)\s*\("), "prints to the terminal"),
    (re.compile(r"\b(stdout|stderr|STDOUT_FILENO|STDERR_FILENO)\b"), "names a standard stream"),
    (re.compile(r"\bstd::(cout|cerr|clog|printf|puts)\b"), "prints to the terminal"),
    (re.compile(r"(?<![\w.>])(dup2|dup|freopen)\s*\("), "redirects a stream"),
    (re.compile(r"(?<![\w.>])(write|fdopen)\s*\(\s*[12]\s*,"), "writes to fd 1 or 2"),
]


def strip_comments_and_strings(text):
    """C/C++ source with comments, string and character literals blanked (line numbers kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + "\n" * text.count("\n", i, j) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def violations(text):
    """(line, what, source line) for every forbidden use in a source text."""
    found = []
    code = strip_comments_and_strings(text).splitlines()
    original = text.splitlines()
    for number, line in enumerate(code, 1):
        for pattern, what in FORBIDDEN:
            if pattern.search(line):
                found.append((number, what, original[number - 1].strip() if number <= len(original) else line))
    return found


def library_sources():
    files = sorted(p for pattern in SOURCES for p in HARNESS.rglob(pattern))
    return [p for p in files if p.relative_to(HARNESS).parts[0] != "cli"]


def test_the_scan_sees_the_library():
    files = library_sources()
    folders = {p.relative_to(HARNESS).parts[0] for p in files}
    assert {"core", "run", "store", "plot", "analysis"} <= folders, folders
    assert not any(p.relative_to(HARNESS).parts[0] == "cli" for p in files)


def test_no_library_file_prints():
    bad = []
    for path in library_sources():
        for number, what, line in violations(path.read_text(errors="replace")):
            bad.append(f"{path.relative_to(ROOT)}:{number}: {what}: {line}")
    assert not bad, ("only harness/cli/ may print; report through a return value, a message or a callback:\n" +
                     "\n".join(bad))


@pytest.mark.parametrize("source", [
    'printf("x");',
    '  puts(s);',
    'putchar(10);',
    'perror("open");',
    'fprintf(stderr, "%d\\n", x);',
    'fputs(msg, stdout);',
    'fflush(stdout);',
    'dup2(fd, 1);',
    'if (x) vprintf(fmt, ap);',
    'std::cerr << "x";',
    'write(2, buf, n);',
])
def test_the_scan_catches(source):
    assert violations(source), source


@pytest.mark.parametrize("source", [
    'snprintf(buf, len, "%d", x);',
    'vsnprintf(buf, len, fmt, ap);',
    'fprintf(f, "printf(stderr)");',
    '/* prints to stderr */ int x;',
    '// printf("x");',
    "char c = '\"'; mb_errorf(err, len, \"stdout\");",
    'o->on_printf(x);',
    'std::snprintf(err, errlen, "x");',
    'fwrite(g->text, 1, g->len, gp);',
])
def test_the_scan_allows(source):
    assert not violations(source), source
