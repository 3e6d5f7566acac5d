#!/usr/bin/env bash
# loadtest: `meson install` into a DESTDIR, then build the README's first test against it three ways
# and run each briefly:
#   1. the README's pkg-config line (`... $(pkg-config --cflags --libs loadtest)`), as printed
#   2. CMake: find_package(loadtest) + target_link_libraries(my_test PRIVATE loadtest::loadtest)
#   3. the README's hand-link line, as printed, run from a directory where include/ and build/
#      are the source's headers and this build
# (both README lines are extracted from README.md and run with bash, unchanged).
# It also checks that tests/consumer/my_test.cpp is the README's first test, character for
# character, so the README shows what is tested.
#
#   tests/install_test.sh SOURCE_DIR BUILD_DIR
#
# Prints "install: N passed, N failed". Exit 77 (skip) when pkg-config, cmake or a C++ compiler is
# missing; scripts/setup installs them (cmake is in BASE_PACKAGES).
set -uo pipefail

src=$(readlink -f "$1")
build=$(readlink -f "$2")
cxx=${CXX:-c++}

for tool in pkg-config cmake "$cxx" meson; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install: $tool is missing (scripts/setup installs it); skipped"
    exit 77
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/loadtest-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

passed=0
failed=0
pass() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1" >&2; failed=$((failed + 1)); }
finish() {
  echo "install: $passed passed, $failed failed"
  (( failed == 0 ))
  exit
}

# The consumer builds are single translation units of the whole umbrella header: -O0 keeps each
# at a fraction of the library's build.
export CXXFLAGS="-O0"

# Runs a built consumer for a moment: the first test runs 15 s, so it is stopped with SIGINT after
# 2 s (the engine then stops the users and still writes its result file). Passes when it ran, stopped
# on the signal, and left a result JSON in its results directory.
run_briefly() {  # name binary
  local name=$1 bin=$2 dir=$tmp/run-$1 status=0
  mkdir -p "$dir"
  (cd "$dir" && timeout --preserve-status -s INT -k 20 2 "$bin" >"$dir/out.txt" 2>&1) || status=$?
  # 0: the error rate held; 130: the run reports SIGINT as shells do
  if [[ $status != 0 && $status != 130 ]]; then
    fail "$name: the consumer exited $status"
    sed 's/^/  | /' "$dir/out.txt" | tail -n 20 >&2
    return
  fi
  if ! compgen -G "$dir/loadtest_results/loadtest_items_*.json" >/dev/null; then
    fail "$name: the consumer wrote no loadtest_results/loadtest_items_*.json"
    sed 's/^/  | /' "$dir/out.txt" | tail -n 20 >&2
    return
  fi
  pass "$name: built and ran"
}

# -- the README's first test is tests/consumer/my_test.cpp
readme_test=$(/usr/bin/python3 - "$src/README.md" <<'PY'
import re, sys
text = open(sys.argv[1], encoding='utf-8').read()
m = re.search(r'```cpp\n(// my_test\.cpp.*?)```', text, re.S)
sys.stdout.write(m.group(1) if m else '')
PY
)
if [[ -n "$readme_test" && "$readme_test" == "$(cat "$src/tests/consumer/my_test.cpp")" ]]; then
  pass "README's first test is tests/consumer/my_test.cpp"
else
  fail "README's first test (the block starting '// my_test.cpp') differs from tests/consumer/my_test.cpp"
fi

# -- install
if ! meson install -C "$build" --no-rebuild --destdir "$root" --quiet >"$tmp/install.log" 2>&1; then
  fail "meson install --destdir"
  tail -n 20 "$tmp/install.log" >&2
  finish
