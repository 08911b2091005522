# PowerShell end-to-end benchmark: Publish-ModuleMessage -> default handler, against
# (a) the same handler called directly and (b) New-Event + Register-EngineEvent -Action.
# Prints one row per case and the ratios; the same run measures all three.
param(
    [int] $Count = 20000,
    [string] $ModulePath = $(if ($env:MC_MODULE_PSD1) { $env:MC_MODULE_PSD1 } else { Join-Path $PSScriptRoot '../artifacts/module/ModuleCommunication/ModuleCommunication.psd1' })
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force

$message = [pscustomobject]@{ Channel = 'Bench'; MessageType = 'Tick'; Data = @{ Step = 1; Name = 'x' } }
$handler = { param($Message) $script:handled++ }

function Measure-Rate([string] $Name, [scriptblock] $Body) {
    $script:handled = 0
    $watch = [System.Diagnostics.Stopwatch]::StartNew()
    & $Body
    $watch.Stop()
    if ($script:handled -ne $Count) { throw "$Name handled $($script:handled) of $Count" }
    [pscustomobject]@{ Case = $Name; Messages = $Count; Seconds = [math]::Round($watch.Elapsed.TotalSeconds, 3); PerSecond = [math]::Round($Count / $watch.Elapsed.TotalSeconds) }
}

# Warm up every path once so JIT and first-use costs are not measured.
New-MessageChannel -Name 'Bench' | Out-Null
$sub = Subscribe-ModuleMessage -Channel 'Bench' -Handler $handler
Publish-ModuleMessage -Channel 'Bench' -MessageType 'Tick' -Data @{ Step = 0 } | Wait-ModuleMessage
& $handler $message

$direct = Measure-Rate 'direct: & $handler $msg' {
    for ($i = 0; $i -lt $Count; $i++) { & $handler $message }
}

$module = Measure-Rate 'Publish-ModuleMessage -> handler' {
    for ($i = 0; $i -lt $Count; $i++) {
        $null = Publish-ModuleMessage -Channel 'Bench' -MessageType 'Tick' -Data @{ Step = $i; Name = 'x' }
    }
    Wait-ModuleMessage -Timeout 600
}
$sub | Unsubscribe-ModuleMessage | Out-Null

$engine = Register-EngineEvent -SourceIdentifier 'Bench.Engine' -Action { $global:engineHandled++ }
$global:engineHandled = 0
$engineRow = Measure-Rate 'New-Event + Register-EngineEvent -Action' {
    for ($i = 0; $i -lt $Count; $i++) {
        $null = New-Event -SourceIdentifier 'Bench.Engine' -MessageData @{ Step = $i; Name = 'x' }
    }
    # Actions run at checkpoints; this loop is one (bounded, so a lost event cannot hang it).
    $deadline = [datetime]::UtcNow.AddMinutes(10)
    while ($global:engineHandled -lt $Count -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 1 }
    $script:handled = $global:engineHandled
}
Unregister-Event -SourceIdentifier 'Bench.Engine'
Remove-Job $engine -Force
Remove-MessageChannel -Name 'Bench' -Force | Out-Null

$direct, $module, $engineRow | Format-Table -AutoSize | Out-String -Width 120 | Write-Output
'ratio vs direct call (target >= 0.3):              {0:0.00}' -f ($module.PerSecond / $direct.PerSecond)
'ratio vs New-Event + Register-EngineEvent (>= 1.0): {0:0.00}' -f ($module.PerSecond / $engineRow.PerSecond)
