#!/usr/bin/env bash
# npm run bench [-- --size 1G --engine mariadb|postgres|both --runs 3 --experiments]
# npm run bench -- --s3-clients [--sizes 256M,1G --reps 3]   (s3stream.py against boto3: s3clients.py)
# npm run bench -- --physical [--size 1G --runs 1]           (base backup and point-in-time restore: physical.py)
set -euo pipefail
unset AWS_CA_BUNDLE # rclone refuses to start while it is set
here="$(dirname "${BASH_SOURCE[0]}")"
if [[ "${1:-}" == "--s3-clients" ]]; then
  shift
  exec python3 "$here/s3clients.py" "$@"
fi
if [[ "${1:-}" == "--physical" ]]; then
  shift
  exec python3 "$here/physical.py" "$@"
fi
exec python3 "$here/bench.py" "$@"
