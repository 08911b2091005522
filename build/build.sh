#!/usr/bin/env bash
# build/build.sh [--fix-header] — build everything into a ready module folder:
#
#   artifacts/module/ModuleCommunication/
#     ModuleCommunication.psd1, ModuleCommunication.dll (+ .pdb), the native library,
#     ModuleCommunication.Format.ps1xml, en-US/ModuleCommunication.dll-Help.xml
#
# Steps: cargo build (debug; MC_PROFILE=release for release) through build/cargo.sh; check that
# include/module_communication.h equals a fresh cbindgen run over src/ffi/mod.rs (--fix-header
# rewrites it instead); dotnet build of powershell/ModuleCommunication.csproj; assemble the
# folder; generate MAML help from powershell/help/*.md with build/New-MamlHelp.ps1.
#
# A failed cargo or dotnet build stops the script. Header drift and help generation errors are
# reported, the module folder is still assembled (so the test layers can run), and the script
# exits non-zero at the end.
set -uo pipefail
# shellcheck source=build/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

fix_header=0
for arg in "$@"; do
    case "$arg" in
        --fix-header) fix_header=1 ;;
        -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build/build.sh: unknown argument '$arg'" >&2; exit 2 ;;
    esac
done

problems=()
started=$SECONDS

# A failed build must not leave an old module folder behind for the tests to pick up.
rm -rf "$MC_MODULE_DIR"

# 1. Rust core (cdylib). --------------------------------------------------------------------
mc_log "cargo build ($MC_PROFILE)"
cargo_args=(build)
[ "$MC_PROFILE" = release ] && cargo_args+=(--release)
if ! build/cargo.sh "${cargo_args[@]}"; then
    echo "build/build.sh: cargo build failed" >&2
    exit 1
fi
native_lib="$MC_NATIVE_DIR/$MC_NATIVE_FILE"
if [ ! -f "$native_lib" ]; then
    echo "build/build.sh: cargo build did not produce $native_lib (is crate-type \"cdylib\" set?)" >&2
    exit 1
fi

# 2. C header drift. --------------------------------------------------------------------------
header=include/module_communication.h
if [ "${MC_HEADER_CHECK:-1}" = 0 ]; then
    mc_warn "header check skipped (MC_HEADER_CHECK=0)"
elif ! command -v cbindgen >/dev/null 2>&1; then
    # Users who build from crates.io do not need cbindgen: the header is committed.
    if [ -n "${CI:-}" ]; then
        problems+=("cbindgen is not installed, so $header could not be checked")
    else
        mc_warn "cbindgen not found; not checking $header against src/ffi (Debian: apt-get install cbindgen)"
    fi
else
    mc_log "cbindgen: checking $header"
    tmp_header="$(mktemp)"
    # Never `cbindgen --verify` (0.24.3 overwrites the file it verifies). Source mode on src/ffi
    # only: no `cargo metadata`, and the core crate may use syntax cbindgen 0.24 cannot parse.
    if cbindgen --quiet --config cbindgen.toml --output "$tmp_header" src/ffi/mod.rs; then
        if [ "$fix_header" = 1 ]; then
            if cmp -s "$tmp_header" "$header"; then
                mc_log "$header is up to date"
            else
                mkdir -p include && cp "$tmp_header" "$header" && mc_log "rewrote $header"
            fi
        elif ! diff -u "$header" "$tmp_header" | sed "s#$tmp_header#fresh cbindgen output#"; then
            msg="$header differs from cbindgen's output for src/ffi (diff above); run build/build.sh --fix-header and commit the header"
            v="$(cbindgen --version 2>/dev/null)"
            [ "$v" = "cbindgen 0.24.3" ] || msg="$msg (note: the committed header is made with cbindgen 0.24.3, Debian 12's; this is ${v:-an unknown version})"
            problems+=("$msg")
        fi
    else
        problems+=("cbindgen failed on src/ffi/mod.rs")
    fi
    rm -f "$tmp_header"
fi

# 3. C# module. -------------------------------------------------------------------------------
mc_log "dotnet build powershell/ModuleCommunication.csproj"
dotnet_out="$MC_ROOT/artifacts/bin/ModuleCommunication"
rm -rf "$dotnet_out"
if ! dotnet build powershell/ModuleCommunication.csproj -c Release -nologo -v q \
    -nodeReuse:false -p:UseSharedCompilation=false -o "$dotnet_out"; then
    echo "build/build.sh: dotnet build failed" >&2
    exit 1
fi

# 4. Module folder, from an explicit file list (never the reference System.Management.Automation.dll).
mc_log "assembling ${MC_MODULE_DIR#"$MC_ROOT"/}"
mkdir -p "$MC_MODULE_DIR/en-US"
cp powershell/ModuleCommunication.psd1 powershell/ModuleCommunication.Format.ps1xml \
    "$dotnet_out/ModuleCommunication.dll" "$native_lib" "$MC_MODULE_DIR/" || exit 1
[ -f "$dotnet_out/ModuleCommunication.pdb" ] && cp "$dotnet_out/ModuleCommunication.pdb" "$MC_MODULE_DIR/"

# 5. MAML help from powershell/help/*.md and the built module's metadata. ---------------------
mc_log "help: en-US/ModuleCommunication.dll-Help.xml"
if ! mc_tool_restore; then
    problems+=("dotnet tool restore failed, so pwsh is missing and help was not generated")
elif ! mc_pwsh -File build/New-MamlHelp.ps1 -ModulePath "$MC_MODULE_DIR" -HelpSource powershell/help; then
    problems+=("help generation failed (build/New-MamlHelp.ps1, messages above)")
fi

if [ "${#problems[@]}" -gt 0 ]; then
    for p in "${problems[@]}"; do echo "build/build.sh: error: $p" >&2; done
    exit 1
fi
mc_log "module ready in ${MC_MODULE_DIR#"$MC_ROOT"/} ($((SECONDS - started)) s)"
