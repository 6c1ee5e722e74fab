#!/usr/bin/env bash
# POSIX conformance run: builds pjdfstest and xfstests' fsx from source directories given to it
# (nothing is fetched at run time and nothing of theirs is kept in this repository), mounts a fresh
# session from a private embedded gateway (its own AETHER_HOME), runs `prove -r` of pjdfstest from
# a directory inside the mount and fsx (100,000 ops with and without mmap, fallocate family on),
# prints the counts and unmounts in teardown (also on failure or Ctrl-C).
#
# Usage: scripts/posix.sh --pjdfstest DIR --xfstests DIR [--work DIR] [--ops N] [--only pjd|fsx]
#                         [--prove-jobs N] [-- extra `aether mount` flags]
#   DIR of pjdfstest: a checkout of github.com/pjd/pjdfstest (autotools build, run as root).
#   DIR of xfstests:  a checkout of xfstests (kdave/xfstests); only ltp/fsx.c and a few headers are
#                     compiled (with a minimal config.h written here, no xfstests configure).
#   --work: scratch directory (default $TMPDIR/aether-posix); the builds and the home live there.
# Output: per-suite summary lines and a final "pjdfstest: P/T tests ... fsx: ..." line; the full
# prove log is kept in WORK/pjdfstest.log (failed files with their failing test numbers).
# Exit: 0 when the run completed (whatever the counts), non-zero when a build or the mount failed.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PJD_SRC="" XFS_SRC="" WORK="${TMPDIR:-/tmp}/aether-posix" OPS=100000 ONLY="" JOBS=1
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --pjdfstest) PJD_SRC="$2"; shift 2 ;;
    --xfstests) XFS_SRC="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --ops) OPS="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --prove-jobs) JOBS="$2"; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "posix.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$ONLY" = fsx ] || [ -f "$PJD_SRC/pjdfstest.c" ] || { echo "posix.sh: --pjdfstest DIR must be a pjdfstest checkout" >&2; exit 2; }
[ "$ONLY" = pjd ] || [ -f "$XFS_SRC/ltp/fsx.c" ] || { echo "posix.sh: --xfstests DIR must be an xfstests checkout (ltp/fsx.c)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || echo "posix.sh: note: pjdfstest expects root (it switches uids)" >&2
[ -f "$REPO/dist/cli/main.js" ] || { echo "posix.sh: build Aether first (npm run build)" >&2; exit 2; }

mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
BUILD="$WORK/build"
mkdir -p "$BUILD"

# ---- build ---------------------------------------------------------------------------------------
if [ "$ONLY" != fsx ]; then
  echo "== building pjdfstest (autotools) in $BUILD/pjdfstest"
  rm -rf "$BUILD/pjdfstest"
  cp -a "$PJD_SRC" "$BUILD/pjdfstest"
  (cd "$BUILD/pjdfstest" && autoreconf -ifs && ./configure -q && make -s pjdfstest) >"$WORK/pjdfstest-build.log" 2>&1 \
    || { echo "posix.sh: pjdfstest build failed, see $WORK/pjdfstest-build.log" >&2; exit 3; }
fi
if [ "$ONLY" != pjd ]; then
  echo "== building fsx in $BUILD/fsx"
  mkdir -p "$BUILD/fsx"
  # The headers fsx's global.h looks for, as xfstests' configure would find them on Linux/glibc.
  cat >"$BUILD/fsx/config.h" <<'EOF'
#define HAVE_SYS_TYPES_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_STATVFS_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_SYS_IOCTL_H 1
#define HAVE_SYS_WAIT_H 1
#define HAVE_MALLOC_H 1
#define HAVE_DIRENT_H 1
#define HAVE_STDLIB_H 1
#define HAVE_UNISTD_H 1
#define HAVE_STRINGS_H 1
#define HAVE_ERR_H 1
#define HAVE_ERRNO_H 1
#define HAVE_STRING_H 1
#define HAVE_SYS_FCNTL_H 1
#define HAVE_TIME_H 1
#define HAVE_WAIT_H 1
#define HAVE_SYS_PARAM_H 1
#define HAVE_LIBGEN_H 1
#define HAVE_ASSERT_H 1
#define HAVE_SYS_MMAN_H 1
#define HAVE_LINUX_FALLOC_H 1
#define HAVE_COPY_FILE_RANGE 1
#include <getopt.h>
EOF
  gcc -O2 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -w -I"$BUILD/fsx" -I"$XFS_SRC/include" -I"$XFS_SRC/src" \
    -o "$BUILD/fsx/fsx" "$XFS_SRC/ltp/fsx.c" >"$WORK/fsx-build.log" 2>&1 \
    || { echo "posix.sh: fsx build failed, see $WORK/fsx-build.log" >&2; exit 3; }
fi

# ---- mount a fresh session from a private embedded gateway ---------------------------------------
export AETHER_HOME="$WORK/home"
unset AETHER_URL AETHER_TOKEN AETHER_PROFILE || true
rm -rf "$AETHER_HOME"
mkdir -p "$AETHER_HOME"
MNT="$WORK/mnt"
AETHER=(node "$REPO/bin/aether.js")
mounted=0
teardown() {
  set +e
  cd /
  if [ "$mounted" = 1 ]; then
    "${AETHER[@]}" unmount "$MNT" --force >/dev/null 2>&1 || fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
  fi
  "${AETHER[@]}" gateway stop >/dev/null 2>&1
}
trap teardown EXIT
trap 'exit 130' INT TERM

mkdir -p "$MNT"
if mountpoint -q "$MNT"; then fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT"; fi
SESSION=$("${AETHER[@]}" session create --tag origin=posix --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))')
"${AETHER[@]}" mount "$SESSION" "$MNT" "${EXTRA[@]}" >/dev/null
mounted=1
BINDING=$("${AETHER[@]}" mounts --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s);console.log((m[0]||{}).binding||"?")})')
echo "== mounted $SESSION at $MNT (binding $BINDING${EXTRA[*]:+, flags ${EXTRA[*]}})"

