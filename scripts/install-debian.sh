#!/usr/bin/env bash
# What the tests need from Debian rather than npm:
# - dataset-fashion-mnist: Fashion-MNIST (30 MB of IDX files under /usr/share/datasets/fashion-mnist),
#   which the clothing classifier's training, searches and tests read;
# - chromium: the headless browser in which the HTML report's test opens the report (playwright-core);
# - redis-server: the Redis that remote workers (BullMQ) and the coordinator meet on, in tests and benchmarks.
# Installs only what is missing; uses sudo when not root.
set -euo pipefail
missing=()
[ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || missing+=(dataset-fashion-mnist)
command -v chromium > /dev/null || missing+=(chromium)
command -v redis-server > /dev/null || missing+=(redis-server)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y --no-install-recommends "${missing[@]}" \
  || { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "${missing[@]}"; }
