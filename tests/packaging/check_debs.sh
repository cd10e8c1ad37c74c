#!/usr/bin/env bash
# Builds and checks the .deb packages (tests/packaging/CMakeLists.txt runs it).
#   check_debs.sh build CPACK CPACK_CONFIG DEBDIR
#     `cpack -G DEB` into an emptied DEBDIR (cpack leaves the packages of earlier runs there).
#   check_debs.sh contents WORKDIR DEBDIR INSTALLED_PREFIX PREFIX LIBDIR BINDIR INCLUDEDIR VERSION
#                          RUNTIME DEV CLI PYTHON INCLUDE_SRC
#     names, versions, Depends (against the ELF files' NEEDED entries), the files of each package,
#     no file in two packages, and every file of a plain `cmake --install` in exactly one package.
#   check_debs.sh install DEBDIR ROOT CONSUMER_BUILD_DIR
#     `dpkg --root=ROOT -i` of every package into a throw-away root whose package database is a
#     copy of this machine's (so Depends are checked against what is really installed), then
#     `dpkg --audit` and the file lists dpkg recorded. Removes the consumer's old build first.
#   check_debs.sh remove ROOT RUNTIME DEV CLI PYTHON
#     `dpkg --root=ROOT --purge` of the packages; nothing of them may be left.
set -euo pipefail

