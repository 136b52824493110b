#!/bin/sh
# Regenerates the build system from configure.ac and Makefile.am.
set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf --install --force
# automake installs neither driver itself when both are set explicitly.
cp -f "$(automake --print-libdir)/tap-driver.sh" build-aux/tap-driver.sh
cp -f "$(automake --print-libdir)/test-driver" build-aux/test-driver
