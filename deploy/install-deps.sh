#!/usr/bin/env bash
# Installs every Debian package pdsync needs to build, test, benchmark and deploy.
# Idempotent: a package already installed is left alone, and apt-get update runs only
# when something is missing. It also makes sure no system mosquitto service is left
# listening, so a test can never reach a broker it did not start itself.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  mosquitto mosquitto-clients mosquitto-dev
  libpaho-mqttpp-dev libpaho-mqtt-dev libssl-dev
  libmsgpack-cxx-dev libboost-dev libsqlitecpp-dev libsqlite3-dev sqlite3
  googletest libgtest-dev libgmock-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libsodium-dev
  samba smbclient libsmbclient-dev
  clang-14 libclang-rt-14-dev clang-format
  gnuplot-nox iproute2 procps openssl
  libcpp-httplib-dev libraft-dev libuv1-dev
  chromium chromium-driver python3-selenium
  lintian dpkg-dev fakeroot file ccache systemd
)
# Node and npm run only the AsyncAPI contract check; the machine image may already carry a
# newer Node with its own npm, which Debian's npm package would conflict with.
if ! command -v npm >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Debian's postinst scripts try to start services; a policy-rc.d that says "no" keeps
  # mosquitto and smbd from starting on fixed ports during the install.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    created_policy=1
  fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy"; fi
else
  echo "install-deps: all ${#PACKAGES[@]} packages present"
fi

# No system broker: pdsync's tests and quickstart start their own on free ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled mosquitto >/dev/null 2>&1; then
  $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
if [ -f /run/mosquitto/mosquitto.pid ]; then
  pid=$(cat /run/mosquitto/mosquitto.pid 2>/dev/null || true)
  if [ -n "$pid" ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "mosquitto" ]; then
    $SUDO kill "$pid" || true
  fi
fi
