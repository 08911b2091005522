#!/usr/bin/env bash
# build/test.sh — build everything (build/build.sh), then run every test layer and print one
# closing line "N passed, N failed" summed over all layers.
#
# Layers (MC_TEST_LAYERS=rust,c,pester selects; default all three):
#   rust    build/cargo.sh test --no-fail-fast; counts from the "test result:" lines
#   c       each tests/c/test_*.c built with gcc -std=c11 -Wall -Wextra -Werror -pedantic against
#           the debug library and run under valgrind (definite leaks and memory errors fail); each
#           binary prints "C: N passed, M failed"; a crash, a timeout, a valgrind error or a
#           missing summary line counts as one more failure
#   pester  tests/pester/run.ps1 (Pester 5.7.1, one pwsh process for all *.Tests.ps1)
#
# Every layer runs even if an earlier step failed. A failed build, or a layer that could not run
# at all, counts as 1 failed. Exit status is non-zero if anything failed or nothing passed.
# Logs: artifacts/logs/; JUnit XML from Pester: artifacts/test-results/.
set -uo pipefail
# shellcheck source=build/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

layers=",${MC_TEST_LAYERS:-rust,c,pester},"
for l in ${layers//,/ }; do
    case "$l" in rust | c | pester) ;; *) echo "build/test.sh: unknown layer '$l' in MC_TEST_LAYERS" >&2; exit 2 ;; esac
done
want() { [[ "$layers" == *",$1,"* ]]; }

P=0
F=0
rows=()
# record NAME PASSED FAILED SECONDS [NOTE]
record() {
    P=$((P + $2))
    F=$((F + $3))
    rows+=("$(printf '%-7s %5d passed, %3d failed  %4ss  %s' "$1:" "$2" "$3" "$4" "${5:-}")")
}

# Failures found before this script ran (.ci/run passes the setup steps that failed).
if [ "${MC_SETUP_FAILURES:-0}" -gt 0 ]; then
    record setup 0 "$MC_SETUP_FAILURES" 0 "environment setup failed (see above)"
fi

# Build. ----------------------------------------------------------------------------------------
t0=$SECONDS
if build/build.sh 2>&1 | tee "$MC_LOG_DIR/build.log"; then
    record build 0 0 $((SECONDS - t0)) ok
else
    record build 0 1 $((SECONDS - t0)) "build/build.sh failed (artifacts/logs/build.log)"
fi

# Rust. -----------------------------------------------------------------------------------------
if want rust; then
    mc_log "layer rust: cargo test"
    t0=$SECONDS
    cargo_args=(test --no-fail-fast)
    [ "$MC_PROFILE" = release ] && cargo_args+=(--release)
    build/cargo.sh "${cargo_args[@]}" 2>&1 | tee "$MC_LOG_DIR/rust.log"
    rc=${PIPESTATUS[0]}
    read -r p f < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed;.*/\1 \2/p' "$MC_LOG_DIR/rust.log" |
        awk '{p += $1; f += $2} END {print p + 0, f + 0}')
    note=""
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        note="cargo test exited $rc without a failing test (build error?)"
    fi
    record rust "$p" "$f" $((SECONDS - t0)) "$note"
fi

