#!/usr/bin/env bash
# Install what rcpt needs on Debian 12: apt packages listed in scripts/deps/*.txt
# (build.txt always; others by name: `install-deps.sh bench`).  A line `pkg?cmd` installs
# pkg only when cmd is not on PATH.  Idempotent: it only
# calls apt-get when a listed package is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lists=("$here/deps/build.txt")
for extra in "$@"; do lists+=("$here/deps/$extra.txt"); done
want=$(cat "${lists[@]}" | sed 's/#.*//' | tr -s ' \t' '\n' | sed '/^$/d' | sort -u)
missing=()
for p in $want; do
  # "pkg?cmd": the package is only needed when the command is missing (node and java
  # may come from elsewhere on the machine, e.g. nodesource's nodejs, which bundles npm)
  if [[ $p == *\?* ]]; then
    command -v "${p#*\?}" >/dev/null 2>&1 && continue
    p=${p%%\?*}
  fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
