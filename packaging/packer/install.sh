#!/bin/sh
# Installs rollcall into an image being built (run by Packer's shell
# provisioner as root; see rollcall.pkr.hcl). Expects in /tmp/rollcall:
# rollcall (the binary), policy.wasm, and the units from packaging/systemd.
#
# The daemon and the boot-time resolve run as the static system user
# `rollcall`, which owns /var/cache/rollcall: compiled policies are only
# loaded from a directory their user owns and nobody else can write, so the
# policy is compiled here as that user, into the directory the units use.
set -eu
staged=/tmp/rollcall

install -m 0755 "$staged/rollcall" /usr/local/bin/rollcall
install -d -m 0755 /usr/local/lib/rollcall
install -m 0644 "$staged/policy.wasm" /usr/local/lib/rollcall/policy.wasm

if ! id rollcall >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin rollcall
fi

# Settings: cloud-init's user data replaces these per instance.
install -d -m 0755 /etc/rollcall
[ -e /etc/rollcall/policy.json ] || echo '{}' > /etc/rollcall/policy.json

# The compiled-policy cache, as CacheDirectory=rollcall will find it.
install -d -o rollcall -g rollcall -m 0700 /var/cache/rollcall
runuser -u rollcall -- /usr/local/bin/rollcall plugin compile \
    /usr/local/lib/rollcall/policy.wasm --cache-dir /var/cache/rollcall

install -m 0644 "$staged/rollcall-boot.service" "$staged/rollcall.service" \
    /etc/systemd/system/
systemctl daemon-reload
systemctl enable rollcall-boot.service rollcall.service
# Enables the wait for the network that network-online.target means
# (systemd-networkd or NetworkManager, whichever the image uses).
systemctl enable systemd-networkd-wait-online.service 2>/dev/null \
    || systemctl enable NetworkManager-wait-online.service 2>/dev/null || true

rm -rf "$staged"
