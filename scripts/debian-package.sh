# Sourced by the test scripts that need a program from Debian's packages
# (scripts/browser-test.sh: chromium; scripts/proxy-test.sh: nginx).
#
# install_debian_package SCRIPT PACKAGE: installs PACKAGE with apt-get (as
# root, or through passwordless sudo), updating the package lists only when
# the first try fails. RUNLEVEL=1 keeps a package's init script from starting
# a system service (nginx on port 80): the tests run their own.

install_debian_package() {
  local script="$1" package="$2"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$script: $package is missing and apt-get is not available; install it by hand" >&2
    return 1
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo -n"
    else
      echo "$script: $package is missing and this user cannot install packages; install Debian's $package" >&2
      return 1
    fi
  fi
  echo "$script: installing $package (apt-get)"
  local install=(env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y --no-install-recommends "$package")
  $sudo "${install[@]}" || { $sudo apt-get update && $sudo "${install[@]}"; }
}
