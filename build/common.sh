# shellcheck shell=bash disable=SC2034  # sourced; the variables are used by the sourcing scripts
# Shared by the scripts in build/ (sourced, not run). Bash only.
#
# Sets MC_ROOT (the repository root) and cds there, exports a quiet .NET/PowerShell
# environment, and defines helpers to run pwsh from the local tool manifest.

MC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$MC_ROOT" || exit 1

export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 POWERSHELL_TELEMETRY_OPTOUT=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE=1
# No lingering MSBuild nodes or compiler servers (they keep pipes open and can hang CI).
export MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_USE_MSBUILD_SERVER=0 UseSharedCompilation=false
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# Cargo profile for the native library used by the module and the C tests.
MC_PROFILE="${MC_PROFILE:-debug}"
case "$MC_PROFILE" in
    debug | release) ;;
    *) echo "MC_PROFILE must be debug or release, not '$MC_PROFILE'" >&2; exit 2 ;;
esac
MC_TARGET_DIR="${CARGO_TARGET_DIR:-$MC_ROOT/target}"
MC_NATIVE_DIR="$MC_TARGET_DIR/$MC_PROFILE"
# The file cargo makes of the cdylib on this OS (and the name the module's loader looks for).
case "$(uname -s)" in
    Darwin) MC_NATIVE_FILE=libmodule_communication.dylib ;;
    MINGW* | MSYS* | CYGWIN*) MC_NATIVE_FILE=module_communication.dll ;;
    *) MC_NATIVE_FILE=libmodule_communication.so ;;
esac
MC_MODULE_DIR="$MC_ROOT/artifacts/module/ModuleCommunication"
MC_LOG_DIR="$MC_ROOT/artifacts/logs"

mc_log() { printf '==> %s\n' "$*" >&2; }
mc_warn() { printf 'warning: %s\n' "$*" >&2; }

# `dotnet tool restore` for .config/dotnet-tools.json (pwsh). Fast when already restored.
# Also makes sure the pwsh apphost in $PSHOME is executable: PowerShell puts $PSHOME first on
# PATH, so child processes (Start-Job, `pwsh -c` inside pwsh) run that file. NuGet extracted it
# with the execute bit here (checked with 7.6.9 under umask 022), but other setups have seen it
# without one (dotnet-docker#7205).
mc_tool_restore() {
    [ -n "${MC_TOOLS_RESTORED:-}" ] && return 0
    dotnet tool restore >"$MC_LOG_DIR/dotnet-tool-restore.log" 2>&1 || {
        cat "$MC_LOG_DIR/dotnet-tool-restore.log" >&2
        return 1
    }
    local ver apphost
    ver="$(sed -n '/"powershell"/,/}/s/.*"version": *"\([^"]*\)".*/\1/p' .config/dotnet-tools.json)"
    apphost="$(mc_nuget_packages)/powershell/$ver/tools/net10.0/any/unix/pwsh"
    if [ -f "$apphost" ] && [ ! -x "$apphost" ]; then
        chmod +x "$apphost" 2>/dev/null || mc_warn "$apphost is not executable; Start-Job will fail"
    fi
    export MC_TOOLS_RESTORED=1
}

# The NuGet global packages folder, with a trailing slash removed.
mc_nuget_packages() {
    if [ -z "${MC_NUGET_PACKAGES:-}" ]; then
        if [ -n "${NUGET_PACKAGES:-}" ]; then
            MC_NUGET_PACKAGES="$NUGET_PACKAGES"
        else
            MC_NUGET_PACKAGES="$(dotnet nuget locals global-packages --list | sed -n 's/^global-packages: *//p')"
        fi
        MC_NUGET_PACKAGES="${MC_NUGET_PACKAGES%/}"
        export MC_NUGET_PACKAGES
    fi
    printf '%s\n' "$MC_NUGET_PACKAGES"
}

# pwsh 7.6.9 from the local tool manifest. Runs from the repository root, where
# `dotnet tool run` finds .config/dotnet-tools.json.
mc_pwsh() {
    (cd "$MC_ROOT" && dotnet tool run pwsh -- -NoProfile -NonInteractive "$@")
}

mkdir -p "$MC_LOG_DIR"