# C. --------------------------------------------------------------------------------------------
if want c; then
    mc_log "layer c: tests/c/test_*.c under valgrind"
    t0=$SECONDS
    shopt -s nullglob
    c_sources=(tests/c/test_*.c)
    shopt -u nullglob
    lib="$MC_NATIVE_DIR/$MC_NATIVE_FILE"
    if [ "${#c_sources[@]}" -eq 0 ]; then
        record c 0 1 $((SECONDS - t0)) "no tests/c/test_*.c found"
    elif [ ! -f "$lib" ]; then
        record c 0 1 $((SECONDS - t0)) "$lib missing (build failed)"
    elif ! command -v gcc >/dev/null 2>&1; then
        record c 0 1 $((SECONDS - t0)) "gcc not installed"
    else
        runner=()
        note=""
        if command -v valgrind >/dev/null 2>&1; then
            # Only definite leaks fail: Rust thread-locals and detached workers show as "possibly lost".
            runner=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite)
            [ -f tests/c/valgrind.supp ] && runner+=(--suppressions=tests/c/valgrind.supp)
        elif [ -n "${CI:-}" ]; then
            note="valgrind not installed"
        else
            mc_warn "valgrind not found: C tests run without it (Debian: apt-get install valgrind)"
        fi
        cp=0
        cf=0
        [ -n "$note" ] && cf=1
        bindir="$MC_ROOT/artifacts/c"
        mkdir -p "$bindir"
        failed_names=()
        for src in "${c_sources[@]}"; do
            name="$(basename "$src" .c)"
            log="$MC_LOG_DIR/c-$name.log"
            if ! gcc -std=c11 -Wall -Wextra -Werror -pedantic -g -Iinclude "$src" -o "$bindir/$name" \
                -L"$MC_NATIVE_DIR" -lmodule_communication -Wl,-rpath,"$MC_NATIVE_DIR" -pthread >"$log" 2>&1; then
                cat "$log"
                echo "C: $name: does not compile"
                cf=$((cf + 1))
                failed_names+=("$name")
                continue
            fi
            timeout --kill-after=10 "${MC_C_TEST_TIMEOUT:-300}" "${runner[@]}" "$bindir/$name" 2>&1 | tee -a "$log"
            rc=${PIPESTATUS[0]}
            line="$(grep -E '^C: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)"
            if [ -z "$line" ]; then
                tp=0
                tf=1
                why="no 'C: N passed, M failed' line"
            else
                read -r tp tf < <(sed 's/^C: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/' <<<"$line")
                why=""
            fi
            case "$rc" in
                0) ;;
                99) tf=$((tf + 1)); why="valgrind reported errors" ;;
                124 | 137) tf=$((tf + 1)); why="timed out" ;;
                *) [ "$tf" -eq 0 ] && { tf=1; why="exited $rc"; } ;;
            esac
            [ -n "$why" ] && echo "C: $name: $why"
            [ "$tf" -gt 0 ] && failed_names+=("$name")
            cp=$((cp + tp))
            cf=$((cf + tf))
        done
        [ "${#failed_names[@]}" -gt 0 ] && note="${note:+$note; }failing: ${failed_names[*]}"
        record c "$cp" "$cf" $((SECONDS - t0)) "$note"
    fi
fi

# Pester. ---------------------------------------------------------------------------------------
if want pester; then
    mc_log "layer pester: tests/pester/run.ps1"
    t0=$SECONDS
    psd1="$MC_MODULE_DIR/ModuleCommunication.psd1"
    if [ ! -f "$psd1" ]; then
        record pester 0 1 $((SECONDS - t0)) "module folder missing (build failed)"
    elif ! mc_tool_restore; then
        record pester 0 1 $((SECONDS - t0)) "dotnet tool restore failed"
    elif ! dotnet restore tools/tools.csproj -nologo -v q >"$MC_LOG_DIR/tools-restore.log" 2>&1; then
        cat "$MC_LOG_DIR/tools-restore.log"
        record pester 0 1 $((SECONDS - t0)) "dotnet restore tools/tools.csproj failed"
    else
        pester_version="$(sed -n 's/.*PackageDownload Include="Pester" Version="\[\([^]]*\)\]".*/\1/p' tools/tools.csproj)"
        mc_pwsh -File tests/pester/run.ps1 -ModulePath "$psd1" \
            -PesterPath "$(mc_nuget_packages)/pester/$pester_version/tools/Pester.psd1" 2>&1 | tee "$MC_LOG_DIR/pester.log"
        rc=${PIPESTATUS[0]}
        line="$(grep -E '^Pester: [0-9]+ passed, [0-9]+ failed' "$MC_LOG_DIR/pester.log" | tail -n 1)"
        if [ -z "$line" ]; then
            record pester 0 1 $((SECONDS - t0)) "no 'Pester:' summary line (pwsh exited $rc)"
        else
            read -r p f < <(sed 's/^Pester: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/' <<<"$line")
            note=""
            if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
                f=1
                note="run.ps1 exited $rc (no test passed?)"
            fi
            record pester "$p" "$f" $((SECONDS - t0)) "$note"
        fi
    fi
fi

echo
echo "Summary (logs in artifacts/logs/):"
printf '  %s\n' "${rows[@]}"
echo "$P passed, $F failed"
[ "$F" -eq 0 ] && [ "$P" -gt 0 ]
