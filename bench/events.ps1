# PowerShell end-to-end benchmark of the event system, every case in the same run:
#   - Publish-ModuleEvent -> default handler, against New-Event + Register-EngineEvent -Action
#     (the engine's own event mechanism, the baseline users would otherwise reach for);
#   - the same with the history persisted to a file (one JSON line written per event before
#     Publish-ModuleEvent returns), against persistence off;
#   - publishing alone (no subscriber), persistence on against off, which isolates the file cost.
# Prints one row per case and the ratios. Cases run in rounds, interleaved, and each keeps its
# best round, so load from other processes skews the ratios less.
param(
    [int] $Count = 20000,
    [int] $Rounds = 3,
    [string] $ModulePath = $(if ($env:MC_MODULE_PSD1) { $env:MC_MODULE_PSD1 } else { Join-Path $PSScriptRoot '../artifacts/module/ModuleCommunication/ModuleCommunication.psd1' })
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force

$folder = Join-Path ([System.IO.Path]::GetTempPath()) "mc-bench-events-$PID"
$null = New-Item -ItemType Directory -Force -Path $folder
$historyFile = Join-Path $folder 'history.jsonl'
$data = @{ Step = 1; Name = 'x' }

function Set-Persistence([bool] $On) {
    Set-CommunicationConfiguration -EventHistoryPath ''
    Remove-Item -LiteralPath $historyFile, "$historyFile.1" -ErrorAction SilentlyContinue
    if ($On) { Set-CommunicationConfiguration -EventHistoryPath $historyFile -EventHistoryMaxBytes 0 }
}

# One round of one case: seconds for $Count events, checked to be all handled.
function Measure-Round([scriptblock] $Body, [int] $Expected) {
    $script:handled = 0
    $watch = [System.Diagnostics.Stopwatch]::StartNew()
    & $Body
    $watch.Stop()
    if ($script:handled -ne $Expected) { throw "handled $($script:handled) of $Expected" }
    $watch.Elapsed.TotalSeconds
}

$cases = [ordered]@{
    'Publish-ModuleEvent -> handler' = @{ Persist = $false; Subscribe = $true; Body = {
            for ($i = 0; $i -lt $Count; $i++) { $null = Publish-ModuleEvent -EventName 'Tick' -EventData @{ Step = $i; Name = 'x' } }
            Wait-ModuleMessage -Timeout 600
        }
    }
    'Publish-ModuleEvent -> handler, history file' = @{ Persist = $true; Subscribe = $true; Body = {
            for ($i = 0; $i -lt $Count; $i++) { $null = Publish-ModuleEvent -EventName 'Tick' -EventData @{ Step = $i; Name = 'x' } }
            Wait-ModuleMessage -Timeout 600
        }
    }
    'New-Event + Register-EngineEvent -Action' = @{ Persist = $false; Engine = $true; Body = {
            for ($i = 0; $i -lt $Count; $i++) { $null = New-Event -SourceIdentifier 'Bench.Engine' -MessageData @{ Step = $i; Name = 'x' } }
            # Actions run at checkpoints; this loop is one (bounded, so a lost event cannot hang it).
            $deadline = [datetime]::UtcNow.AddMinutes(10)
            while ($global:engineHandled -lt $Count -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 1 }
            $script:handled = $global:engineHandled
        }
    }
    'Publish-ModuleEvent alone' = @{ Persist = $false; Body = {
            for ($i = 0; $i -lt $Count; $i++) { $null = Publish-ModuleEvent -EventName 'Tick' -EventData @{ Step = $i; Name = 'x' } }
            $script:handled = $Count
        }
    }
    'Publish-ModuleEvent alone, history file' = @{ Persist = $true; Body = {
            for ($i = 0; $i -lt $Count; $i++) { $null = Publish-ModuleEvent -EventName 'Tick' -EventData @{ Step = $i; Name = 'x' } }
            $script:handled = $Count
        }
    }
}

# Warm up every path once, so JIT and first-use costs are not measured.
$warm = Subscribe-ModuleEvent -EventName 'Warm' -Handler { }
Publish-ModuleEvent -EventName 'Warm' -EventData $data | Wait-ModuleMessage
$warm | Unsubscribe-ModuleEvent | Out-Null

$best = @{}
try {
    for ($round = 1; $round -le $Rounds; $round++) {
        foreach ($name in $cases.Keys) {
            $case = $cases[$name]
            Set-Persistence $case.Persist
            Clear-EventHistory -Force | Out-Null
            $sub = $null
            $engine = $null
            if ($case.Subscribe) { $sub = Subscribe-ModuleEvent -EventName 'Tick' -Handler { param($Event) $script:handled++ } }
            if ($case.Engine) {
                $global:engineHandled = 0
                $engine = Register-EngineEvent -SourceIdentifier 'Bench.Engine' -Action { $global:engineHandled++ }
            }
            try {
                $seconds = Measure-Round $case.Body $Count
            }
            finally {
                if ($sub) { $sub | Unsubscribe-ModuleEvent | Out-Null }
                if ($engine) { Unregister-Event -SourceIdentifier 'Bench.Engine'; Remove-Job $engine -Force }
            }
            if (-not $best.Contains($name) -or $seconds -lt $best[$name]) { $best[$name] = $seconds }
        }
    }
}
finally {
    Set-Persistence $false
    Remove-Item -LiteralPath $folder -Recurse -Force -ErrorAction SilentlyContinue
}

$rows = foreach ($name in $cases.Keys) {
    [pscustomobject]@{ Case = $name; Events = $Count; Seconds = [math]::Round($best[$name], 3); PerSecond = [math]::Round($Count / $best[$name]) }
}
$rate = @{}
foreach ($r in $rows) { $rate[$r.Case] = $r.PerSecond }
$rows | Format-Table -AutoSize | Out-String -Width 120 | Write-Output
"best of $Rounds interleaved rounds each"
'ratio Publish-ModuleEvent -> handler vs New-Event + Register-EngineEvent -Action (>= 1.0): {0:0.00}' -f ($rate['Publish-ModuleEvent -> handler'] / $rate['New-Event + Register-EngineEvent -Action'])
'ratio with history file vs without, publish -> handler:                                    {0:0.00}' -f ($rate['Publish-ModuleEvent -> handler, history file'] / $rate['Publish-ModuleEvent -> handler'])
'ratio with history file vs without, publishing alone:                                      {0:0.00}' -f ($rate['Publish-ModuleEvent alone, history file'] / $rate['Publish-ModuleEvent alone'])
