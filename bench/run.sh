#!/usr/bin/env bash
# bench/run.sh — run every benchmark against its baseline in the same run and write the
# results, with the machine they ran on, into docs/benchmark-results.md (docs/benchmarks.md
# explains each benchmark and keeps the numbers discussed there).
#
#   native: build/cargo.sh bench --bench native (release), mc_* against raw crossbeam-channel
#   api-native: build/cargo.sh bench --bench api (release), mc_api_invoke against a direct C call
#   resilience-native: build/cargo.sh bench --bench resilience (release), the security, breaker
#           and retry stages' cost, and API calls with every stage on against every stage off
#   pwsh:   every bench/*.ps1, against the module built with the release native library
#
# Each benchmark prints its own table and "ratio" lines; this script only collects them.
# Nothing here asserts a time: the ratios are the result.
set -uo pipefail
# shellcheck source=build/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../build/common.sh"

out="docs/benchmark-results.md"
logs="$MC_LOG_DIR/bench"
mkdir -p "$logs"

MC_PROFILE=release build/build.sh >"$logs/build.log" 2>&1 || { cat "$logs/build.log" >&2; exit 1; }
mc_tool_restore || exit 1

sections=()
# Native benches (release): cargo bench target, then the section name in the results.
for bench in native:native api:api-native observability:observability resilience:resilience-native; do
    target="${bench%%:*}"
    name="${bench#*:}"
    mc_log "native benchmark $target"
    if ! build/cargo.sh bench --bench "$target" >"$logs/$name.log" 2>"$logs/$name.err"; then
        cat "$logs/$name.err" >&2
        exit 1
    fi
    sections+=("$name" "$logs/$name.log")
done
for script in bench/*.ps1; do
    name="$(basename "$script" .ps1)"
    mc_log "pwsh benchmark $script"
    if ! MC_MODULE_PSD1="$MC_MODULE_DIR/ModuleCommunication.psd1" mc_pwsh -File "$script" >"$logs/$name.log" 2>&1; then
        cat "$logs/$name.log" >&2
        exit 1
    fi
    sections+=("$name" "$logs/$name.log")
done

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
{
    echo "# Benchmark results (generated)"
    echo
    echo "Written by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores ($cpu),"
    echo "$(free -g | awk '/^Mem:/{print $2}') GiB, $(. /etc/os-release && echo "$PRETTY_NAME"), release build of the"
    echo "native library, pwsh $(mc_pwsh -Command '$PSVersionTable.PSVersion.ToString()' 2>/dev/null)."
    echo "Every case is measured against its baseline in the same run; compare the ratios, not"
    echo "the absolute numbers, across machines. Re-run with \`bench/run.sh\`."
    i=0
    while [ $i -lt ${#sections[@]} ]; do
        echo
        echo "## ${sections[$i]}"
        echo
        echo '```'
        # Drop ANSI colour codes and cargo's own progress lines.
        sed -e 's/\x1b\[[0-9;]*m//g' "${sections[$((i + 1))]}" | grep -v -E '^\s*(Compiling|Finished|Running|Blocking)' | sed -e '/./,$!d'
        echo '```'
        i=$((i + 2))
    done
} >"$out"
mc_log "wrote $out"
