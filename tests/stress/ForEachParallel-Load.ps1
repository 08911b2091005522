# Load test (not part of build/test.sh): ForEach-Object -Parallel items that subscribe default
# handlers, publish to their own and a shared channel, and wait for their handlers, round after
# round, so that runspaces are reset for the next item while drains are pending. Run several
# copies at once to load the machine, for example 4:
#   source build/common.sh
#   for i in 1 2 3 4; do MC_MODULE_PSD1=$MC_MODULE_DIR/ModuleCommunication.psd1 \
#     mc_pwsh -File tests/stress/ForEachParallel-Load.ps1 & done; wait
# Exit code 0: every round finished and every channel's counts add up; 3: no round finished
# for -HangSeconds (a hang; the state is printed); 1: an item failed or a count is off.
param([int] $Rounds = 4, [int] $Items = 24, [int] $ThrottleLimit = 8, [int] $Messages = 20, [int] $HangSeconds = 90)
$ErrorActionPreference = 'Stop'
Import-Module $env:MC_MODULE_PSD1
$counts = [System.Collections.Concurrent.ConcurrentDictionary[string, int]]::new()
[AppDomain]::CurrentDomain.SetData('mc-load-counts', $counts)
$progress = [ref][DateTime]::UtcNow

# A watchdog runspace: reports and exits when no round finishes for -HangSeconds.
$watchdog = [powershell]::Create()
$null = $watchdog.AddScript({
    param($progress, $hangSeconds)
    while (([DateTime]::UtcNow - $progress.Value).TotalSeconds -lt $hangSeconds) { Start-Sleep -Milliseconds 500 }
    [Console]::Error.WriteLine("HANG: no round finished for $hangSeconds s")
    foreach ($r in Get-Runspace) { [Console]::Error.WriteLine("runspace $($r.Id) $($r.Name) $($r.RunspaceAvailability) $($r.RunspaceStateInfo.State)") }
    [Environment]::Exit(3)
}).AddArgument($progress).AddArgument($HangSeconds)
$null = $watchdog.BeginInvoke()

$failed = 0
for ($round = 1; $round -le $Rounds; $round++) {
    $counts.Clear()
    1..$Items | ForEach-Object { New-MessageChannel -Name "r$round-c$_" | Out-Null }
    New-MessageChannel -Name "r$round-shared" | Out-Null
    $watch = [Diagnostics.Stopwatch]::StartNew()
    $results = 1..$Items | ForEach-Object -ThrottleLimit $ThrottleLimit -Parallel {
        $ErrorActionPreference = 'Stop'
        Import-Module $env:MC_MODULE_PSD1
        $counts = [AppDomain]::CurrentDomain.GetData('mc-load-counts')
        $own = "r$($using:round)-c$_"; $shared = "r$($using:round)-shared"; $messages = $using:Messages
        $null = Subscribe-ModuleMessage -Channel $own -Handler { param($m) $null = [AppDomain]::CurrentDomain.GetData('mc-load-counts').AddOrUpdate($m.Channel, 1, { param($k, $v) $v + 1 }) }
        $null = Subscribe-ModuleMessage -Channel $shared -Handler { param($m) $null = [AppDomain]::CurrentDomain.GetData('mc-load-counts').AddOrUpdate('shared', 1, { param($k, $v) $v + 1 }) }
        1..$messages | ForEach-Object { $null = Publish-ModuleMessage -Channel $own -MessageType 't' -Data $_; $null = Publish-ModuleMessage -Channel $shared -MessageType 't' -Data $_ }
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while ($counts[$own] -lt $messages -and [DateTime]::UtcNow -lt $deadline) { $null = 1 }
        $counts[$own] -eq $messages
    }
    $short = @($results | Where-Object { -not $_ }).Count
    $failed += $short
    "round $round`: $($results.Count) items, $short short of their messages, $($watch.ElapsedMilliseconds) ms"
    $progress.Value = [DateTime]::UtcNow
}
foreach ($c in Get-MessageChannels) {
    $accounted = $c.Delivered + $c.Failed + $c.Cleared + $c.Dropped + $c.Expired + $c.QueueLength
    if ($c.Name -notlike '*shared' -and $accounted -ne $c.Published) { "count off on $($c.Name): published $($c.Published), accounted $accounted"; $failed++ }
}
[Environment]::Exit($(if ($failed) { 1 } else { 0 }))
