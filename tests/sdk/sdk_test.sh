#!/usr/bin/env bash
# The SDK end to end, as a third party would use it:
#   1. install TraceNAS from BUILD_DIR into a temporary prefix;
#   2. configure and build examples/custom_proxy against that prefix
#      (find_package(TraceNAS) + tracenas_add_plugin);
#   3. check the installed headers are the SDK's (tests/sdk/sdk_headers.txt),
#      that libtracenas_core.so exports only the SDK (tests/sdk/core_exports.txt)
#      and that the plugin exports exactly one dynamic symbol;
#   4. check the installed CLI finds libtracenas_core.so and its built-in
#      plugins in the install tree (RPATH, installed plugin folder), and lists
#      the example's plugin and component;
#   5. validate and run examples/custom_proxy/pipeline.yaml with the installed
#      CLI and check the custom proxy is part of the result.
#
# usage: sdk_test.sh BUILD_DIR SOURCE_DIR FIXTURE_DIR CMAKE [CXX_COMPILER] [MAKE_PROGRAM]
set -euo pipefail

if [[ $# -lt 4 ]]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR FIXTURE_DIR CMAKE [CXX_COMPILER] [MAKE_PROGRAM]" >&2
  exit 2
fi
build_dir=$1
source_dir=$2
fixture_dir=$3
cmake_cmd=$4
cxx_compiler=${5:-}
make_program=${6:-}

plugin_id=org.example.custom_proxy
component=kept_fraction
example_src=$source_dir/examples/custom_proxy
pipeline=$example_src/pipeline.yaml

fail() {
  echo "sdk_test: FAIL: $*" >&2
  exit 1
}
step() { echo "sdk_test: --- $*"; }

# Canonical (symlink-free) temp folder: the host reports canonical plugin paths.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tracenas-sdk.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'echo "sdk_test: FAIL: line $LINENO: exit $? from: $BASH_COMMAND" >&2' ERR
tmp=$(cd "$tmp" && pwd -P)
prefix=$tmp/prefix
example_build=$tmp/example-build

# Nothing from the caller's environment may help the installed binary find
# libraries or plugins.
unset LD_LIBRARY_PATH TRACENAS_PLUGIN_PATH

[[ -d $fixture_dir ]] || fail "fixture folder $fixture_dir does not exist (build the tests first)"
[[ -f $pipeline ]] || fail "$pipeline does not exist"

step "install $build_dir into $prefix"
"$cmake_cmd" --install "$build_dir" --prefix "$prefix"

tracenas=$prefix/bin/tracenas
[[ -x $tracenas ]] || fail "installed CLI $tracenas is missing"
core_lib=$(find "$prefix" -name 'libtracenas_core.so*' -type f | head -n 1)
[[ -n $core_lib ]] || fail "libtracenas_core.so was not installed"
libdir=$(dirname "$core_lib")
plugin_dir=$libdir/tracenas/plugins
[[ -d $plugin_dir ]] || fail "installed plugin folder $plugin_dir is missing"
[[ -f $libdir/cmake/TraceNAS/TraceNASConfig.cmake ]] || fail "CMake package not installed"
shopt -s nullglob
builtin_plugins=("$plugin_dir"/*.so)
shopt -u nullglob
[[ ${#builtin_plugins[@]} -gt 0 ]] || fail "no built-in plugin installed in $plugin_dir"

step "the installed headers are the SDK listed in tests/sdk/sdk_headers.txt"
expected_headers=$(grep -v '^#' "$source_dir/tests/sdk/sdk_headers.txt" | sed '/^$/d' | sort)
installed_headers=$(cd "$prefix/include" && find . -type f | sed 's|^\./||' | sort)
if [[ $installed_headers != "$expected_headers" ]]; then
  fail "installed headers differ from tests/sdk/sdk_headers.txt (< expected, > installed):
$(diff <(echo "$expected_headers") <(echo "$installed_headers") | grep '^[<>]')"
fi
echo "$(wc -l <<<"$installed_headers") SDK headers installed"

step "the installed libtracenas_core.so exports the SDK only (tests/sdk/core_exports.txt)"
bash "$source_dir/tests/sdk/check_core_exports.sh" "$core_lib" "$source_dir/tests/sdk/core_exports.txt"

step "the installed CLI resolves libtracenas_core.so from the install tree"
if command -v ldd >/dev/null 2>&1; then
  resolved=$(ldd "$tracenas" | awk '/libtracenas_core/ {print $3}')
  [[ -n $resolved ]] || fail "ldd does not resolve libtracenas_core for $tracenas"
  [[ $(cd "$(dirname "$resolved")" && pwd -P) == "$libdir" ]] ||
    fail "installed CLI resolves libtracenas_core.so to $resolved, not $libdir"
fi
"$tracenas" --version

step "configure and build examples/custom_proxy against $prefix"
config_args=(-S "$example_src" -B "$example_build" -G Ninja
             -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release)
if [[ -n $cxx_compiler ]]; then config_args+=(-DCMAKE_CXX_COMPILER="$cxx_compiler"); fi
if [[ -n $make_program ]]; then config_args+=(-DCMAKE_MAKE_PROGRAM="$make_program"); fi
"$cmake_cmd" "${config_args[@]}"
grep -q "^TraceNAS_DIR:PATH=$libdir/cmake/TraceNAS\$" "$example_build/CMakeCache.txt" ||
  fail "the example did not find TraceNAS in $prefix: $(grep '^TraceNAS_DIR' "$example_build/CMakeCache.txt")"
"$cmake_cmd" --build "$example_build"
example_so=$example_build/libtracenas_custom_proxy.so
[[ -f $example_so ]] || fail "the example build produced no $example_so"

step "exported dynamic symbols"
check_exports() {
  local so=$1 syms
  syms=$(nm -D --defined-only "$so" | awk 'NF >= 3 {print $3}' | sort -u)
  [[ $syms == tracenas_plugin_entry_v1 ]] ||
    fail "$so must export exactly tracenas_plugin_entry_v1, exports: $(echo $syms)"
  echo "$so: tracenas_plugin_entry_v1 only"
}
check_exports "$example_so"
for so in "${builtin_plugins[@]}"; do check_exports "$so"; done

# The last stdout line of every command is its JSON result.
last_line() { tail -n 1; }
# One plugin object per line (keys of a plugin object are sorted, "components" first).
split_plugins() { sed 's/{"components":/\n&/g'; }

step "tracenas plugins --json"
plugins_json=$(TRACENAS_PLUGIN_PATH=$example_build "$tracenas" plugins --json | last_line)
echo "$plugins_json"
example_line=$(split_plugins <<<"$plugins_json" | grep -F "\"id\":\"$plugin_id\"") ||
  fail "plugin $plugin_id is not listed"
grep -qF "\"file\":\"$example_so\"" <<<"$example_line" ||
  fail "plugin $plugin_id is not listed from $example_so"
grep -qF "\"kind\":\"proxy\",\"name\":\"$component\"" <<<"$example_line" ||
  fail "proxy $component is not listed under plugin $plugin_id"
grep -qF '"name":"exponent"' <<<"$example_line" ||
  fail "parameter exponent of $component is not listed"
grep -qF '"version":"0.1.0"' <<<"$example_line" || fail "version of $plugin_id is not listed"
grep -qF '"license":"MIT"' <<<"$example_line" || fail "license of $plugin_id is not listed"
for so in "${builtin_plugins[@]}"; do
  grep -qF "\"file\":\"$so\"" <<<"$plugins_json" ||
    fail "installed built-in plugin $so is not loaded from the installed folder"
done
build_real=$(cd "$build_dir" && pwd -P)
if grep -qF "\"file\":\"$build_real/" <<<"$plugins_json"; then
  fail "the installed CLI loaded plugins from the build tree $build_real"
fi
# The last search path is the installed folder (possibly spelled <prefix>/bin/../lib/...).
last_search_path=$(sed -n 's/.*"search_paths":\[[^]]*"\([^"]*\)"\].*/\1/p' <<<"$plugins_json")
[[ -n $last_search_path && -d $last_search_path ]] ||
  fail "cannot read the last search path from the plugins JSON (got '$last_search_path')"
[[ $(cd "$last_search_path" && pwd -P) == "$plugin_dir" ]] ||
  fail "the last search path $last_search_path is not the installed plugin folder $plugin_dir"
grep -qF '"name":"param_count"' <<<"$plugins_json" || fail "built-in proxy param_count not listed"

run_env=(env "TRACENAS_PLUGIN_PATH=$example_build:$fixture_dir")

step "convert stories260K for the example pipeline's llama adapter"
model=$tmp/stories260K
"$tracenas" convert llama2c "$source_dir/../shared/models/stories260K.bin" --out "$model" | last_line
[[ -f $model/config.json ]] || fail "convert wrote no config.json"
set_model=(--set "model.params.path=$model")

step "tracenas validate $pipeline"
validate_json=$("${run_env[@]}" "$tracenas" validate "$pipeline" "${set_model[@]}" | last_line)
echo "$validate_json"
grep -qF '"valid":true' <<<"$validate_json" || fail "validate did not report valid"
grep -qF "\"proxy\":\"$component\"" <<<"$validate_json" || fail "validate does not list $component"
grep -qF '"objective":true,"proxy":"param_count"' <<<"$validate_json" ||
  fail "param_count is not the objective"

step "the host checks the declared range of exponent"
set +e
bad_out=$("${run_env[@]}" "$tracenas" validate "$pipeline" "${set_model[@]}" \
  --set proxies.1.params.exponent=20 2>&1)
bad_rc=$?
set -e
echo "$bad_out" | tail -n 2
[[ $bad_rc -eq 2 ]] || fail "exponent=20 must be refused with exit 2 (got $bad_rc)"
grep -qF 'proxies.1.params.exponent: must be <= 10' <<<"$bad_out" ||
  fail "exponent=20 was not refused with the declared range"

step "tracenas run $pipeline"
runs=$tmp/runs
run_json=$("${run_env[@]}" "$tracenas" run "$pipeline" "${set_model[@]}" \
  --set "run.output_dir=$runs" | last_line)
echo "$run_json"
grep -qF '"evaluated":8' <<<"$run_json" || fail "run did not evaluate its 8 candidates"
candidates=$runs/pipeline/candidates.jsonl
[[ $(grep -c "\"$component\":" "$candidates") -eq 8 ]] ||
  fail "$candidates does not hold a $component value for every candidate"
grep -qF "\"$component\":" <<<"$run_json" || fail "the run's best candidate has no $component value"
resolved_yaml=$runs/pipeline/config.resolved.yaml
[[ -f $resolved_yaml ]] || fail "run wrote no $resolved_yaml"
grep -qF "$component" "$resolved_yaml" || fail "$resolved_yaml does not mention $component"
grep -qE '^ *exponent: 2$' "$resolved_yaml" || fail "$resolved_yaml does not hold exponent: 2"

echo "sdk_test: PASS"
