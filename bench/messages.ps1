# PowerShell end-to-end benchmark of the message bus: Publish-ModuleMessage -> default
# handler, against (a) the same handler called directly and (b) New-Event +
# Register-EngineEvent -Action, PowerShell's own eventing. Cases run in rounds, interleaved,
# and each keeps its best round, so load from other processes skews the ratios less.
# Prints one row per case and the ratios; nothing here asserts a time.
param(
    [int] $Count = 20000,
    [int] $Rounds = 3,
    [string] $ModulePath = $(if ($env:MC_MODULE_PSD1) { $env:MC_MODULE_PSD1 } else { Join-Path $PSScriptRoot '../artifacts/module/ModuleCommunication/ModuleCommunication.psd1' })
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force

$message = [pscustomobject]@{ Channel = 'Bench'; MessageType = 'Tick'; Data = @{ Step = 1; Name = 'x' } }
$handler = { param($Message) $script:handled++ }

# One round of one case: seconds for $Count messages, checked to be all handled.
function Measure-Round([scriptblock] $Body) {
    $script:handled = 0
    $watch = [System.Diagnostics.Stopwatch]::StartNew()
    & $Body
    $watch.Stop()
    if ($script:handled -ne $Count) { throw "handled $($script:handled) of $Count" }
    $watch.Elapsed.TotalSeconds
}

$cases = [ordered]@{
    'direct: & $handler $msg' = {
        for ($i = 0; $i -lt $Count; $i++) { & $handler $message }
    }
    'Publish-ModuleMessage -> handler' = {
        for ($i = 0; $i -lt $Count; $i++) {
            $null = Publish-ModuleMessage -Channel 'Bench' -MessageType 'Tick' -Data @{ Step = $i; Name = 'x' }
        }
        Wait-ModuleMessage -Timeout 600
    }
    'New-Event + Register-EngineEvent -Action' = {
        $global:engineHandled = 0
        for ($i = 0; $i -lt $Count; $i++) {
            $null = New-Event -SourceIdentifier 'Bench.Engine' -MessageData @{ Step = $i; Name = 'x' }
        }
        # Actions run at checkpoints; this loop is one (bounded, so a lost event cannot hang it).
        $deadline = [datetime]::UtcNow.AddMinutes(10)
        while ($global:engineHandled -lt $Count -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 1 }
        $script:handled = $global:engineHandled
    }
}

New-MessageChannel -Name 'Bench' | Out-Null
$sub = Subscribe-ModuleMessage -Channel 'Bench' -Handler $handler
$engine = Register-EngineEvent -SourceIdentifier 'Bench.Engine' -Action { $global:engineHandled++ }
# Warm up every path once, so JIT and first-use costs are not measured.
Publish-ModuleMessage -Channel 'Bench' -MessageType 'Tick' -Data @{ Step = 0 } | Wait-ModuleMessage
& $handler $message

$best = @{}
try {
    for ($round = 1; $round -le $Rounds; $round++) {
        foreach ($name in $cases.Keys) {
            $seconds = Measure-Round $cases[$name]
            if (-not $best.ContainsKey($name) -or $seconds -lt $best[$name]) { $best[$name] = $seconds }
        }
    }
} finally {
    $sub | Unsubscribe-ModuleMessage | Out-Null
    Unregister-Event -SourceIdentifier 'Bench.Engine'
    Remove-Job $engine -Force
    Remove-MessageChannel -Name 'Bench' -Force | Out-Null
}

$rate = @{}
$rows = foreach ($name in $cases.Keys) {
    $rate[$name] = $Count / $best[$name]
    [pscustomobject]@{ Case = $name; Messages = $Count; Seconds = [math]::Round($best[$name], 3); PerSecond = [math]::Round($rate[$name]) }
}
$rows | Format-Table -AutoSize | Out-String -Width 120
"best of $Rounds interleaved rounds each"
$ours = $rate['Publish-ModuleMessage -> handler']
'ratio vs direct call (target >= 0.3):              {0:0.00}' -f ($ours / $rate['direct: & $handler $msg'])
'ratio vs New-Event + Register-EngineEvent (>= 1.0): {0:0.00}' -f ($ours / $rate['New-Event + Register-EngineEvent -Action'])