PJD_LINE="pjdfstest: not run"
FSX_LINE="fsx: not run"

# ---- pjdfstest -----------------------------------------------------------------------------------
if [ "$ONLY" != fsx ]; then
  mkdir -p "$MNT/pjd"
  echo "== prove -r pjdfstest/tests (log: $WORK/pjdfstest.log)"
  # prove's exit status is non-zero whenever a test fails: the counts are what we report.
  (cd "$MNT/pjd" && prove -r -j "$JOBS" "$BUILD/pjdfstest/tests") >"$WORK/pjdfstest.log" 2>&1 || true
  summary=$(grep -E '^Files=' "$WORK/pjdfstest.log" | tail -1 || true)
  failed_files=$(grep -cE '^\S+\.t +\(Wstat: ' "$WORK/pjdfstest.log" || true)
  tests=$(echo "$summary" | sed -nE 's/.*Tests=([0-9]+).*/\1/p')
  files=$(echo "$summary" | sed -nE 's/^Files=([0-9]+).*/\1/p')
  # "Failed N/M subtests" per file: sum N (files that died without a plan count as every test failed).
  failed=$(grep -oE 'Failed [0-9]+/[0-9]+ subtests' "$WORK/pjdfstest.log" | awk '{split($2,a,"/"); s+=a[1]} END {print s+0}')
  if [ -n "$tests" ]; then
    PJD_LINE="pjdfstest: $((tests - failed))/$tests tests pass, $failed fail in $failed_files of $files files"
  else
    PJD_LINE="pjdfstest: no summary (see $WORK/pjdfstest.log)"
  fi
  echo "$PJD_LINE"
  # Failing files, and failing tests per syscall directory (what docs/SEMANTICS.md lists).
  grep -oE 'tests/[a-z_]+/[0-9]+\.t +\(Wstat: [0-9]+ Tests: [0-9]+ Failed: [0-9]+\)' "$WORK/pjdfstest.log" \
    | sed -E 's/^tests\/([a-z_]+\/[0-9]+\.t) +\(Wstat: [0-9]+ Tests: ([0-9]+) Failed: ([0-9]+)\)/\1 \3\/\2/' >"$WORK/pjdfstest-failed.txt" || true
  if [ -s "$WORK/pjdfstest-failed.txt" ]; then
    echo "   failing tests per directory (files in $WORK/pjdfstest-failed.txt):"
    awk '{split($1,p,"/"); split($2,c,"/"); f[p[1]]+=c[1]; n[p[1]]++} END {for (k in f) printf "     %-10s %5d in %d files\n", k, f[k], n[k]}' "$WORK/pjdfstest-failed.txt" | sort
  fi
fi

# ---- fsx -----------------------------------------------------------------------------------------
if [ "$ONLY" != pjd ]; then
  mkdir -p "$MNT/fsx" "$WORK/fsx-logs"
  results=()
  for variant in mmap nommap; do
    flags=(-N "$OPS" -S 1 -P "$WORK/fsx-logs")
    [ "$variant" = nommap ] && flags+=(-R -W)
    log="$WORK/fsx-$variant.log"
    set +e
    "$BUILD/fsx/fsx" "${flags[@]}" "$MNT/fsx/f-$variant" >"$log" 2>&1
    rc=$?
    set -e
    # fsx turns off each operation the filesystem refuses at start ("... not supported", "disabling").
    off=$(sed -nE 's/.*does not support (.*), disabling!?/\1/p' "$log" | tr '\n' ';' | sed 's/;$//' || true)
    if [ "$rc" = 0 ] && grep -qE 'All [0-9]+ operations completed A-OK' "$log"; then
      r="$variant $OPS ops A-OK"
    else
      r="$variant FAILED (rc $rc, see $log)"
    fi
    [ -n "$off" ] && r="$r [off: $off]"
    results+=("$r")
    echo "fsx $r"
  done
  FSX_LINE="fsx: $(IFS=, ; echo "${results[*]}")"
fi

echo "== result ($BINDING): $PJD_LINE | $FSX_LINE"
