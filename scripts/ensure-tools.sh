#!/usr/bin/env bash
# The system programs filegate's tests and benchmarks use; installed from Debian when missing and root.
set -euo pipefail
# chromium and chromedriver drive the page in the browser tests; wrk loads the API in bench/.
# docker-compose only reads compose.yaml in the tests (`config`, no Docker engine needed).
declare -A package_of=([redis-server]=redis-server [unzip]=unzip [zip]=zip [bsdtar]=libarchive-tools [7z]=p7zip-full
  [javac]=default-jdk-headless [docker-compose]=docker-compose
  [chromium]=chromium [chromedriver]=chromium-driver [wrk]=wrk)
missing=()
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]}" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "missing system packages: ${missing[*]} (install them, e.g. sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
