# PowerShell end-to-end benchmark of the message bus: Publish-ModuleMessage -> default
# handler, against (a) the same handler called directly and (b) New-Event +
# Register-EngineEvent -Action, PowerShell's own eventing. Cases run in rounds, interleaved,
# and each keeps its best round, so load from other processes skews the ratios less.
# Two more rows show where the time goes: publishing alone (a channel without subscribers) and
# PowerShell's own cost of running any compiled cmdlet with these parameters (a no-op cmdlet
# compiled here), the floor under both Publish-ModuleMessage and New-Event. One more
# measurement gives the ceiling of the ratio against New-Event: the handler invoked from C# in
# a loop, as the drain invokes it; publishing alone plus that invocation is the least any
# delivery design can cost while publishing goes through the core and handlers run as script
# blocks, so New-Event's time over that sum is the best ratio such a design could reach.
# Prints one row per case and the ratios; nothing here asserts a time.
param(
    [int] $Count = 20000,
    [int] $Rounds = 7,
    [string] $ModulePath = $(if ($env:MC_MODULE_PSD1) { $env:MC_MODULE_PSD1 } else { Join-Path $PSScriptRoot '../artifacts/module/ModuleCommunication/ModuleCommunication.psd1' })
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force

# The floor: a compiled cmdlet that does nothing but return a Guid, with Publish-ModuleMessage's
# three parameters. Every cmdlet call pays this much before its own work.
Add-Type -TypeDefinition @'
using System;
using System.Management.Automation;
[Cmdlet("Invoke", "BenchNoOp")]
public sealed class InvokeBenchNoOpCommand : PSCmdlet
{
    [Parameter(Mandatory = true)] public string Channel { get; set; }
    [Parameter(Mandatory = true)] public string MessageType { get; set; }
    [Parameter] public object Data { get; set; }
    protected override void ProcessRecord() => WriteObject(Guid.Empty);
}
public static class BenchHandlerInvocation
{
    // Seconds for count invocations the way the drain makes them (ScriptBlock.InvokeReturnAsIs).
    public static double Seconds(ScriptBlock handler, object message, int count)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < count; i++) handler.InvokeReturnAsIs(message);
        return watch.Elapsed.TotalSeconds;
    }
}
'@ -PassThru | Select-Object -First 1 | ForEach-Object { Import-Module $_.Assembly }

$message = [pscustomobject]@{ Channel = 'Bench'; MessageType = 'Tick'; Data = @{ Step = 1; Name = 'x' } }
$handler = { param($Message) $script:handled++ }

# One round of one case: seconds for $Count messages, checked to be all handled (cases
# without a handler set $script:handled themselves).
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
    'Publish-ModuleMessage, no subscriber' = {
        for ($i = 0; $i -lt $Count; $i++) {
            $null = Publish-ModuleMessage -Channel 'Bench.Nobody' -MessageType 'Tick' -Data @{ Step = $i; Name = 'x' }
        }
        $script:handled = $Count
    }
    'no-op cmdlet (PowerShell floor)' = {
        for ($i = 0; $i -lt $Count; $i++) {
            $null = Invoke-BenchNoOp -Channel 'Bench' -MessageType 'Tick' -Data @{ Step = $i; Name = 'x' }
        }
        $script:handled = $Count
    }
    'handler invoked from C# (no cmdlet)' = {
        $null = [BenchHandlerInvocation]::Seconds($handler, $message, $Count)
    }
}

New-MessageChannel -Name 'Bench' | Out-Null
New-MessageChannel -Name 'Bench.Nobody' | Out-Null
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
    'Bench', 'Bench.Nobody' | ForEach-Object { Remove-MessageChannel -Name $_ -Force | Out-Null }
}

$rate = @{}
$rows = foreach ($name in $cases.Keys) {
    $rate[$name] = $Count / $best[$name]
    [pscustomobject]@{ Case = $name; Messages = $Count; Seconds = [math]::Round($best[$name], 3); PerSecond = [math]::Round($rate[$name]) }
}
$rows | Format-Table -AutoSize | Out-String -Width 120
# Microseconds per message above the floor: what each path adds to the cost of any cmdlet call.
$floor = $best['no-op cmdlet (PowerShell floor)']
$above = { param($name) ($best[$name] - $floor) * 1e6 / $Count }
'per message above the cmdlet floor ({0:0.0} us): Publish-ModuleMessage -> handler {1:0.0} us (publishing {2:0.0} us); New-Event + action {3:0.0} us' -f ($floor * 1e6 / $Count), (& $above 'Publish-ModuleMessage -> handler'), (& $above 'Publish-ModuleMessage, no subscriber'), (& $above 'New-Event + Register-EngineEvent -Action')
"best of $Rounds interleaved rounds each"
$ours = $rate['Publish-ModuleMessage -> handler']
$engineEvents = $rate['New-Event + Register-EngineEvent -Action']
# The ceiling: publishing alone plus invoking the handler, with delivery itself free.
$ceiling = $best['New-Event + Register-EngineEvent -Action'] / ($best['Publish-ModuleMessage, no subscriber'] + $best['handler invoked from C# (no cmdlet)'])
'ratio vs direct call (target >= 0.3):              {0:0.00}' -f ($ours / $rate['direct: & $handler $msg'])
'ratio vs New-Event + Register-EngineEvent (>= 1.0): {0:0.00}' -f ($ours / $engineEvents)
'ceiling of that ratio (publishing alone + handler invocation, delivery free): {0:0.00}; ours reaches {1:0.00} of it' -f $ceiling, ($ours / $engineEvents / $ceiling)
