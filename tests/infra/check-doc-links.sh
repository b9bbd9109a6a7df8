#!/usr/bin/env bash
# Check that every relative Markdown link in the docs resolves: the file or folder exists and,
# for a link with #anchor into a Markdown file, that file has a heading GitHub gives that slug.
# Links to http(s) and mailto are not followed (nothing here goes on the network); links inside
# code blocks and code spans are not links.
#
# Usage: tests/infra/check-doc-links.sh [FILE.md ...]   (default: README.md, BENCHMARKS.md, docs/*.md)
# Exit 1 and one line per broken link when any is broken.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$#" -eq 0 ]; then
  set -- README.md BENCHMARKS.md docs/*.md
fi

python3 tests/infra/check_doc_links.py "$@"
