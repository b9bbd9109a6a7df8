"""No shell script of the repository embeds more than 20 lines of Python: longer programs live in
.py files, where ruff sees them (make lint-python runs this beside ruff).

Counted: a heredoc fed to a Python interpreter (`python3 - ... <<'TAG'`, `"$sam_python" - ...`),
and a multi-line `python3 -c '...'` or `python3 -c "$var"` program (the variable's assignment).
Usage: embedded_python.py [SCRIPT...] (default: every tracked *.sh file).
"""
import re
import subprocess
import sys

LIMIT = 20
HEREDOC = re.compile(r"""<<-?\s*['"]?(\w+)['"]?""")
PYTHON = re.compile(r"""(python3?|_python"?)\s+-(\s|$)""")
INLINE = re.compile(r"""python3?\s+-c\s+(['"])(?!\$)""")
ASSIGNED = re.compile(r"""^\s*(\w+_py)=(['"])""")


def embedded(path):
    """(first line, lines) of each embedded Python program in the script at `path`."""
    with open(path) as f:
        lines = f.read().splitlines()
    found = []
    command = ""  # the logical line so far: a command continued with a backslash
    for i, line in enumerate(lines):
        command = command + " " + line if command.endswith("\\") else line
        heredoc = HEREDOC.search(line)
        quoted = INLINE.search(line) or ASSIGNED.search(line)
        if heredoc and PYTHON.search(command):
            tag = heredoc.group(1)
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == tag), len(lines))
            found.append((i + 1, end - i - 1))
        elif quoted:
            quote = quoted.group(quoted.lastindex)
            rest = line[quoted.end():]
            if quote in rest:
                continue  # one line
            end = next((j for j in range(i + 1, len(lines)) if quote in lines[j]), len(lines))
            found.append((i + 1, end - i - 1))
    return found


def main(paths):
    if not paths:
        paths = subprocess.run(["git", "ls-files", "*.sh"], check=True, capture_output=True,
                               text=True).stdout.split()
    too_long = [(path, first, n) for path in paths for first, n in embedded(path) if n > LIMIT]
    for path, first, n in too_long:
        print(f"{path}:{first}: {n} lines of Python in a shell script (at most {LIMIT}): move them "
              "to a .py file beside it", file=sys.stderr)
    return 1 if too_long else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
