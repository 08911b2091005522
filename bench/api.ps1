# API registry benchmark: Invoke-ModuleAPI of a trivial handler with 0 and with 2 ScriptBlock
# middleware, against calling the same handler directly in PowerShell, in the same run.
# Prints one row per case, the per-call time and overhead in microseconds, and the ratios.
#
#   dotnet tool run pwsh -- -NoProfile -File bench/api.ps1 [-Count 20000] [-Rounds 3]
#
# The handler declares one int parameter (validated by the native core on every call). Each
# round runs every case once; the best round of each case is reported, since load from other
# processes only slows a run down.
param(
    [int] $Count = 20000,
    [int] $Rounds = 3,
    [string] $ModulePath = $(if ($env:MC_MODULE_PSD1) { $env:MC_MODULE_PSD1 } else { Join-Path $PSScriptRoot '../artifacts/module/ModuleCommunication/ModuleCommunication.psd1' })
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force

$handler = { param($X) $X }
Register-ModuleAPI -ModuleName Bench -APIName Echo -Handler $handler -Parameters @{ X = @{ Type = 'int'; Required = $true } } -Force | Out-Null
Register-ModuleAPI -ModuleName Bench -APIName EchoMw -Handler $handler -Parameters @{ X = @{ Type = 'int'; Required = $true } } -Force -Middleware {
    param($Context, $Next) & $Next $Context
}, {
    param($Context, $Next) & $Next $Context
} | Out-Null
$params = @{ X = 1 }

$cases = [ordered]@{
    'direct: & $handler -X 1'                 = { for ($i = 0; $i -lt $Count; $i++) { $null = & $handler -X 1 } }
    'Invoke-ModuleAPI, 0 middleware'          = { for ($i = 0; $i -lt $Count; $i++) { $null = Invoke-ModuleAPI -Module Bench -Operation Echo -Parameters $params } }
    'Invoke-ModuleAPI, 2 ScriptBlock middleware' = { for ($i = 0; $i -lt $Count; $i++) { $null = Invoke-ModuleAPI -Module Bench -Operation EchoMw -Parameters $params } }
}

# Warm up every path (JIT, first-use costs), and check the results.
if ((& $handler -X 1) -ne 1 -or (Invoke-ModuleAPI Bench Echo $params) -ne 1 -or (Invoke-ModuleAPI Bench EchoMw $params) -ne 1) {
    throw 'A case does not return the handler''s result.'
}
foreach ($body in $cases.Values) { $saved = $Count; $Count = 200; & $body; $Count = $saved }

$best = @{}
for ($round = 0; $round -lt $Rounds; $round++) {
    foreach ($name in $cases.Keys) {
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        & $cases[$name]
        $watch.Stop()
        if (-not $best.ContainsKey($name) -or $watch.Elapsed -lt $best[$name]) { $best[$name] = $watch.Elapsed }
    }
}

$directUs = $best['direct: & $handler -X 1'].TotalMilliseconds * 1000 / $Count
$rows = foreach ($name in $cases.Keys) {
    $us = $best[$name].TotalMilliseconds * 1000 / $Count
    [pscustomobject]@{
        Case       = $name
        Calls      = $Count
        PerSecond  = [long]($Count / $best[$name].TotalSeconds)
        UsPerCall  = [math]::Round($us, 2)
        OverheadUs = [math]::Round($us - $directUs, 2)
    }
}
$rows | Format-Table -AutoSize | Out-Host
$zero = $rows[1]
$two = $rows[2]
'ratio Invoke-ModuleAPI (0 middleware) / direct call:  {0:0.00} (calls per second)' -f ($zero.PerSecond / $rows[0].PerSecond)
'ratio Invoke-ModuleAPI (2 middleware) / direct call:  {0:0.00} (calls per second)' -f ($two.PerSecond / $rows[0].PerSecond)
'overhead per call: {0:0.0} us with 0 middleware, {1:0.0} us with 2 (about {2:0.0} us per ScriptBlock middleware)' -f `
    $zero.OverheadUs, $two.OverheadUs, (($two.OverheadUs - $zero.OverheadUs) / 2)

Unregister-ModuleAPI Bench Echo -Force | Out-Null
Unregister-ModuleAPI Bench EchoMw -Force | Out-Null
