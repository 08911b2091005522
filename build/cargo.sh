#!/usr/bin/env bash
# build/cargo.sh ARGS... — run cargo in the repository root with the right crate source.
#
# Debian mode (offline; crates from Debian's librust-*-dev packages through the directory
# source in .ci/cargo-debian.toml) applies when MC_CRATES=debian, or when MC_CRATES is unset
# and /usr/share/cargo/registry/parking_lot-0.12.1 exists. It regenerates Cargo.lock against
# that source, then runs `cargo --config .ci/cargo-debian.toml --locked ARGS...`.
#
# Otherwise (MC_CRATES=crates-io, or no Debian registry) it runs plain `cargo ARGS...`, first
# deleting a Cargo.lock made in Debian mode: its "Could not get crate checksum" entries do not
# match crates.io. Cargo.lock is not committed (.gitignore) because it is wrong in one of the
# two worlds whichever one made it.
#
# Examples: build/cargo.sh build --release ; MC_CRATES=crates-io build/cargo.sh test
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

debian_marker=/usr/share/cargo/registry/parking_lot-0.12.1
case "${MC_CRATES-}" in
    debian) mode=debian ;;
    "") if [ -d "$debian_marker" ]; then mode=debian; else mode=crates-io; fi ;;
    crates-io | cratesio | crates.io) mode=crates-io ;;
    *) echo "build/cargo.sh: MC_CRATES must be 'debian' or 'crates-io', not '$MC_CRATES'" >&2; exit 2 ;;
esac

if [ "$mode" = debian ]; then
    cfg=(--config .ci/cargo-debian.toml)
    # Once per wrapper call: resolves against the installed Debian crates (about 0.1 s), and
    # replaces a lock made against crates.io, which names versions Debian does not ship.
    if ! cargo "${cfg[@]}" generate-lockfile --quiet; then
        echo "build/cargo.sh: 'cargo generate-lockfile' against /usr/share/cargo/registry failed." >&2
        echo "  Is every dependency (dev-dependencies included) installed as a librust-*-dev package?" >&2
        echo "  See PKGS at the top of .ci/run. To use crates.io instead: MC_CRATES=crates-io $0 $*" >&2
        exit 101
    fi
    exec cargo "${cfg[@]}" --locked "$@"
fi

if [ -f Cargo.lock ] && grep -q 'Could not get crate checksum' Cargo.lock; then
    echo "build/cargo.sh: removing Cargo.lock made from Debian's crates (checksums differ from crates.io)" >&2
    rm -f Cargo.lock
fi
exec cargo "$@"