fail() { echo "check_debs: $*" >&2; exit 1; }
field() { dpkg-deb -f "$1" "$2"; }
# Paths of the non-directory entries of a .deb, without the leading "./".
files_of() { dpkg-deb -c "$1" | awk '$1 !~ /^d/ { p = $6; sub(/^\.\//, "", p); print p }' | sort; }
deb_of() {  # deb_of DEBDIR PACKAGE: the one .deb whose Package field is PACKAGE
  local d found=""
  for d in "$1"/*.deb; do
    if [ "$(field "$d" Package)" = "$2" ]; then
      [ -z "$found" ] || fail "two .deb files for package $2"
      found="$d"
    fi
  done
  echo "$found"
}
# depends_on DEPENDS PACKAGE [VERSION-RELATION]: the Depends field names PACKAGE (with the relation).
depends_on() {
  local want="$2${3:+ ($3)}"
  tr ',' '\n' <<<"$1" | sed 's/^ *//; s/ *$//' | grep -qxF -- "$want"
}
# names_package DEPENDS PACKAGE: PACKAGE is named in DEPENDS, with any version, alone or as an alternative.
names_package() {
  tr ',|' '\n\n' <<<"$1" | sed 's/^ *//; s/[ (].*//' | grep -qxF -- "$2"
}
# The packages of this machine that provide the shared libraries an ELF file needs, except SKIP.
needed_packages() {  # needed_packages FILE SKIP_REGEX
  local lib path paths=() cache owners
  cache="$(ldconfig -p)"
  for lib in $(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [[ "$lib" =~ $2 ]] && continue
    path="$(awk -v l="$lib" '$1 == l && /x86-64/ { print $NF; exit }' <<<"$cache")"
    [ -n "$path" ] || fail "$1 needs $lib, which this machine does not have"
    paths+=("$path" "$(readlink -f "$path")")  # merged /usr: dpkg knows one of the two
  done
  [ ${#paths[@]} -gt 0 ] || return 0
  owners="$(dpkg -S "${paths[@]}" 2>/dev/null || true)"
  for ((i = 0; i < ${#paths[@]}; i += 2)); do
    awk -F': ' -v a="${paths[i]}" -v b="${paths[i + 1]}" \
      '$2 == a || $2 == b { split($1, p, ":"); print p[1]; found = 1; exit } END { exit !found }' <<<"$owners" \
      || fail "no installed package owns ${paths[i]}"
  done | sort -u
}

contents() {
  local tmp="$1" debdir="$2" installed="$3" prefix="${4#/}"
  local lib="$prefix/$5" bin="$prefix/$6" inc="$prefix/$7" version="$8" runtime="$9" dev="${10}" cli="${11}"
  local python="${12}" incsrc="${13}"
  rm -rf "$tmp" && mkdir -p "$tmp"
  local pkg deb expected=("$runtime" "$dev" "$cli")
  # The Python package exists once a python-component install rule does (the C API's bindings),
  # unless KVSCALE_COMPONENT_PYTHON puts it into the CLI's package.
  if [ "$python" != "$cli" ] && [ -n "$(deb_of "$debdir" "$python")" ]; then expected+=("$python"); fi
  [ "$(ls "$debdir"/*.deb | wc -l)" -eq ${#expected[@]} ] || fail "expected packages ${expected[*]}, got: $(ls "$debdir")"

  for pkg in "${expected[@]}"; do
    deb="$(deb_of "$debdir" "$pkg")"
    [ -n "$deb" ] || fail "no package $pkg in $debdir"
    [ "$(field "$deb" Version)" = "$version" ] || fail "$pkg: Version $(field "$deb" Version), expected $version"
    [ "$(field "$deb" Architecture)" = "$(dpkg --print-architecture)" ] || fail "$pkg: Architecture $(field "$deb" Architecture)"
    files_of "$deb" >"$tmp/$pkg.files"
    [ -s "$tmp/$pkg.files" ] || fail "$pkg is empty"
    sed "s|^|$pkg |" "$tmp/$pkg.files" >>"$tmp/all"
    # No maintainer script may act: dpkg --root runs them against this machine (see `install`).
    dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$tmp" --one-top-level="$pkg.ctrl"
    for s in preinst postinst prerm postrm; do
      [ ! -e "$tmp/$pkg.ctrl/$s" ] || [ -x "$tmp/$pkg.ctrl/$s" ] || fail "$pkg: $s is not executable"
      if [ -e "$tmp/$pkg.ctrl/$s" ] && grep -qvE '^[[:space:]]*(#.*)?$' "$tmp/$pkg.ctrl/$s"; then
        fail "$pkg: $s does something:"$'\n'"$(cat "$tmp/$pkg.ctrl/$s")"
      fi
    done
  done

  # The runtime runs ldconfig through dpkg's trigger, not through a script.
  grep -qxF "activate-noawait ldconfig" "$tmp/$runtime.ctrl/triggers" || fail "$runtime: no ldconfig trigger"

  # No file in two packages.
  local dup; dup="$(awk '{ print $2 }' "$tmp/all" | sort | uniq -d)"
  [ -z "$dup" ] || fail "files in two packages:"$'\n'"$(grep -F "$dup" "$tmp/all")"
  # Every installed file is in a package: an install() rule without a packaged COMPONENT is lost.
  (cd "$installed" && find . ! -type d | sed "s|^\./|$prefix/|" | sort) >"$tmp/installed"
  awk '{ print $2 }' "$tmp/all" | sort >"$tmp/packaged"
  if ! diff -u "$tmp/installed" "$tmp/packaged" >"$tmp/diff"; then
    fail "packages differ from \`cmake --install\` (-: installed only, +: packaged only):"$'\n'"$(cat "$tmp/diff")"
  fi

  # runtime: the versioned library and its soname link only.
  grep -qE "^$lib/libkvscale\.so\.[0-9]+(\.[0-9]+)?$" "$tmp/$runtime.files" || fail "$runtime: no soname link"
  grep -qvE "^($lib/libkvscale\.so\.[0-9.]+|$prefix/share/doc/.*)$" "$tmp/$runtime.files" \
    && fail "$runtime holds more than the library:"$'\n'"$(cat "$tmp/$runtime.files")"
  # dev: every public header of the source tree (kvscale.h of the C API included), the generated
  # ones, the namelink and the CMake package.
  (cd "$incsrc" && find . -name '*.h' -o -name '*.hpp' | sed "s|^\./|$inc/|") >"$tmp/headers"
  for f in $(cat "$tmp/headers") "$inc/kvscale/export.h" "$inc/kvscale/version.hpp" "$lib/libkvscale.so" \
           "$lib/cmake/kvscale/kvscale-config.cmake" "$lib/cmake/kvscale/kvscale-config-version.cmake" \
           "$lib/cmake/kvscale/kvscale-targets.cmake"; do
    grep -qxF "$f" "$tmp/$dev.files" || fail "$dev lacks $f"
  done
  grep -qxF "$bin/kvscale" "$tmp/$cli.files" || fail "$cli lacks $bin/kvscale"
  # Python: only in $python, which then is a package `kvscale`.
  for pkg in "${expected[@]}"; do
    [ "$pkg" = "$python" ] || ! grep -qE '\.py$' "$tmp/$pkg.files" || fail "Python files in $pkg, not $python"
  done
  local has_python=0
  if [ -f "$tmp/$python.files" ] && grep -qE '\.py$' "$tmp/$python.files"; then has_python=1; fi
  if [ "$python" != "$cli" ] && [ -f "$tmp/$python.files" ]; then
    grep -qE '/kvscale/__init__\.py$' "$tmp/$python.files" || fail "$python has no kvscale/__init__.py"
  fi

  # Depends. The runtime's come from the libraries libkvscale links (libamdhip64 for HIP builds).
  local deps needs need
  deps="$(field "$(deb_of "$debdir" "$runtime")" Depends)"
  dpkg-deb -x "$(deb_of "$debdir" "$runtime")" "$tmp/rt"
  needs="$(needed_packages "$(ls "$tmp/rt/$lib"/libkvscale.so.*.*)" '^$')"
  for need in $needs; do
    names_package "$deps" "$need" || fail "$runtime: Depends ($deps) lacks $need, which provides a library libkvscale needs"
  done
  deps="$(field "$(deb_of "$debdir" "$dev")" Depends)"
  depends_on "$deps" "$runtime" "= $version" || fail "$dev: Depends ($deps) lacks $runtime (= $version)"
  deps="$(field "$(deb_of "$debdir" "$cli")" Depends)"
  depends_on "$deps" "$runtime" "= $version" || fail "$cli: Depends ($deps) lacks $runtime (= $version)"
  dpkg-deb -x "$(deb_of "$debdir" "$cli")" "$tmp/cli"
  needs="$(needed_packages "$tmp/cli/$bin/kvscale" '^libkvscale\.')"
  for need in $needs; do
    names_package "$deps" "$need" || fail "$cli: Depends ($deps) lacks $need"
  done
  if [ "$has_python" = 1 ]; then
    deps="$(field "$(deb_of "$debdir" "$python")" Depends)"
    for need in python3 python3-numpy; do
      depends_on "$deps" "$need" || fail "$python: Depends ($deps) lacks $need"
    done
    depends_on "$deps" "$runtime" "= $version" || fail "$python: Depends ($deps) lacks $runtime (= $version)"
    # python3 -m kvscale runs the CLI binary.
    if [ "$python" != "$cli" ]; then
      depends_on "$deps" "$cli" "= $version" || fail "$python: Depends ($deps) lacks $cli (= $version)"
    fi
  fi
  for pkg in "${expected[@]}"; do
    echo "check_debs: $pkg $version Depends: $(field "$(deb_of "$debdir" "$pkg")" Depends)"
  done
  echo "check_debs: contents and Depends as expected"
}

build() {
  rm -rf "$3"
  "$1" -G DEB --config "$2" -B "$3"
}

install() {
  local debdir="$1" root="$2" consumer="$3"
  rm -rf "$root" "$consumer"
  mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
  cp /var/lib/dpkg/status "$root/var/lib/dpkg/status"
  touch "$root/var/lib/dpkg/available"
  # --force-script-chrootless: the root has no shell to chroot into; `contents` proved that no
  # maintainer script does anything.
  dpkg --root="$root" --force-not-root --force-script-chrootless --log=/dev/null -i "$debdir"/*.deb
  dpkg --root="$root" --audit
  local pkg
  for pkg in $(for d in "$debdir"/*.deb; do dpkg-deb -f "$d" Package; done); do
    [ "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}' "$pkg")" = "install ok installed" ] \
      || fail "$pkg is not installed in $root"
    dpkg-query --admindir="$root/var/lib/dpkg" -L "$pkg" | while read -r f; do
      [ -e "$root$f" ] || [ -L "$root$f" ] || fail "$pkg: $f is not in $root"
    done
  done
  echo "check_debs: installed into $root"
}

remove() {
  local root="$1"; shift
  local pkg installed=()
  for pkg in "$@"; do
    dpkg-query --admindir="$root/var/lib/dpkg" -W "$pkg" >/dev/null 2>&1 && installed+=("$pkg")
  done
  if [ ${#installed[@]} -eq 0 ]; then
    echo "check_debs: nothing of ${*} is installed in $root"
    return 0
  fi
  dpkg --root="$root" --force-not-root --force-script-chrootless --log=/dev/null --purge "${installed[@]}"
  local left; left="$(find "$root" ! -type d ! -path "$root/var/lib/dpkg/*")"
  [ -z "$left" ] || fail "left behind after --purge:"$'\n'"$left"
  echo "check_debs: purged ${installed[*]}"
}

cmd="$1"; shift
case "$cmd" in
  build|contents|install|remove) "$cmd" "$@" ;;
  *) fail "unknown command $cmd" ;;
esac
