@{
    RootModule           = 'ModuleCommunication.dll'
    ModuleVersion        = '2.0.0'
    GUID                 = 'e0f4871d-4238-414a-af13-bf0860629ace'
    Author               = 'ModuleCommunication contributors'
    Copyright            = '(c) ModuleCommunication contributors.'
    Description          = 'Message hub for PowerShell modules, backed by a Rust core library.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('ModuleCommunication.Format.ps1xml')

    # Explicit lists only (no wildcards): every exported cmdlet must have
    # powershell/help/<Verb-Noun>.md, or build/New-MamlHelp.ps1 fails.
    CmdletsToExport      = @(
        'New-MessageChannel'
        'Get-MessageChannels'
        'Remove-MessageChannel'
        'Publish-ModuleMessage'
        'Register-ModuleMessageHandler'
        'Unregister-ModuleMessageHandler'
        'Get-MessageSubscriptions'
        'Clear-MessageQueue'
        'Wait-ModuleMessage'
        'Start-MessageProcessor'
        'Stop-MessageProcessor'
        'Get-CommunicationConfiguration'
        'Set-CommunicationConfiguration'
        'Get-CommunicationMetrics'
        'Publish-ModuleEvent'
        'Register-ModuleEventHandler'
        'Unregister-ModuleEventHandler'
        'Get-ModuleEvents'
        'Clear-EventHistory'
        'Export-EventHistory'
        'Import-EventHistory'
        'Register-ModuleAPI'
        'Unregister-ModuleAPI'
        'Get-ModuleAPIs'
        'Invoke-ModuleAPI'
        'Test-ModuleAPI'
        'Add-APIMiddleware'
        'Get-APIMiddleware'
        'Remove-APIMiddleware'
        'Reset-CommunicationMetrics'
        'Get-CommunicationStatus'
        'Test-ModuleCommunication'
        'Test-MessageChannel'
        'Enable-MessageTracing'
        'Disable-MessageTracing'
        'Get-MessageTrace'
        'Enable-CommunicationSecurity'
        'Disable-CommunicationSecurity'
        'New-AuthenticationToken'
        'Revoke-AuthenticationToken'
        'Get-AuthenticationTokens'
        'Get-CircuitBreakerStatus'
        'Reset-CircuitBreaker'
        'Set-CircuitBreaker'
    )
    AliasesToExport      = @(
        'Send-ModuleMessage'
        'Submit-ModuleMessage'
        'Subscribe-ModuleMessage'
        'Unsubscribe-ModuleMessage'
        'Send-ModuleEvent'
        'Submit-ModuleEvent'
        'Subscribe-ModuleEvent'
        'Unsubscribe-ModuleEvent'
    )

    FunctionsToExport    = @()
    VariablesToExport    = @()

    PrivateData          = @{
        PSData = @{
            Tags = @('IPC', 'Messaging', 'PubSub')
        }
    }
}
