#!/usr/bin/env bash
# Checks that a libtracenas_core.so exports only the SDK: every defined dynamic
# symbol (nm -D --defined-only), demangled, must belong to a name in namespace
# tracenas listed in ALLOWED (one per line, '#' comments): the class itself,
# its members, vtable, typeinfo and thunks, or the function and its overloads.
#
# usage: check_core_exports.sh LIBRARY ALLOWED
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 LIBRARY ALLOWED" >&2; exit 2; }
lib=$1
allowed_file=$2

allowed=$(grep -v '^#' "$allowed_file" | sed '/^$/d' | sort -u)
symbols=$(nm -D --defined-only "$lib" | awk 'NF >= 3 {print $3}' | c++filt | sort -u)
[[ -n $symbols ]] || { echo "check_core_exports: FAIL: $lib exports nothing" >&2; exit 1; }

bad=()
while IFS= read -r sym; do
  name=$(sed -E 's/^(typeinfo name for |typeinfo for |vtable for |VTT for |non-virtual thunk to |virtual thunk to )//' <<<"$sym")
  if [[ $name =~ ^tracenas::([A-Za-z_][A-Za-z_0-9]*) ]] &&
     grep -qxF "${BASH_REMATCH[1]}" <<<"$allowed"; then
    continue
  fi
  bad+=("$sym")
done <<<"$symbols"

if ((${#bad[@]})); then
  echo "check_core_exports: FAIL: $lib exports ${#bad[@]} symbols outside the SDK:" >&2
  printf '  %s\n' "${bad[@]:0:40}" >&2
  exit 1
fi
echo "check_core_exports: $lib exports $(wc -l <<<"$symbols") symbols, all of the SDK"
