# The main job of ModuleCommunication in one script: modules that do not import each
# other exchange messages through channels, with filters, priorities and counters.
# Run it with ./build/demo.sh, which builds the module first and sets MC_MODULE_PSD1.
$ErrorActionPreference = 'Stop'
$psd1 = if ($env:MC_MODULE_PSD1) { $env:MC_MODULE_PSD1 } else {
    Join-Path $PSScriptRoot '../artifacts/module/ModuleCommunication/ModuleCommunication.psd1'
}
Import-Module $psd1 -Force

function Show-Step([string] $Text) { Write-Host "`n== $Text" -ForegroundColor Cyan }

Show-Step 'Channels'
New-MessageChannel -Name 'Configuration' -Description 'Configuration updates' -MaxMessages 1000 | Out-Null
New-MessageChannel -Name 'LabEvents' -Description 'Lab automation progress' | Out-Null
Get-MessageChannels | Format-Table Name, Description, MaxMessages -AutoSize | Out-Host

Show-Step 'Subscribers: every config change, and a filtered one for the lab runner'
$received = [System.Collections.Generic.List[string]]::new()
$configSub = Subscribe-ModuleMessage -Channel 'Configuration' -MessageType 'ConfigChanged' -Handler {
    param($Message)
    $received.Add("$($Message.Priority): $($Message.Data.Module).$($Message.Data.Setting) = $($Message.Data.NewValue)")
}
$labOnly = Subscribe-ModuleMessage -Channel 'Configuration' -Handler {
    param($Message)
    $received.Add("  (LabRunner filter) $($Message.MessageType): $($Message.Data.Setting)")
} -Filter {
    param($Message)
    $Message.Data.Module -eq 'LabRunner'
}
Get-MessageSubscriptions | Format-Table SubscriptionId, Channel, MessageType, HasFilter -AutoSize | Out-Host

Show-Step 'Publishing four changes while delivery is paused, so priority order shows'
Stop-MessageProcessor | Out-Null
$ids = @(
    Publish-ModuleMessage -Channel 'Configuration' -MessageType 'ConfigChanged' -Priority Low -Data @{ Module = 'BackupTool'; Setting = 'Retention'; NewValue = 30 } -SourceModule 'ConfigurationCore'
    Publish-ModuleMessage -Channel 'Configuration' -MessageType 'ConfigChanged' -Priority Critical -Data @{ Module = 'LabRunner'; Setting = 'MaxJobs'; NewValue = 10 } -SourceModule 'ConfigurationCore'
    Publish-ModuleMessage -Channel 'Configuration' -MessageType 'ConfigChanged' -Data @{ Module = 'LabRunner'; Setting = 'LogLevel'; NewValue = 'Verbose' } -SourceModule 'ConfigurationCore'
    Publish-ModuleMessage -Channel 'Configuration' -MessageType 'ConfigChanged' -Priority High -Data @{ Module = 'BackupTool'; Setting = 'Target'; NewValue = '/srv/backup' } -SourceModule 'ConfigurationCore'
)
"Published $($ids.Count) messages; the first has id $($ids[0])" | Out-Host
Start-MessageProcessor | Out-Null
$ids | Wait-ModuleMessage -Timeout 10
$received | Out-Host

Show-Step 'A message that expires while delivery is paused is never delivered'
Stop-MessageProcessor | Out-Null
$expiring = Publish-ModuleMessage -Channel 'Configuration' -MessageType 'ConfigChanged' -Data @{ Module = 'Nobody' } -TimeToLive 0.05
Start-Sleep -Milliseconds 200
Start-MessageProcessor | Out-Null
$expiring | Wait-ModuleMessage -Timeout 10
"Expired on Configuration: $((Get-MessageChannels -Name 'Configuration').Expired) (one per subscription that held it)" | Out-Host

Show-Step 'Throughput: 10,000 messages to one handler'
$count = 0
$fast = Subscribe-ModuleMessage -Channel 'LabEvents' -Handler { $script:count++ }
$watch = [System.Diagnostics.Stopwatch]::StartNew()
for ($i = 0; $i -lt 10000; $i++) {
    $null = Publish-ModuleMessage -Channel 'LabEvents' -MessageType 'StepCompleted' -Data @{ Step = $i }
}
Wait-ModuleMessage -Timeout 60
$watch.Stop()
'{0:N0} messages handled in {1:0.00} s ({2:N0} per second, publish to handler)' -f $count, $watch.Elapsed.TotalSeconds, ($count / $watch.Elapsed.TotalSeconds) | Out-Host

Show-Step 'Metrics of the bus'
Get-CommunicationMetrics | Out-Host
# The default views fit an 80-column terminal, every counter included.
Get-MessageChannels | Out-Host
Get-MessageSubscriptions | Out-Host

$configSub, $labOnly, $fast | Unsubscribe-ModuleMessage | Out-Null
'Configuration', 'LabEvents' | Remove-MessageChannel -Force | Out-Null
