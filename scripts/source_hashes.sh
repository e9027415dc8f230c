#!/usr/bin/env bash
# Source hashes of the kernels (MB_SOURCE_HASH, what `sweep --resume` and the claims' caches compare): the hash of
# every file a kernel's code comes from, not only its own file, so that a change to shared code re-measures it.
# A kernel kernels/F/x.c covers:
#   - its own file and its family's shared files (kernels/F/family*, kernels/F/*.def);
#   - every project file it includes, followed through headers and .c files alike, #if branches included (so the
#     list is the same for every ISA copy): kernels/..., harness/core/vexp.h, harness/core/mechbench.h, ...;
#   - for each header under kernels/, the .c file beside it with the same name (kernels/attention/family_flash.h ->
#     family_flash.c: a GAU or prefix kernel runs the attention family's engine), followed the same way.
# Writes a makefile fragment (stdout): MB_HASH_kernels/F/x.c := <16 hex digits>, and, per kernel, its objects'
# dependency on those files (a change to any of them recompiles the kernel, with its new hash).
# Usage: scripts/source_hashes.sh ISA_OBJ_DIR_PATTERN KERNEL.c...  (from the repository root; the pattern has a %
# for the ISA: build/isa/%/)
set -euo pipefail
export LC_ALL=C
obj_pattern=$1
shift
mapfile -t all < <(find -H kernels harness -type f \( -name '*.c' -o -name '*.h' -o -name '*.def' \) | sort)
awk -v kernels="$*" '
  function dir(p) { return sub(/\/[^\/]*$/, "", p) ? p : "." }
  function norm(p,   q) { while ((q = p) && sub(/[^\/]+\/\.\.\//, "", p) && q != p) ; return p }
  FNR == 1 { exists[FILENAME] = 1 }
  /^[ \t]*#[ \t]*include[ \t]*"/ {
    inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*$/, "", inc)
    edges[FILENAME] = edges[FILENAME] " " inc
  }
  END {
    for (f in exists) { d = dir(f); if (d ~ /^kernels\//) family[d] = family[d] (f ~ /\/family[^\/]*$|\.def$/ ? " " f : "") }
    n = split(kernels, ks, " ")
    for (i = 1; i <= n; i++) {
      split("", seen); qn = 0
      q[++qn] = ks[i]; m = split(family[dir(ks[i])], fam, " "); for (j = 1; j <= m; j++) q[++qn] = fam[j]
      for (h = 1; h <= qn; h++) {
        f = q[h]; if (f in seen) continue; seen[f] = 1
        if (f ~ /^kernels\/.*\.h$/) { c = f; sub(/\.h$/, ".c", c); if (c in exists) q[++qn] = c }
        m = split(edges[f], incs, " ")
        for (j = 1; j <= m; j++) {
          split(dir(f) " kernels harness", bases, " ")
          for (b = 1; b <= 3; b++) { p = norm(bases[b] "/" incs[j]); if (p in exists) { q[++qn] = p; break } }
        }
      }
      k = 0; for (f in seen) { for (j = ++k; j > 1 && sorted[j - 1] > f; j--) sorted[j] = sorted[j - 1]; sorted[j] = f }
      line = ks[i]; for (j = 1; j <= k; j++) line = line " " sorted[j]
      print line
    }
  }' "${all[@]}" |
while read -r kernel deps; do
  hash=$(cat $deps | sha256sum)
  echo "MB_HASH_$kernel := ${hash:0:16}"
  objs=""
  for isa in portable avx2 avx512; do objs="$objs ${obj_pattern//%/$isa}${kernel%.c}.o"; done
  echo "$objs: $deps"
done
