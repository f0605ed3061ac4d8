# tests/fault/lib.sh: helpers shared by the fault tests (sourced), on top of tests/lib.sh (fail,
# embed, the fixture model in FX and MODEL, the directory T).  They run `elmo embed` with the
# fixture model under mpiexec and check what a failed run printed, returned and left behind.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
need_fixtures
fixture_model
make_tmp
CHK="$ELMO_SOURCE_DIR/tests/embed/check_store.py"

# expect_exit WANT GOT WHAT: WANT is a number or "nonzero"
expect_exit() {
  if [ "$1" = nonzero ]; then [ "$2" -ne 0 ] || fail "$3: exit 0, expected a failure"
  else [ "$2" -eq "$1" ] || fail "$3: exit $2, expected $1"; fi
}

# expect_msg LOG TEXT: the log holds an `elmo: error` line containing TEXT (fixed string)
expect_msg() {
  grep '^elmo: error' "$1" | grep -qF -- "$2" || { cat "$1" >&2; fail "no error naming '$2'"; }
}

# not_complete STORE: no file, or `elmo info` does not call it complete
not_complete() {
  [ -e "$1" ] || return 0
  if "$ELMO_BIN" info "$1" >"$T/info.txt" 2>&1; then
    grep -q INCOMPLETE "$T/info.txt" || fail "$1 looks complete after a failed run"
  fi
}

# journal_intact STORE: every `done` line names a part file of the recorded size, or with direct
# writes (no part files) STORE.partial exists (the checksums are the program's to verify);
# prints the count
journal_intact() {
  local j="$1.journal" n=0 id size pp
  [ -f "$j" ] || fail "$j is missing"
  head -1 "$j" | grep -qx 'elmo-journal 2' || fail "$j: bad header"
  while read -r _ id size _; do
    pp=$(printf '%s.parts/shard-%06d.part' "$1" "$id")
    if [ ! -e "$pp" ] && [ -f "$1.partial" ]; then n=$((n + 1)); continue; fi
    [ -f "$pp" ] || fail "$j lists shard $id done but $pp is missing"
    [ "$(stat -c %s "$pp")" -eq "$size" ] || fail "$pp: $(stat -c %s "$pp") bytes, journal $size"
    n=$((n + 1))
  done < <(grep '^done ' "$j")
  echo "$n"
}

# snapshot DIR: a listing of DIR (names, sizes, checksums) to compare before and after a run
snapshot() { (cd "$1" && find . -type f -printf '%p %s\n' | sort && find . -type f -exec md5sum {} + | sort); }
