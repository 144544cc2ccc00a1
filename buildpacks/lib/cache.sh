# Dependency folders (/app/.venv, /app/node_modules) kept whole in the build cache and reused
# while what decides their contents is unchanged, as Heroku's Python and Node.js buildpacks keep
# site-packages and node_modules (POSIX sh; sourced, not run; needs $cache).
#
# The inputs are a listing, one `NAME VALUE` line each: settings (`Python 3.11.2`) and files
# (`requirements.txt <sha256>`). A folder is restored only when its listing is the same, byte for
# byte; the cached copy is only ever copied, never used in place. (The build cache is the build's
# to write, as on Heroku: a build step that changes the cached copy itself changes later builds.)

# `deps_inputs FILE... [-- NAME VALUE...]`: prints the listing of the files that exist (a missing
# one is left out: its absence is part of the listing's shape; a symlink counts as what it points
# to, as the installer reads it) and the settings.
deps_inputs() {
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    if [ -f "$1" ]; then
      echo "$1 $(sha256sum < "$1" | cut -c1-64)"
    fi
    shift
  done
  [ $# -gt 0 ] && shift
  while [ $# -gt 1 ]; do
    echo "$1 $2"
    shift 2
  done
}

# `deps_restore FOLDER LISTING`: when the cache holds FOLDER made from the same inputs as the
# file LISTING, copies it to /app/FOLDER, says `cache hit` and succeeds; else says `cache miss`
# and why, and fails.
deps_restore() {
  saved="$cache/deps/$1.inputs"
  if [ -f "$saved" ] && [ -d "$cache/deps/$1" ] && cmp -s "$saved" "$2"; then
    rm -rf "/app/$1"
    if cp -a "$cache/deps/$1" "/app/$1"; then
      echo "-----> $1: cache hit ($(deps_names "$2") unchanged): reusing it"
      return 0
    fi
    rm -rf "/app/$1"
    echo "-----> $1: cache miss (the cached copy could not be restored): installing"
    return 1
  fi
  if [ ! -f "$saved" ]; then
    why="nothing cached yet"
  else
    # Every input that differs, in the listing's order: changed or new lines, then gone ones.
    why=$(awk 'NR == FNR { old[$1] = $2; next }
      !($1 in old) { why = why sep $1 " is new"; sep = ", "; next }
      old[$1] "" != $2 "" { why = why sep $1 " changed"; if (length($2) != 64) why = why " (" old[$1] " -> " $2 ")"; sep = ", " }
      END { printf "%s", why }' "$saved" "$2")
    gone=$(awk 'NR == FNR { now[$1]; next } !($1 in now) { gone = gone sep $1 " is gone"; sep = ", " }
      END { printf "%s", gone }' "$2" "$saved")
    why="$why${why:+${gone:+, }}$gone"
    [ -n "$why" ] || why="the cached copy is incomplete"
  fi
  echo "-----> $1: cache miss ($why): installing"
  return 1
}

# `deps_save FOLDER LISTING`: keeps /app/FOLDER in the build cache for the next build (the listing
# is written last: an interrupted copy is never taken for a whole one). A full disk only warns.
deps_save() {
  mkdir -p "$cache/deps"
  rm -rf "$cache/deps/$1" "$cache/deps/$1.inputs"
  if cp -a "/app/$1" "$cache/deps/$1" && cp "$2" "$cache/deps/$1.inputs"; then
    return 0
  fi
  rm -rf "$cache/deps/$1" "$cache/deps/$1.inputs"
  echo " !     warning: $1 could not be kept in the build cache; the next build installs it again."
}

# `deps_forget FOLDER`: drops the cached copy (inputs the cache cannot follow).
deps_forget() {
  rm -rf "$cache/deps/$1" "$cache/deps/$1.inputs"
}

# `deps_report FOLDER hit|miss`: tells the server that /app/FOLDER is a dependency folder, which
# goes into an image layer of its own, below the code.
deps_report() {
  [ -n "${PAAS_DEPENDENCIES:-}" ] && [ -d "/app/$1" ] && echo "$1 $2" >> "$PAAS_DEPENDENCIES"
  return 0
}

# `deps_names LISTING`: "requirements.txt, Python 3.11.2 and pip 26.3".
deps_names() {
  awk '{ if (length($2) == 64) n[NR] = $1; else n[NR] = $1 " " $2 }
    END { for (i = 1; i <= NR; i++) printf "%s%s", n[i], (i == NR ? "" : (i == NR - 1 ? " and " : ", ")) }' "$1"
}
