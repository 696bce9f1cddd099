"""The docs' code blocks, as the docs test reads and runs them (tests/e2e/test_docs.py).

A fenced block's info string says what it is: ``sh``/``bash``/``shell`` blocks are run by bash,
``python`` blocks by the venv's python; every other block (``yaml``, ``json``, ``text``, none) is
file contents or output, never run. The word ``no-run`` after the language (```` ```sh no-run ````)
marks a block that cannot run here (root, systemd, cron, apt, the test command itself, a benchmark
of minutes): it is only checked for syntax (``bash -n``, or Python's compiler).

In a run block:

- a command whose last line has a comment naming exit codes (``# exit 1: ...``, ``# exit 1 or 2``,
  ``# exit 1 (or 0) ...``, ``... (exit 0: none)``) must exit with one of them; any other command
  must exit 0;
- a comment line ``# {...}`` right after a command, holding a JSON object, is that command's
  expected output: the command's output must be a JSON object with those keys and values,
  recursively (a
  comment that is not valid JSON is prose and not checked, and a value with ``…`` in it is
  elided, e.g. ``"dedup_key":"3f2a…"``);
- a server command (``pagerbridge up``, ``pagerbridge sandbox``, ``pagerbridge agent``,
  ``im serve``, ``./scripts/up``) starts in the background and the block goes on once every port it
  listens on answers.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_LANGS = {"sh": "sh", "bash": "sh", "shell": "sh", "python": "python", "py": "python"}
NO_RUN = "no-run"

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_LINK = re.compile(r"\]\((docs/[^)#]+\.md)")
_EXIT = re.compile(r"\bexit\s+(\d+(?:\s*(?:or|/|,)\s*\d+)*)\b")
_SERVER = re.compile(
    r"^(?:\./scripts/up|scripts/up|pagerbridge\s+up|pagerbridge\s+sandbox|pagerbridge\s+agent"
    r"|im\s+serve)(?:\s|$)"
)


@dataclass(frozen=True)
class Block:
    path: Path  # the Markdown file
    line: int  # line number of the block's first line of code (1-based)
    lang: str  # "sh", "python", or the info string's first word as written
    flags: tuple[str, ...]
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def runnable(self) -> bool:
        return self.lang in ("sh", "python") and NO_RUN not in self.flags


def doc_order(root: Path = ROOT) -> list[Path]:
    """README.md, then the docs in the order of README's "Documentation" list, then the others
    (``docs/*.md``, then the pages in ``docs/``'s folders, such as ``docs/sources/``)."""
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    section = re.search(r"^## Documentation\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    order = [readme]
    if section:
        for rel in _LINK.findall(section.group(1)):
            path = root / rel
            if path.is_file() and path not in order:
                order.append(path)
    order += [p for p in sorted((root / "docs").glob("*.md")) if p not in order]
    order += [p for p in sorted((root / "docs").glob("*/*.md")) if p not in order]
    return order


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        words = opening["info"].split()
        first = i + 1
        body: list[str] = []
        i += 1
        while i < len(lines):
            closing = _FENCE.match(lines[i])
            if closing and closing["fence"].startswith(fence) and not closing["info"].strip():
                break
            line = lines[i]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            i += 1
        i += 1
        lang = words[0].lower() if words else ""
        blocks.append(
            Block(
                path, first + 1, RUN_LANGS.get(lang, lang), tuple(words[1:]), "\n".join(body) + "\n"
            )
        )
    return blocks


def indented_code(path: Path) -> list[int]:
    """Lines that start an indented (4-space) code block: the docs test wants fenced blocks.

    An indented block is a line indented 4 or more beyond the paragraph or list item before the
    blank line that precedes it (CommonMark's rule, near enough for these docs).
    """
    found: list[int] = []
    prev = ""  # the last non-blank line outside fences
    blank = False
    in_fence = ""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = _FENCE.match(line)
        if in_fence:
            if fence and fence["fence"].startswith(in_fence) and not fence["info"].strip():
                in_fence = ""
                prev, blank = line, False
            continue
        if fence:
            in_fence = fence["fence"]
            continue
        if not line.strip():
            blank = True
            continue
        if blank and prev:
            item = re.match(r"^( *)(?:[-*+]|\d+[.)])( +)", prev)
            base = len(item[1]) + len(item[2]) + 1 if item else len(prev) - len(prev.lstrip())
            if len(line) - len(line.lstrip()) >= base + 4:
                found.append(n)
        prev, blank = line, False
    return found


# --- shell blocks: logical commands ---------------------------------------------------------


@dataclass
class Command:
    line: int  # 0-based line within the block where it starts
    text: str  # the command as written (all its lines, comments included)
    code: str  # the same without its trailing comment
    comment: str = ""  # the trailing comment of its last line ("" if none)
    expect_json: str | None = None  # a following "# {...}" comment line
    only_comment: bool = False
    extra: list[str] = field(default_factory=list)


def commands_of(text: str) -> list[Command]:
    """Split shell text into logical commands: quotes, backslash-newlines and here-documents
    keep a command going; ``#`` starts a comment only at the start of a word."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out: list[Command] = []
    i = 0
    while i < len(lines):
        start = i
        quote = ""
        heredocs: list[str] = []
        code_parts: list[str] = []
        comment = ""
        while True:
            line = lines[i]
            j, n = 0, len(line)
            cut = n
            while j < n:
                c = line[j]
                if quote == "'":
                    if c == "'":
                        quote = ""
                elif quote == '"':
                    if c == "\\":
                        j += 1
                    elif c == '"':
                        quote = ""
                elif c == "\\":
                    j += 1
                elif c in "'\"":
                    quote = c
                elif c == "#" and (j == 0 or line[j - 1] in " \t;&|("):
                    cut = j
                    comment = line[j:]
                    break
                elif line.startswith("<<", j) and not line.startswith("<<<", j):
                    m = re.match(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1", line[j:])
                    if m:
                        heredocs.append(m.group(2))
                        j += m.end() - 1
                j += 1
            code_parts.append(line[:cut].rstrip() if cut < n else line)
            i += 1
            if heredocs and not quote:
                # the here-document bodies follow, verbatim
                for tag in heredocs:
                    while i < len(lines) and lines[i].strip() != tag:
                        code_parts.append(lines[i])
                        i += 1
                    if i < len(lines):
                        code_parts.append(lines[i])
                        i += 1
                heredocs = []
                break
            continues = not quote and code_parts[-1].endswith("\\") and cut == n
            if (quote or continues) and i < len(lines):
                if not quote:
                    comment = ""
                continue
            break
        text_ = "\n".join(lines[start:i])
        code = "\n".join(code_parts).rstrip()
        out.append(Command(start, text_, code, comment, only_comment=not code.strip()))
    # attach "# {json}" lines to the command before them
    merged: list[Command] = []
    for cmd in out:
        stripped = cmd.text.strip()
        if (
            cmd.only_comment
            and _json_object(stripped[1:])
            and merged
            and not merged[-1].only_comment
            and merged[-1].expect_json is None
        ):
            merged[-1].expect_json = stripped[2:]
            merged[-1].extra.append(cmd.text)
            continue
        merged.append(cmd)
    return merged


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def expected_exits(cmd: Command) -> list[int]:
    codes = [int(x) for m in _EXIT.finditer(cmd.comment) for x in re.findall(r"\d+", m.group(1))]
    codes += [int(x) for x in re.findall(r"\(or (\d+)\)", cmd.comment)]
    return codes or [0]


def server_ports(code: str) -> list[int] | None:
    """The ports a server command listens on, or None if it is not a server command."""
    code = code.strip().removesuffix("&").strip()
    if not _SERVER.match(code):
        return None
    try:
        words = shlex.split(code)
    except ValueError:
        return None
    if "--help" in words or "-h" in words:
        return None

    def opt(name: str) -> str | None:
        for k, w in enumerate(words):
            if w == name and k + 1 < len(words):
                return words[k + 1]
            if w.startswith(name + "="):
                return w.split("=", 1)[1]
        return None

    def port_of(listen: str | None, default: int) -> int:
        return int(listen.rsplit(":", 1)[1]) if listen else default

    if words[0].endswith("scripts/up") or words[:2] == ["pagerbridge", "up"]:
        ports = [port_of(opt("--listen"), 8081)]
        if "--no-hub" not in words:
            ports.append(port_of(opt("--hub-listen"), 8080))
        if not ({"--config", "-c", "--events-url"} & set(words)):
            ports.append(port_of(opt("--sandbox-listen"), 8090))
        return ports
    if words[:2] == ["pagerbridge", "sandbox"]:
        return [int(opt("--port") or 8090)]
    if words[:2] == ["pagerbridge", "agent"]:
        return [port_of(opt("--listen"), 8081)]
    return [int(opt("--port") or 8080)]  # im serve


def shell_script(block: Block) -> str:
    """The bash text that runs ``block`` under the helpers of ``LIB``."""
    out = [f"__pb_block {shlex.quote(block.where)}"]
    for cmd in commands_of(block.text):
        if cmd.only_comment:
            continue
        line = block.line + cmd.line
        first = cmd.code.strip().splitlines()[0]
        out.append(f"__pb_at {line} {shlex.quote(first)}")
        ports = server_ports(cmd.code)
        if ports is not None:
            words = cmd.code.strip().removesuffix("&").strip()
            out.append(f"__pb_serve {shlex.quote(' '.join(map(str, ports)))} {words}")
        elif cmd.expect_json is not None:
            out.append(f"__pb_out=$({cmd.code}\n)")
            out.append("printf '%s\\n' \"$__pb_out\"")
            out.append(f'__pb_expect_json "$__pb_out" {shlex.quote(cmd.expect_json)}')
        elif expected_exits(cmd) != [0]:
            codes = " ".join(map(str, expected_exits(cmd)))
            out.append(f"__pb_rc=0\n{{ {cmd.code}\n}} || __pb_rc=$?")
            out.append(f'__pb_expect_rc "$__pb_rc" {codes}')
        else:
            out.append(cmd.text)
    return "\n".join(out) + "\n"


# Sourced before every block; $__PB_DIR is the run's scratch directory.
LIB = r"""
__pb_block() { __pb_where=$1; __pb_file=${1%:*}; }
__pb_at() { __pb_line=$1; __pb_cmd=$2; }
__pb_report() {  # why the block stopped, for the test's message
    printf '%s:%s: %s\n%s\n' "$__pb_file" "$__pb_line" "$__pb_cmd" "$1" >>"$__PB_DIR/failure"
}
__pb_err() { __pb_report "exit $1 from: $2"; }
__pb_expect_rc() {
    local rc=$1; shift
    local want
    for want in "$@"; do [ "$rc" -eq "$want" ] && return 0; done
    __pb_report "exit $rc, the doc says exit $*"
    exit 1
}
__pb_expect_json() {
    local why="output differs from the doc's # {...}"
    python - "$1" "$2" <<'__PB_PY' || { __pb_report "$why"; exit 1; }
import json, sys
got, want = sys.argv[1], json.loads(sys.argv[2])
try:
    got = json.loads(got)
except ValueError:
    sys.exit(f"not JSON: {got!r}")
def fits(got, want):  # want's keys, recursively; a string with "…" in it is elided
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and fits(got[k], v) for k, v in want.items())
    return (isinstance(want, str) and "\u2026" in want) or got == want
if not fits(got, want):
    sys.exit(f"expected {want}, got {got}")
__PB_PY
}
__pb_serve() {  # __pb_serve "PORTS" COMMAND...: start it in the background, wait for its ports
    local ports=$1; shift
    local port
    for port in $ports; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            __pb_report "port $port is already in use (by a server an earlier block started?)"
            exit 1
        fi
    done
    local log="$__PB_DIR/server-$(date +%s%N).log"
    setsid "$@" >"$log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid $log" >>"$__PB_DIR/servers"
    echo "started in the background (pid $pid, log $log): $*"
    local deadline=$((SECONDS + 60))
    for port in $ports; do
        until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
            if ! kill -0 "$pid" 2>/dev/null; then
                __pb_report "the server exited before port $port answered; its log:
$(cat "$log")"
                exit 1
            fi
            if [ "$SECONDS" -ge "$deadline" ]; then
                __pb_report "port $port did not answer within 60 s; the log:
$(cat "$log")"
                exit 1
            fi
            sleep 0.05
        done
    done
    echo "listening on $ports"
}
__pb_save() {  # variables and the working directory, for the next block
    local __pb_n
    {
        for __pb_n in $(compgen -v); do
            case $__pb_n in
                BASH*|SHELLOPTS|EUID|PPID|UID|LINENO|RANDOM|SECONDS|SRANDOM|EPOCH*|FUNCNAME) ;;
                PIPESTATUS|GROUPS|HISTCMD|DIRSTACK|COMP_*|OPTIND|OPTERR|_|PWD|OLDPWD|SHLVL) ;;
                __pb_*|__PB_*) ;;
                *) [[ ${!__pb_n@a} == *r* ]] || declare -p "$__pb_n" ;;
            esac
        done
        printf 'cd %q\n' "$PWD"
    } >"$__PB_DIR/state.new" 2>/dev/null && mv "$__PB_DIR/state.new" "$__PB_DIR/state"
}
source "$__PB_DIR/state"
trap '__pb_save' EXIT
trap '__pb_err $? "$BASH_COMMAND"' ERR
set -eE -o pipefail
"""