fi
prefix=$(meson introspect "$build" --buildoptions \
  | /usr/bin/python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
missing=()
for f in include/loadtest/loadtest.hpp include/loadtest/version.hpp include/loadtest/testing/target_server.hpp \
         bin/loadtest-http bin/loadtest-target; do
  [[ -e "$root$prefix/$f" ]] || missing+=("$f")
done
pc=$(find "$root$prefix" -name loadtest.pc | head -n 1)
cmake_config=$(find "$root$prefix" -name loadtestConfig.cmake | head -n 1)
[[ -n "$pc" ]] || missing+=(loadtest.pc)
[[ -n "$cmake_config" ]] || missing+=(loadtestConfig.cmake)
[[ -n "$(find "$root$prefix" -name loadtestConfigVersion.cmake)" ]] || missing+=(loadtestConfigVersion.cmake)
for lib in libloadtest.a libloadtest_testing.a; do
  [[ -n "$(find "$root$prefix" -name "$lib")" ]] || missing+=("$lib")
done
if (( ${#missing[@]} == 0 )); then
  pass "meson install: headers, both archives, tools, loadtest.pc, loadtestConfig.cmake + version"
else
  fail "meson install did not install: ${missing[*]}"
fi
# The embedded target is in its own archive, not in the library users link.
if nm -C "$(find "$root$prefix" -name libloadtest.a | head -n 1)" 2>/dev/null | grep -q 'T loadtest::testing::TargetServer'; then
  fail "libloadtest.a still defines loadtest::testing::TargetServer"
else
  pass "libloadtest.a does not contain the embedded target"
fi

# A consumer that forgets C++20 gets one clear first error from any public header.
cxx20_bad=()
while IFS= read -r header; do
  rel=${header#"$root$prefix/include/"}
  first=$(echo "#include \"$rel\"" | "$cxx" -std=c++17 -fsyntax-only -fmax-errors=1 -x c++ - \
            -I"$root$prefix/include" 2>&1 | grep -m 1 'error' || true)
  [[ "$first" == *'loadtest requires C++20 (-std=c++20)'* ]] || cxx20_bad+=("$rel")
done < <(find "$root$prefix/include/loadtest" -name '*.hpp' -not -path '*/detail/*' | sort)
if (( ${#cxx20_bad[@]} == 0 )); then
  pass "without -std=c++20 every public header's first error is the #error that asks for it"
else
  fail "without -std=c++20 the first error is not the C++20 #error in: ${cxx20_bad[*]}"
fi

# The three builds are independent: run them side by side.
# -- 1. pkg-config: the README's line, as printed (PKG_CONFIG_SYSROOT_DIR maps the installed prefix
# into the DESTDIR)
pkgconfig_line=$(grep -m 1 -E '^ *(g\+\+|c\+\+|clang\+\+) .*my_test\.cpp.*pkg-config --cflags --libs loadtest' "$src/README.md" \
                 | sed 's/^ *//')
mkdir -p "$tmp/pkgconfig"
cp "$src/tests/consumer/my_test.cpp" "$tmp/pkgconfig/"
if [[ -n "$pkgconfig_line" ]]; then
  (
    cd "$tmp/pkgconfig" || exit 1
    export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$root
    echo "$pkgconfig_line"
    echo "pkg-config: $(pkg-config --cflags --libs loadtest)"
    bash -c "$pkgconfig_line"
  ) >"$tmp/pkgconfig.log" 2>&1 &
  pkgconfig_pid=$!
fi

# -- 2. CMake
(
  cmake -S "$src/tests/consumer" -B "$tmp/cmake-build" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_COMPILER="$(command -v "$cxx")" -DCMAKE_PREFIX_PATH="$root$prefix" \
    -DCMAKE_CXX_FLAGS_DEBUG=-O0 &&
  cmake --build "$tmp/cmake-build" --verbose
) >"$tmp/cmake.log" 2>&1 &
cmake_pid=$!

# -- 3. the README's hand-link line, as printed, from a directory that looks like a checkout with
# the library built in build/
readme_line=$(grep -m 1 -E '^ *(g\+\+|c\+\+|clang\+\+) .*my_test\.cpp.* build/lib' "$src/README.md" | sed 's/^ *//')
mkdir -p "$tmp/checkout"
ln -s "$src/include" "$tmp/checkout/include"
ln -s "$build" "$tmp/checkout/build"
cp "$src/tests/consumer/my_test.cpp" "$tmp/checkout/"
if [[ -n "$readme_line" ]]; then
  (cd "$tmp/checkout" && echo "$readme_line" && bash -c "$readme_line") >"$tmp/readme.log" 2>&1 &
  readme_pid=$!
fi

if [[ -z "$pkgconfig_line" ]]; then
  fail "README.md has no pkg-config line ('g++ ... my_test.cpp \$(pkg-config --cflags --libs loadtest) ...')"
elif wait "$pkgconfig_pid"; then
  pass "the README's pkg-config line builds: $pkgconfig_line"
  if [[ -x "$tmp/pkgconfig/my_test" ]]; then
    run_briefly pkgconfig "$tmp/pkgconfig/my_test"
  else
    fail "the README's pkg-config line made no ./my_test"
  fi
else
  fail "the README's pkg-config line: $pkgconfig_line"
  tail -n 30 "$tmp/pkgconfig.log" >&2
fi
if wait "$cmake_pid"; then
  pass "find_package(loadtest) + loadtest::loadtest builds the README's first test"
  run_briefly cmake "$tmp/cmake-build/my_test"
else
  fail "CMake build"
  tail -n 30 "$tmp/cmake.log" >&2
fi
if [[ -z "$readme_line" ]]; then
  fail "README.md has no hand-link line ('g++ ... my_test.cpp ... build/libloadtest.a ...')"
elif wait "$readme_pid"; then
  pass "the README's hand-link line builds: $readme_line"
  if [[ -x "$tmp/checkout/my_test" ]]; then
    run_briefly readme-line "$tmp/checkout/my_test"
  else
    fail "the README's hand-link line made no ./my_test"
  fi
else
  fail "the README's hand-link line: $readme_line"
  tail -n 30 "$tmp/readme.log" >&2
fi

finish
