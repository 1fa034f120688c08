#!/usr/bin/env bash
# Builds the Java bridge with the JDK alone (no Maven, no Gradle, nothing downloaded):
#   build/cairn-bridge.jar   the library a game plugin bundles (package dev.cairn.bridge)
#   build/cairn-harness.jar  the trace player and benchmark used by npm run test:jvm / bench:jvm
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v javac >/dev/null 2>&1; then
  echo "build.sh: javac not found. The Java bridge needs a JDK 17 or newer, e.g. on Debian/Ubuntu:" >&2
  echo "  apt-get install openjdk-17-jdk-headless" >&2
  exit 3
fi
release=$(javac -version 2>&1 | sed -E 's/^javac ([0-9]+).*/\1/')
if [ "${release:-0}" -lt 17 ]; then
  echo "build.sh: javac $release is too old; the bridge needs JDK 17 or newer (apt-get install openjdk-17-jdk-headless)" >&2
  exit 3
fi
rm -rf build
mkdir -p build/classes build/harness-classes
javac --release 17 -Xlint:all -Werror -d build/classes $(find src/main/java -name '*.java')
jar --create --file build/cairn-bridge.jar -C build/classes .
javac --release 17 -Xlint:all -Werror -cp build/classes -d build/harness-classes $(find src/harness/java -name '*.java')
jar --create --file build/cairn-harness.jar -C build/harness-classes .
echo "built build/cairn-bridge.jar and build/cairn-harness.jar"
