# Dot-sourced by the *.Tests.ps1 files: imports the built module and offers helpers
# that wait for a condition with a timeout (never a bare sleep).

$script:ModuleManifest = Join-Path $PSScriptRoot '../../artifacts/module/ModuleCommunication/ModuleCommunication.psd1'
Import-Module $script:ModuleManifest -Force

# Polls $Condition every 50 ms (each loop iteration is also a checkpoint at which default
# handlers run) until it is true or $TimeoutSeconds pass; returns whether it became true.
function Wait-Until {
    param([scriptblock] $Condition, [double] $TimeoutSeconds = 5)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while ([DateTime]::UtcNow -lt $deadline) {
        if (& $Condition) { return $true }
        Start-Sleep -Milliseconds 50
    }
    return [bool](& $Condition)
}

# What Ctrl+C does to a pipeline running in another runspace: asks it to stop, then returns
# whether it has stopped within $TimeoutSeconds.
function Stop-LikeCtrlC {
    param([powershell] $PowerShell, [double] $TimeoutSeconds = 30)
    $null = $PowerShell.BeginStop($null, $null)
    Wait-Until { $PowerShell.InvocationStateInfo.State -eq 'Stopped' } -TimeoutSeconds $TimeoutSeconds
}

# The text tab completion puts in $Line (the cursor at its end) for the item listed as $Item.
function Get-CompletionText {
    param([string] $Line, [string] $Item)
    $found = (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches
    ($found | Where-Object ListItemText -CEQ $Item).CompletionText
}

# A channel name no other test uses.
function New-TestChannelName { 'Test-' + [guid]::NewGuid().ToString('N').Substring(0, 12) }

# Removes every subscription and channel, so tests do not see each other's state.
function Reset-Bus {
    Start-MessageProcessor | Out-Null
    Get-MessageSubscriptions | Unsubscribe-ModuleMessage | Out-Null
    Get-MessageChannels | Remove-MessageChannel -Force | Out-Null
}

# Reset-Bus, and also empties the event history and turns history persistence off.
function Reset-Events {
    Reset-Bus
    Set-CommunicationConfiguration -EventHistoryPath '' -MaxEventHistory 1000
    Clear-EventHistory -Force | Out-Null
}

# Removes every API and middleware, so API tests do not see each other's state.
function Reset-Registry {
    Get-APIMiddleware | Remove-APIMiddleware -Force | Out-Null
    Get-ModuleAPIs | Unregister-ModuleAPI -Force | Out-Null
}

# Runs $Script in a new pwsh process (started the way this one was: here 'dotnet pwsh.dll', the
# .NET tool) and waits up to $TimeoutSeconds for it to exit; a process still running then is
# killed. Returns whether it exited, its exit code and its output. -Interactive leaves out
# -NonInteractive and gives it a standard input that stays open and empty, so that a prompt waits.
function Invoke-ChildPwsh {
    param([string] $Script, [double] $TimeoutSeconds = 60, [switch] $Interactive)
    $file = Join-Path ([IO.Path]::GetTempPath()) ('mc-child-' + [guid]::NewGuid().ToString('N') + '.ps1')
    Set-Content -LiteralPath $file -Value $Script
    try {
        $start = [Diagnostics.ProcessStartInfo]::new([Environment]::ProcessPath)
        if ([IO.Path]::GetFileNameWithoutExtension([Environment]::ProcessPath) -eq 'dotnet') {
            $start.ArgumentList.Add([Environment]::GetCommandLineArgs()[0])
        }
        $arguments = @('-NoProfile')
        if (-not $Interactive) { $arguments += '-NonInteractive' }
        $arguments + '-File', $file | ForEach-Object { $start.ArgumentList.Add($_) }
        $start.RedirectStandardInput = [bool] $Interactive
        $start.RedirectStandardOutput = $true
        $start.RedirectStandardError = $true
        $process = [Diagnostics.Process]::Start($start)
        $output = $process.StandardOutput.ReadToEndAsync()
        $errors = $process.StandardError.ReadToEndAsync()
        $exited = $process.WaitForExit([int]($TimeoutSeconds * 1000))
        if (-not $exited) { $process.Kill($true); $process.WaitForExit() }
        [pscustomobject]@{ Exited = $exited; ExitCode = $process.ExitCode; Output = $output.Result + $errors.Result }
    } finally {
        Remove-Item -LiteralPath $file -ErrorAction SilentlyContinue
    }
}
