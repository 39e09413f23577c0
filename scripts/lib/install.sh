# What the scripts install when it is missing; sourced, not run.

# Installs the Debian package PACKAGE unless COMMAND is already on the PATH
# (sbin included); as root, or through sudo. SERVICE...: the systemd units
# the package starts and enables on install (servers the tests start
# themselves): under systemd they are stopped and disabled again, so that
# no port stays held and nothing runs after the tests or at the next boot.
ensure_debian_package() { # COMMAND PACKAGE [SERVICE...]
    PATH="$PATH:/usr/sbin:/sbin" command -v "$1" >/dev/null && return
    echo "${0##*/}: installing $2 ($1)" >&2
    local as_root
    as_root=$([ "$(id -u)" -eq 0 ] || echo sudo)
    # The package lists once per script, however many packages it installs.
    if [ -z "${ROLLCALL_APT_UPDATED:-}" ]; then
        $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        ROLLCALL_APT_UPDATED=1
    fi
    $as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$2" >/dev/null
    if [ "$#" -gt 2 ] && [ -d /run/systemd/system ]; then
        $as_root systemctl disable --now --quiet "${@:3}"
    fi
}

# The static target: Rust's musl target, and a C compiler for musl (aws-lc-sys
# is C).
readonly MUSL_TARGET=x86_64-unknown-linux-musl
# How scripts/test builds the workspace and scripts/example builds rollcall:
# one set of flags, so that one build serves both (another profile or target
# rebuilds every dependency).
readonly MUSL_DIST_FLAGS=(--locked --profile dist --target "$MUSL_TARGET")
ensure_musl_target() {
    rustup target add "$MUSL_TARGET" >/dev/null
    ensure_debian_package musl-gcc musl-tools
}

# The Rust plugins the test kit's build script (tests/kit/build.rs) builds
# for the tests, in a target directory of its own: scripts/test packages and
# runs the example on those the tests ran against.
readonly KIT_PLUGINS="${CARGO_TARGET_DIR:-target}/rollcall-test-kit/wasm32-wasip2/release"

# componentize-py, at the version plugins/sdk-python/requirements.txt pins,
# in the project's .venv (which moto's tests share).
ensure_componentize_py() {
    local pin
    pin=$(grep -o '^componentize-py==.*' plugins/sdk-python/requirements.txt)
    [ -x .venv/bin/python ] || python3 -m venv .venv
    if [ "$(.venv/bin/componentize-py --version 2>/dev/null)" != "${pin/==/ }" ]; then
        echo "${0##*/}: installing $pin into .venv" >&2
        .venv/bin/pip install --quiet --disable-pip-version-check \
            -r plugins/sdk-python/requirements.txt
    fi
}
