#!/bin/sh
# check_format.sh CLANG_FORMAT SOURCE_DIR: every C, C++, HIP and CUDA source of the project is
# formatted as its one .clang-format says, by clang-format 14 (the version the style file is
# written for). The files: git's tracked ones where SOURCE_DIR is a git checkout, else those under
# the project's source folders (a release tarball). Fix a file with: clang-format-14 -i FILE
set -eu
cf="$1"
cd "$2"
"$cf" --version | grep -q "version 14\." || { echo "check_format.sh: $cf is not clang-format 14" >&2; exit 1; }
list() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z -- '*.c' '*.h' '*.cpp' '*.hpp' '*.cu' '*.cuh' '*.hip'
  else
    find benchmarks cmake examples include kernels src tests -type f \( -name '*.c' -o -name '*.h' \
      -o -name '*.cpp' -o -name '*.hpp' -o -name '*.cu' -o -name '*.cuh' -o -name '*.hip' \) -print0
  fi
}
count=$(list | tr -cd '\0' | wc -c)
[ "$count" -gt 0 ] || { echo "check_format.sh: no sources found under $(pwd)" >&2; exit 1; }
if ! list | xargs -0 "$cf" --style=file --dry-run -Werror; then
  echo "check_format.sh: sources above differ from .clang-format (fix: clang-format-14 -i FILE)" >&2
  exit 1
fi
echo "check_format.sh: $count sources formatted as .clang-format says"
