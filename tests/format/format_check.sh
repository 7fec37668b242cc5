#!/usr/bin/env bash
# Every tracked C++ file of the tree is formatted as the repo's .clang-format
# says (clang-format --dry-run -Werror).
# usage: format_check.sh SOURCE_DIR CLANG_FORMAT
set -euo pipefail
source_dir=$1
clang_format=$2
cd "$source_dir"
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' 2>/dev/null ||
                     find core plugins tests bench examples fuzz -name '*.[ch]pp')
[[ ${#files[@]} -gt 0 ]] || { echo "format_check: FAIL: no C++ files found" >&2; exit 1; }
"$clang_format" --dry-run -Werror "${files[@]}"
echo "format_check: ${#files[@]} files formatted"
