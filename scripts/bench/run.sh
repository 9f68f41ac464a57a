#!/usr/bin/env bash
# npm run bench [-- --size 1G --engine mariadb|postgres|both --runs 3 --experiments]
set -euo pipefail
unset AWS_CA_BUNDLE # rclone refuses to start while it is set
exec python3 "$(dirname "${BASH_SOURCE[0]}")/bench.py" "$@"
