#!/usr/bin/env bash
# The Debian packages faasml needs beyond Python, installed where missing.
#
#   scripts/system-packages.sh run    what `make run` needs: python3-venv for .venv
#   scripts/system-packages.sh test   what the tests use: podman, chromium, Prometheus,
#                                     qemu for arm64 images, ... (and `run`'s)
#
# `make run` and `make test` call it. As root, or with password-less sudo, it installs what
# is missing with apt-get (and turns on arm64 emulation: binfmt_misc with qemu-aarch64);
# otherwise it prints the one apt-get line to run and carries on, and each test that needs a
# missing package is skipped with a reason that names it. It never fails a build:
# SYSTEM_PACKAGES=no (make's variable, or the environment) skips it altogether, and
# SYSTEM_PACKAGES=require (CI) fails where a package cannot be installed.
set -uo pipefail

purpose="${1:-test}"
mode="${SYSTEM_PACKAGES:-yes}"
if [ "$mode" = no ]; then exit 0; fi
give_up() {   # what could not be done; an error only where it is required
  echo "system-packages: $*"
  if [ "$mode" = require ]; then exit 1; fi
  exit 0
}

# command-or-check -> Debian package(s); a check is a shell test, run with `sh -c`.
declare -a needs=(
  "python3 -c 'import ensurepip, venv'|python3-venv"
)
if [ "$purpose" = test ]; then
  needs+=(
    "command -v curl|curl"                            # the README Quickstart test
    "command -v git|git"                              # fresh-clone tests
    "command -v prometheus|prometheus"                # the runtime's metrics scraped for real; promtool
    "command -v wrk|wrk"                              # load generator of `faasml bench gateway`
    "command -v podman|podman runc podman-docker"     # function images and containers
    "command -v debootstrap|debootstrap"              # the images' local Debian base
    "command -v chromium|chromium"                    # the dashboard's browser tests
    "command -v chromedriver|chromium-driver"
    "command -v shellcheck|shellcheck"                # lints edge/'s scripts
    "test -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P -o -x /usr/bin/qemu-aarch64-static|qemu-user-static binfmt-support"   # arm64 images
  )
fi

missing=()
for need in "${needs[@]}"; do
  check="${need%%|*}"
  packages="${need#*|}"
  if ! sh -c "$check" >/dev/null 2>&1; then
    # shellcheck disable=SC2206  # a list of package names, split on purpose
    missing+=($packages)
  fi
done

can_install=yes
as_root=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    can_install=no
  fi
fi

enable_arm64_emulation() {
  # binfmt_misc lets the kernel hand arm64 binaries to qemu; Debian's packages register
  # qemu-aarch64 with the F flag (containers see it too) but start nothing without systemd.
  [ "$purpose" = test ] || return 0
  [ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || [ -x /usr/bin/qemu-aarch64-static ] || return 0
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && return 0
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    "${as_root[@]}" mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc >/dev/null 2>&1 || true
  fi
  if command -v update-binfmts >/dev/null 2>&1; then
    "${as_root[@]}" update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  fi
  # Not an error even where packages are required: the arm64 test skips, saying why.
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] \
    || echo "system-packages: arm64 emulation could not be turned on here (binfmt_misc): the arm64 image test will be skipped"
}

if [ ${#missing[@]} -eq 0 ]; then
  if [ "$can_install" = yes ]; then enable_arm64_emulation; fi
  exit 0
fi

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$can_install" = no ]; then
  give_up "missing for \`make $purpose\`: ${missing[*]}
  install them with: sudo $line
  (until then the tests that need them are skipped, each saying which; SYSTEM_PACKAGES=no hides this)"
fi
if ! command -v apt-get >/dev/null 2>&1; then
  give_up "not a Debian-like system (no apt-get); install the equivalents of: ${missing[*]}"
fi

echo "system-packages: installing ${missing[*]}"
had_prometheus=$(command -v prometheus || true)
export DEBIAN_FRONTEND=noninteractive
if ! { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  give_up "apt-get failed; the tests that need ${missing[*]} will be skipped"
fi
# The tests run their own Prometheus on free ports: the service the package starts where
# systemd runs is stopped again, unless it was there before.
if [ -z "$had_prometheus" ] && command -v systemctl >/dev/null 2>&1; then
  "${as_root[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
enable_arm64_emulation
exit 0
