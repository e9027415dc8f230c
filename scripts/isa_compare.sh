#!/usr/bin/env bash
# Before/after check of a build change on this machine (written for the portable build with run-time ISA
# dispatch): the attention and SSM targets measured by an old and a new binary, interleaved, then
# `mechbench compare old.h5 new.h5` (ratio new/old per point, Mann-Whitney U; exit 1 on a significant slowdown).
#
#   scripts/isa_compare.sh [OLD_BINARY [NEW_BINARY]]   # defaults: /work/before/mechbench, ./mechbench
#   INIS="experiments/ssm_targets.ini" OUT=/tmp scripts/isa_compare.sh   # OUT: where isa_compare_{old,new}.h5 go
#
# Each experiment file is split into one file per [sweep] section, and the two binaries take turns part by part
# (old, new, old, new, ...), each appending to its own results file (--resume), so slow drifts of the shared
# machine fall on both alike. The new binary uses its best ISA unless MB_ISA is set. About 1-2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${1:-/work/before/mechbench}
NEW=${2:-./mechbench}
INIS=${INIS:-"experiments/attention_targets.ini experiments/ssm_targets.ini"}
OUT=${OUT:-results}
for b in "$OLD" "$NEW"; do [ -x "$b" ] || { echo "isa_compare.sh: $b is not an executable" >&2; exit 2; }; done
mkdir -p "$OUT"
rm -f "$OUT/isa_compare_old.h5" "$OUT/isa_compare_new.h5"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for ini in $INIS; do
    base=$(basename "$ini" .ini)
    awk -v dir="$tmp" -v base="$base" '
        /^\[sweep[ \]]/ { part++; file = sprintf("%s/%s_%02d.ini", dir, base, part); printf "%s", head > file }
        part == 0       { head = head $0 "\n"; next }
                        { print > file }' "$ini"
    ls "$tmp/${base}"_*.ini >/dev/null 2>&1 || cp "$ini" "$tmp/${base}_01.ini" # no [sweep] sections: one part
done

echo "old: $OLD"
echo "new: $NEW (MB_ISA=${MB_ISA:-unset}: $("$NEW" describe attention.softmax.naive | sed -nE 's/^isa +([a-z0-9]+).*/\1/p'))"
start=$(date +%s)
for part in "$tmp"/*.ini; do
    echo "== $(basename "$part" .ini)" >&2
    "$OLD" sweep "$part" --out "$OUT/isa_compare_old.h5" --resume --quiet >/dev/null
    "$NEW" sweep "$part" --out "$OUT/isa_compare_new.h5" --resume --quiet >/dev/null
done
echo "measured in $(($(date +%s) - start)) s; $OUT/isa_compare_old.h5 vs $OUT/isa_compare_new.h5"
# Binaries from before declared parameters store params as given (""); newer ones store every declared key with its
# default. Leave the parameter keys out of the match (the points are the same: the ini files set no params).
"$NEW" compare "$OUT/isa_compare_old.h5" "$OUT/isa_compare_new.h5" \
    --ignore-params "${IGNORE_PARAMS:-qk_std,inputs,features,rounds,chunk,c,gate,delta_softplus,names,minchunk,r,window,disc,theta,init,e,norm}"
