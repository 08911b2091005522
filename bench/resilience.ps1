# Resilience and security benchmark: Invoke-ModuleAPI with the security, circuit breaker and
# retry stages all on against all off, in the same run, printed as a ratio.
#
#   dotnet tool run pwsh -- -NoProfile -File bench/resilience.ps1 [-Count 20000] [-Rounds 3]
#
# "All on": security enabled with RequireAuthentication and a token with a pattern scope, the
# circuit breaker on (the default), 3 retries allowed (none needed). "All off": security
# disabled, -EnableCircuitBreaker:$false, -RetryAttempts 0. The handler is trivial, so the
# difference is the stages' whole cost as PowerShell sees it. Best round of each case counts.
param(
    [int] $Count = 20000,
    [int] $Rounds = 5,
    [string] $ModulePath = $(if ($env:MC_MODULE_PSD1) { $env:MC_MODULE_PSD1 } else { Join-Path $PSScriptRoot '../artifacts/module/ModuleCommunication/ModuleCommunication.psd1' })
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force

Register-ModuleAPI -ModuleName Bench -APIName Echo -Handler { param($X) $X } -Parameters @{ X = @{ Type = 'int'; Required = $true } } -Force | Out-Null
$params = @{ X = 1 }
$token = (New-AuthenticationToken -ModuleName Bench -Scopes 'api:call:Bench.*').Token

$off = { for ($i = 0; $i -lt $Count; $i++) { $null = Invoke-ModuleAPI -Module Bench -Operation Echo -Parameters $params -EnableCircuitBreaker:$false -RetryAttempts 0 } }
$on = { for ($i = 0; $i -lt $Count; $i++) { $null = Invoke-ModuleAPI -Module Bench -Operation Echo -Parameters $params -RetryAttempts 3 -AuthenticationToken $token } }
$cases = [ordered]@{
    'all stages off' = @{ Body = $off; Secure = $false }
    'all stages on' = @{ Body = $on; Secure = $true }
}

function Set-Security([bool] $On) {
    if ($On) { Enable-CommunicationSecurity -RequireAuthentication -AllowedModules 'Bench' } else { Disable-CommunicationSecurity }
}

# Warm up both paths and check that the stages really run when on.
foreach ($c in $cases.Values) { Set-Security $c.Secure; $saved = $Count; $Count = [math]::Min(3000, $saved); & $c.Body; & $c.Body; $Count = $saved }
Set-Security $true
try { Invoke-ModuleAPI -Module Bench -Operation Echo -Parameters $params; throw 'security is not on' } catch { if ($_.FullyQualifiedErrorId -notlike 'AuthenticationFailed,*') { throw } }

$best = @{}
for ($round = 0; $round -lt $Rounds; $round++) {
    foreach ($name in $cases.Keys) {
        Set-Security $cases[$name].Secure
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        & $cases[$name].Body
        $watch.Stop()
        if (-not $best.ContainsKey($name) -or $watch.Elapsed -lt $best[$name]) { $best[$name] = $watch.Elapsed }
    }
}
Disable-CommunicationSecurity

$names = @($cases.Keys)
$offUs = $best[$names[0]].TotalMilliseconds * 1000 / $Count
$rows = foreach ($name in $names) {
    $us = $best[$name].TotalMilliseconds * 1000 / $Count
    [pscustomobject]@{
        Case      = $name
        Calls     = $Count
        PerSecond = [long]($Count / $best[$name].TotalSeconds)
        UsPerCall = [math]::Round($us, 2)
        ExtraUs   = [math]::Round($us - $offUs, 2)
    }
}
$rows | Format-Table -AutoSize | Out-Host
$onUs = $best[$names[1]].TotalMilliseconds * 1000 / $Count
'ratio (all stages on / all off, time per call): {0:N3}' -f ($onUs / $offUs)
$cb = (Get-CircuitBreakerStatus -OperationName Bench.Echo).CircuitBreakers['Bench.Echo']
if ($cb.TotalFailures -ne 0 -or (Get-ModuleAPIs -ModuleName Bench).RetryCount -ne 0) { throw 'a benchmark call failed or retried' }
