# BlueZ stand-in for the `ble` feature's tests (tests/ble_*bluez*.rs): a private
# dbus-daemon and python-dbusmock serving org.bluez; libdbus-1-dev and
# pkg-config build btleplug's D-Bus binding. Idempotent: installs only what is
# missing. Sourced or run from .ci/run.
ble_ci_packages="dbus python3-dbusmock libdbus-1-dev pkg-config"
ble_ci_missing=""
for ble_ci_package in $ble_ci_packages; do
    if ! dpkg-query -W -f='${Status}' "$ble_ci_package" 2>/dev/null | grep -q "install ok installed"; then
        ble_ci_missing="$ble_ci_missing $ble_ci_package"
    fi
done
if [ -n "$ble_ci_missing" ]; then
    ble_ci_sudo=""
    if [ "$(id -u)" -ne 0 ]; then ble_ci_sudo="sudo"; fi
    $ble_ci_sudo apt-get update
    # shellcheck disable=SC2086 # the package list is meant to split
    DEBIAN_FRONTEND=noninteractive $ble_ci_sudo apt-get install -y --no-install-recommends $ble_ci_missing
fi
cargo test --features ble --test ble_transport_talks_to_bluez_over_dbus
