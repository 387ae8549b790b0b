#!/usr/bin/env bash
# Builds plant-care for a 64-bit Raspberry Pi OS (aarch64) on a Debian or Ubuntu machine.
set -euo pipefail
cd "$(dirname "$0")/../../.."
rustup target add aarch64-unknown-linux-gnu
if ! command -v aarch64-linux-gnu-gcc >/dev/null; then
    sudo apt-get install -y gcc-aarch64-linux-gnu
fi
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
cargo build --release --target aarch64-unknown-linux-gnu -p plant-care --features linux
echo "target/aarch64-unknown-linux-gnu/release/plant-care"
