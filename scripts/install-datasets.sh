#!/usr/bin/env bash
# Datasets that come from Debian rather than npm: Fashion-MNIST (dataset-fashion-mnist, 30 MB of
# IDX files under /usr/share/datasets/fashion-mnist), which the clothing classifier's training,
# searches and tests read. Does nothing when it is already installed; uses sudo when not root.
set -euo pipefail
if [ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ]; then exit 0; fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y --no-install-recommends dataset-fashion-mnist \
  || { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends dataset-fashion-mnist; }
