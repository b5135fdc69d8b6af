#!/bin/sh
# Installs, from Debian's packages, what memtally's build, tests and
# benchmarks need. Run as root or with sudo available.
#   build:      gcc/clang, cmake, pkg-config, libdw (symbolisation),
#               json-c (the memtally command's report reader)
#   tests:      cmocka; sqlite3, jq, python3, git, bash and valgrind are the
#               real programs the preload tests run (valgrind gives the
#               reference allocation counts)
#   benchmarks: heaptrack, to compare against
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake clang pkg-config binutils \
  libcmocka-dev libdw-dev libelf-dev libjson-c-dev \
  valgrind sqlite3 jq python3 git bash coreutils heaptrack >/dev/null
