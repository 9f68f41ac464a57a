#!/usr/bin/env bash
# Tears down a lab left up with --keep:  bash scripts/lab/teardown.sh /tmp/dbtier-lab.XXXXXX
set -euo pipefail
LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/common.sh
source "$LAB_DIR/lib/common.sh"

main() {
  [[ $# -eq 1 ]] || die "usage: teardown.sh LAB_WORK_DIR (printed by npm run lab -- --keep)"
  LAB_ROOT="$1"
  [[ "$LAB_ROOT" == /tmp/dbtier-lab.* && -d "$LAB_ROOT/registry" ]] || die "$LAB_ROOT is not a lab work dir"
  lab_teardown
  echo "lab: torn down $1"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
