#!/usr/bin/env bash
# build/demo.sh [ARGS...] — build the module (build/build.sh), then run examples/demo.ps1 in
# pwsh 7.6.9 (the local dotnet tool). ARGS are passed to the demo script.
set -uo pipefail
# shellcheck source=build/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

build/build.sh
build_rc=$?
psd1="$MC_MODULE_DIR/ModuleCommunication.psd1"
if [ ! -f "$psd1" ]; then
    echo "build/demo.sh: the module was not built" >&2
    exit 1
fi
[ "$build_rc" -eq 0 ] || mc_warn "build/build.sh reported problems (above); running the demo anyway"

mc_tool_restore || exit 1
export MC_MODULE_PSD1="$psd1"
mc_pwsh -File examples/demo.ps1 "$@"
demo_rc=$?
[ "$demo_rc" -ne 0 ] && exit "$demo_rc"
exit "$build_rc"
