# Security from PowerShell: settings, tokens, and the check on publishing and subscribing.
# Every test leaves security disabled and no token behind, so other suites are unaffected.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')

    function Reset-Security {
        Disable-CommunicationSecurity
        Set-CommunicationConfiguration -Security @{ RequireAuthentication = $false; DefaultTokenExpiration = 60; AllowedModules = @(); Enabled = $false }
        Revoke-AuthenticationToken -All -Force
    }

    # Everything PowerShell can show about an object, as text.
    function Show-All($InputObject) {
        ($InputObject | Format-List * -Force | Out-String) + ($InputObject | ConvertTo-Json -Depth 5 -WarningAction SilentlyContinue)
    }
}

AfterAll { Reset-Security }

Describe 'Enable-CommunicationSecurity and Disable-CommunicationSecurity' {
    BeforeEach { Reset-Security }

    It 'turns security on with the spec''s settings and shows them with -PassThru' {
        $s = Enable-CommunicationSecurity -RequireAuthentication -DefaultTokenExpiration 60 -AllowedModules @('LabRunner', 'BackupManager') -PassThru
        $s | Should -BeOfType ([ModuleCommunication.CommunicationSecurity])
        $s.Enabled | Should -BeTrue
        $s.RequireAuthentication | Should -BeTrue
        $s.DefaultTokenExpiration | Should -Be 60
        $s.AllowedModules | Should -Be @('LabRunner', 'BackupManager')
        (Get-CommunicationConfiguration).Security.Enabled | Should -BeTrue
    }

    It 'keeps settings and tokens when disabled' {
        Enable-CommunicationSecurity -RequireAuthentication -AllowedModules 'LabRunner'
        New-AuthenticationToken -ModuleName LabRunner -Scopes api:call | Out-Null
        $s = Disable-CommunicationSecurity -PassThru
        $s.Enabled | Should -BeFalse
        $s.RequireAuthentication | Should -BeTrue
        $s.ActiveTokens | Should -Be 1
    }

    It 'changes nothing with -WhatIf' {
        Enable-CommunicationSecurity -RequireAuthentication -WhatIf
        (Get-CommunicationConfiguration).Security.Enabled | Should -BeFalse
    }

    It 'rejects a bad allowed-module pattern, naming it, and changes nothing' {
        { Enable-CommunicationSecurity -AllowedModules '[oops' -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidArgument,ModuleCommunication.Commands.EnableCommunicationSecurityCommand'
        (Get-CommunicationConfiguration).Security.Enabled | Should -BeFalse
    }
}

Describe 'New-AuthenticationToken' {
    BeforeEach { Reset-Security }

    It 'returns the token once, with its id, expiry and scopes (the spec''s example)' {
        $token = New-AuthenticationToken -ModuleName "LabRunner" -User "SystemAccount" -Scopes @('api:call', 'events:publish') -ExpirationMinutes 120
        $token | Should -BeOfType ([ModuleCommunication.AuthenticationToken])
        $token.Token | Should -Match '^mct_[A-Za-z0-9_-]{43}$'
        $token.TokenId | Should -BeOfType ([guid])
        $token.ModuleName | Should -Be 'LabRunner'
        $token.User | Should -Be 'SystemAccount'
        $token.Scopes | Should -Be @('api:call', 'events:publish')
        ($token.ExpiresAt - $token.CreatedAt).TotalMinutes | Should -Be 120
        "$token" | Should -Not -Match 'mct_'
    }

    It 'reports an id no live token has as TokenNotFound, instead of listing nothing' {
        $token = New-AuthenticationToken -ModuleName 'LabRunner' -Scopes 'api:call'
        "$(Get-AuthenticationTokens -TokenId $token.TokenId)" | Should -Be "AuthenticationToken $($token.TokenId) (LabRunner)"
        Revoke-AuthenticationToken -TokenId $token.TokenId -Force | Out-Null
        { Get-AuthenticationTokens -TokenId $token.TokenId -ErrorAction Stop } |
            Should -Throw -ErrorId 'TokenNotFound,ModuleCommunication.Commands.GetAuthenticationTokensCommand'
    }

    It 'creates no token with -WhatIf' {
        New-AuthenticationToken -ModuleName 'LabRunner' -Scopes 'api:call' -WhatIf | Should -BeNullOrEmpty
        @(Get-AuthenticationTokens).Count | Should -Be 0
    }

    It 'takes the default lifetime from the settings' {
        Set-CommunicationConfiguration -Security @{ DefaultTokenExpiration = 15 }
        $t = New-AuthenticationToken -ModuleName M -Scopes messages:publish
        ($t.ExpiresAt - $t.CreatedAt).TotalMinutes | Should -Be 15
    }

    It 'refuses an unknown scope with InvalidArgument and creates nothing' {
        { New-AuthenticationToken -ModuleName M -Scopes 'api:invoke' -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidArgument,ModuleCommunication.Commands.NewAuthenticationTokenCommand'
        Get-AuthenticationTokens | Should -BeNullOrEmpty
    }

    It 'refuses a scope with a control character or an overlong pattern, naming it, as it does a module name' {
        foreach ($scope in "api:call:a`0b", "api:call:a`nb", "events:publish:x`ty", ('api:call:' + ('x' * 100000))) {
            $err = $null
            New-AuthenticationToken -ModuleName M -Scopes $scope -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'InvalidArgument,ModuleCommunication.Commands.NewAuthenticationTokenCommand'
            $err[0].Exception.Message | Should -BeLike "*invalid scope '$($scope.Substring(0, 10))*"
            $err[0].Exception.Message.Length | Should -BeLessThan 1000
        }
        Get-AuthenticationTokens | Should -BeNullOrEmpty
    }

    It 'refuses a module outside the allowed modules with ModuleNotAllowed' {
        Enable-CommunicationSecurity -AllowedModules 'LabRunner'
        $err = $null
        New-AuthenticationToken -ModuleName Intruder -Scopes api:call -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'ModuleNotAllowed,ModuleCommunication.Commands.NewAuthenticationTokenCommand'
        $err[0].CategoryInfo.Category | Should -Be 'PermissionDenied'
    }
}

Describe 'Get-AuthenticationTokens and Revoke-AuthenticationToken' {
    BeforeEach {
        Reset-Security
        $script:a = New-AuthenticationToken -ModuleName LabRunner -Scopes api:call
        $script:b = New-AuthenticationToken -ModuleName LabRunner -Scopes events:publish
        $script:c = New-AuthenticationToken -ModuleName BackupManager -Scopes api:call
    }

    It 'lists metadata and never the secret' {
        $list = Get-AuthenticationTokens
        $list.Count | Should -Be 3
        $list | ForEach-Object { $_ | Should -BeOfType ([ModuleCommunication.AuthenticationTokenInfo]) }
        $list[0].PSObject.Properties.Name | Should -Not -Contain 'Token'
        $text = Show-All $list
        foreach ($t in $a, $b, $c) { $text | Should -Not -Match ([regex]::Escape($t.Token.Substring(4))) }
        (Get-AuthenticationTokens -ModuleName 'lab*').Count | Should -Be 2
        (Get-AuthenticationTokens -TokenId $c.TokenId).ModuleName | Should -Be 'BackupManager'
    }

    It 'reads well in a console: at 80 columns expiry, uses and last use show' {
        $text = Get-AuthenticationTokens -TokenId $c.TokenId | Out-String -Width 80
        $text | Should -Match 'Id\s+Module\s+User\s+Expires\s+Uses\s+LastUsed\s+Scopes'
        $text | Should -Match ([regex]::Escape($c.ExpiresAt.ToString('MM-dd HH:mm')) + '\s+0\s+never\s+api:call')
    }

    It 'revokes by module (the spec''s example)' {
        Revoke-AuthenticationToken -ModuleName "LabRunner" -Force
        (Get-AuthenticationTokens).TokenId | Should -Be @($c.TokenId)
    }

    It 'revokes by id from the pipeline and passes the revoked tokens through' {
        $revoked = Get-AuthenticationTokens -ModuleName BackupManager | Revoke-AuthenticationToken -Force -PassThru
        $revoked.TokenId | Should -Be $c.TokenId
        (Get-AuthenticationTokens).Count | Should -Be 2
    }

    It 'reports a plain module name without tokens as TokenNotFound, and not a pattern (<Call>)' -ForEach @(
        @{ Call = 'Get'; Command = 'GetAuthenticationTokensCommand'; Run = { param($m) Get-AuthenticationTokens -ModuleName $m -ErrorVariable script:err -ErrorAction SilentlyContinue } }
        @{ Call = 'Revoke'; Command = 'RevokeAuthenticationTokenCommand'; Run = { param($m) Revoke-AuthenticationToken -ModuleName $m -Force -ErrorVariable script:err -ErrorAction SilentlyContinue } }
    ) {
        $script:err = $null
        & $Run 'Nobody' | Should -BeNullOrEmpty
        $script:err[0].FullyQualifiedErrorId | Should -Be "TokenNotFound,ModuleCommunication.Commands.$Command"
        $script:err[0].TargetObject | Should -Be 'Nobody'
        & $Run 'Nobody*' | Should -BeNullOrEmpty
        $script:err | Should -BeNullOrEmpty
        (Get-AuthenticationTokens).Count | Should -Be 3
    }

    It 'reports an unknown id as TokenNotFound and goes on' {
        $err = $null
        Revoke-AuthenticationToken -TokenId ([guid]::NewGuid()), $a.TokenId -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'TokenNotFound,ModuleCommunication.Commands.RevokeAuthenticationTokenCommand'
        (Get-AuthenticationTokens).Count | Should -Be 2
    }

    It 'revokes nothing with -WhatIf and everything with -All' {
        Revoke-AuthenticationToken -All -WhatIf
        (Get-AuthenticationTokens).Count | Should -Be 3
        Revoke-AuthenticationToken -All -Force
        Get-AuthenticationTokens | Should -BeNullOrEmpty
    }
}

Describe 'The security check on publishing and subscribing' {
    BeforeAll {
        Reset-Bus
        Reset-Security
        New-MessageChannel -Name Configuration | Out-Null
        Enable-CommunicationSecurity -RequireAuthentication -AllowedModules @('ConfigurationCore', 'LabRunner')
        $script:pub = New-AuthenticationToken -ModuleName ConfigurationCore -Scopes @('messages:publish', 'events:publish')
        $script:sub = New-AuthenticationToken -ModuleName LabRunner -Scopes @('messages:subscribe:Config*', 'events:subscribe:LabStep*')
        $script:revoked = New-AuthenticationToken -ModuleName ConfigurationCore -Scopes messages:publish
        Revoke-AuthenticationToken -TokenId $revoked.TokenId -Force
    }
    AfterAll {
        Reset-Security
        Reset-Bus
    }

    It 'refuses a publish without a token with AuthenticationFailed' {
        { Publish-ModuleMessage -Channel Configuration -MessageType Changed -Data 1 -ErrorAction Stop } |
            Should -Throw -ErrorId 'AuthenticationFailed,ModuleCommunication.Commands.PublishModuleMessageCommand'
    }

    It 'gives a revoked and an unknown token the same error' {
        $e1 = $e2 = $null
        Publish-ModuleMessage -Channel Configuration -MessageType Changed -AuthenticationToken $revoked.Token -ErrorVariable e1 -ErrorAction SilentlyContinue
        Publish-ModuleMessage -Channel Configuration -MessageType Changed -AuthenticationToken 'mct_made-up' -ErrorVariable e2 -ErrorAction SilentlyContinue
        $e1[0].FullyQualifiedErrorId | Should -Be 'AuthenticationFailed,ModuleCommunication.Commands.PublishModuleMessageCommand'
        $e1[0].CategoryInfo.Category | Should -Be 'AuthenticationError'
        $e1[0].Exception.Message | Should -Be $e2[0].Exception.Message
        $e1[0].Exception.Message | Should -Not -Match ([regex]::Escape($revoked.Token.Substring(4)))
    }

    It 'refuses another module''s token and a token without the scope with AuthorizationFailed' {
        { Publish-ModuleMessage -Channel Configuration -MessageType Changed -SourceModule LabRunner -AuthenticationToken $pub.Token -ErrorAction Stop } |
            Should -Throw -ErrorId 'AuthorizationFailed,ModuleCommunication.Commands.PublishModuleMessageCommand'
        { Publish-ModuleMessage -Channel Configuration -MessageType Changed -AuthenticationToken $sub.Token -ErrorAction Stop } |
            Should -Throw -ErrorId 'AuthorizationFailed,ModuleCommunication.Commands.PublishModuleMessageCommand'
    }

    It 'delivers with valid tokens, and the token never reaches the handler' {
        { Subscribe-ModuleMessage -Channel Configuration -Handler { } -ErrorAction Stop } |
            Should -Throw -ErrorId 'AuthenticationFailed,ModuleCommunication.Commands.RegisterModuleMessageHandlerCommand'
        { Subscribe-ModuleMessage -Channel '*' -Handler { } -AuthenticationToken $sub.Token -ErrorAction Stop } |
            Should -Throw -ErrorId 'AuthorizationFailed,ModuleCommunication.Commands.RegisterModuleMessageHandlerCommand'
        $script:seen = $null
        $s = Subscribe-ModuleMessage -Channel Configuration -AuthenticationToken $sub.Token -Handler { param($Message) $script:seen = $Message }
        $id = Publish-ModuleMessage -Channel Configuration -MessageType Changed -Data @{ MaxJobs = 10 } -SourceModule ConfigurationCore -AuthenticationToken $pub.Token
        $id | Wait-ModuleMessage
        $seen.Data.MaxJobs | Should -Be 10
        Show-All $seen | Should -Not -Match ([regex]::Escape($pub.Token.Substring(4)))
        Show-All (Get-MessageSubscriptions) | Should -Not -Match ([regex]::Escape($sub.Token.Substring(4)))
        $s | Unsubscribe-ModuleMessage | Out-Null
    }

    It 'guards events the same way' {
        { Publish-ModuleEvent -EventName LabStepStarted -ErrorAction Stop } |
            Should -Throw -ErrorId 'AuthenticationFailed,ModuleCommunication.Commands.PublishModuleEventCommand'
        { Subscribe-ModuleEvent -EventName 'Lab*' -Handler { } -AuthenticationToken $sub.Token -ErrorAction Stop } |
            Should -Throw -ErrorId 'AuthorizationFailed,ModuleCommunication.Commands.RegisterModuleEventHandlerCommand'
        $e = Subscribe-ModuleEvent -EventName 'LabStep*' -Handler { } -AuthenticationToken $sub.Token
        Publish-ModuleEvent -EventName LabStepStarted -EventData @{ StepName = 'Deploy' } -AuthenticationToken $pub.Token | Wait-ModuleMessage
        Show-All (Get-ModuleEvents -EventName LabStepStarted) | Should -Not -Match ([regex]::Escape($pub.Token.Substring(4)))
        $e | Unsubscribe-ModuleEvent | Out-Null
    }

    It 'counts each refusal and each use once' {
        $before = Enable-CommunicationSecurity -PassThru
        $usesBefore = (Get-AuthenticationTokens -TokenId $pub.TokenId).Uses
        Publish-ModuleMessage -Channel Configuration -MessageType Changed -ErrorAction SilentlyContinue
        Publish-ModuleMessage -Channel Configuration -MessageType Changed -AuthenticationToken $sub.Token -ErrorAction SilentlyContinue
        Publish-ModuleMessage -Channel Configuration -MessageType Changed -AuthenticationToken $pub.Token | Out-Null
        $after = Enable-CommunicationSecurity -PassThru
        $after.AuthenticationFailures - $before.AuthenticationFailures | Should -Be 1
        $after.AuthorizationFailures - $before.AuthorizationFailures | Should -Be 1
        (Get-AuthenticationTokens -TokenId $pub.TokenId).Uses - $usesBefore | Should -Be 1
    }
}

Describe 'Health checks and self-tests while security requires tokens' {
    BeforeEach {
        Reset-Security
        Reset-Bus
        Reset-CommunicationMetrics -Force
        Enable-CommunicationSecurity -RequireAuthentication
    }
    AfterEach { Reset-Security; Reset-Bus }

    It 'keeps the spec''s health check Healthy, counting no authentication failure' {
        $status = Get-CommunicationStatus -CheckHealth
        $status.HealthChecks.MessagingTest.Success | Should -BeTrue
        $status.OverallHealth | Should -Be 'Healthy'
        (Get-CommunicationMetrics).Security.AuthFailures | Should -Be 0
    }

    It 'refuses the private channels'' names to every cmdlet, so they are no side channel around the check' {
        $name = '__ModuleCommunication.Side'
        $id = ',ModuleCommunication.Commands.'
        { New-MessageChannel -Name $name -ErrorAction Stop } | Should -Throw -ErrorId "ReservedChannelName$($id)NewMessageChannelCommand"
        { Publish-ModuleMessage -Channel $name -MessageType T -ErrorAction Stop } | Should -Throw -ErrorId "ReservedChannelName$($id)PublishModuleMessageCommand"
        { Subscribe-ModuleMessage -Channel '__modulecommunication.*' -Handler { } } | Should -Throw -ErrorId "ReservedChannelName$($id)RegisterModuleMessageHandlerCommand"
        { Publish-ModuleEvent -EventName E -Channel '__ModuleCommunication.Health' -ErrorAction Stop } | Should -Throw -ErrorId "ReservedChannelName$($id)PublishModuleEventCommand"
        { Subscribe-ModuleEvent -Channel $name -Handler { } } | Should -Throw -ErrorId "ReservedChannelName$($id)RegisterModuleEventHandlerCommand"
        # Escaped, a pattern is the literal name.
        { Subscribe-ModuleEvent -Channel '`__ModuleCommunication.SelfTest.Events' -Handler { } } | Should -Throw -ErrorId "ReservedChannelName$($id)RegisterModuleEventHandlerCommand"
        { Subscribe-ModuleMessage -Channel '_`_ModuleCommunication.X' -Handler { } } | Should -Throw -ErrorId "ReservedChannelName$($id)RegisterModuleMessageHandlerCommand"
        $err = { New-MessageChannel -Name $name -ErrorAction Stop } | Should -Throw -PassThru
        $err.Exception.Message | Should -BeLike "*'$name' is reserved*self-tests*"
        @(Get-MessageSubscriptions).Count | Should -Be 0
        (Get-CommunicationStatus -CheckHealth).HealthChecks.MessagingTest.Success | Should -BeTrue -Because 'the module itself still uses them'
    }

    It 'runs Test-ModuleCommunication on its private channels' {
        (Test-ModuleCommunication -TestType Basic).PassRate | Should -Be 100
        (Get-CommunicationMetrics).Security.AuthFailures | Should -Be 0
    }

    It 'tests a user''s channel with the token given, and says what is missing without one' {
        New-MessageChannel -Name 'Configuration' | Out-Null
        $without = Test-MessageChannel -Name 'Configuration' -Timeout 10
        $without.Success | Should -BeFalse
        $without.Errors[0] | Should -BeLike 'AuthenticationFailed:*New-AuthenticationToken*'
        $token = New-AuthenticationToken -ModuleName 'Ops' -Scopes 'messages:publish', 'messages:subscribe'
        (Test-MessageChannel -Name 'Configuration' -Timeout 10 -AuthenticationToken $token.Token).Success | Should -BeTrue
    }
}

Describe 'Set-CommunicationConfiguration with the spec''s nested sections' {
    AfterEach {
        Set-CommunicationConfiguration -RetryPolicy @{ MaxRetries = 3; RetryDelay = 1000; BackoffMultiplier = 2; MaxDelay = 30000; Jitter = $true } `
            -CircuitBreaker @{ FailureThreshold = 5; FailureRatio = 0.5; SamplingDuration = 30; RecoveryTimeout = 60; HalfOpenProbes = 1 } -MaxEventHistory 1000 -MaxMessageQueueSize 10000 -ProcessorInterval 100
        Reset-Security
    }

    It 'applies the enhanced configuration of the migration guide, as written' {
        $script:Configuration = @{
            MaxEventHistory = 2000           # Increased from 1000
            MaxMessageQueueSize = 20000      # Increased from 10000
            ProcessorInterval = 50           # Reduced for better performance
            EnableTracing = $false
            RetryPolicy = @{
                MaxRetries = 5               # Increased retry attempts
                RetryDelay = 500             # Reduced initial delay
                BackoffMultiplier = 1.5      # Gentler backoff
            }
            CircuitBreaker = @{
                FailureThreshold = 10        # More tolerant
                RecoveryTimeout = 30         # Faster recovery
            }
            Security = @{
                DefaultTokenExpiration = 120  # 2 hours
                RequireAuthentication = $false
                AllowedModules = @()
            }
        }
        Set-CommunicationConfiguration -Settings $script:Configuration
        $c = Get-CommunicationConfiguration
        $c.ProcessorInterval | Should -Be 50
        $c.EnableTracing | Should -BeFalse
        $c.MaxEventHistory | Should -Be 2000
        $c.RetryPolicy.MaxRetries | Should -Be 5
        $c.RetryPolicy.RetryDelay | Should -Be 500
        $c.RetryPolicy.BackoffMultiplier | Should -Be 1.5
        $c.CircuitBreaker.FailureThreshold | Should -Be 10
        $c.CircuitBreaker.RecoveryTimeout | Should -Be ([timespan]::FromSeconds(30))
        $c.Security.DefaultTokenExpiration | Should -Be 120
    }

    It 'takes sections as parameters too' {
        Set-CommunicationConfiguration -RetryPolicy @{ MaxDelay = 2500; Jitter = $false }
        (Get-CommunicationConfiguration).RetryPolicy.MaxDelay | Should -Be 2500
        (Get-CommunicationConfiguration).RetryPolicy.Jitter | Should -BeFalse
    }

    It 'rejects a bad value in any section and changes nothing' {
        { Set-CommunicationConfiguration -Settings @{ MaxEventHistory = 7; RetryPolicy = @{ MaxRetries = 1000 } } -ErrorAction Stop } |
            Should -Throw -ExpectedMessage "RetryPolicy.MaxRetries must be a whole number from 0 to 100; got '1000'." -ErrorId 'InvalidConfigurationValue,ModuleCommunication.Commands.SetCommunicationConfigurationCommand'
        { Set-CommunicationConfiguration -Settings @{ CircuitBreaker = @{ Threshold = 3 } } -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidConfigurationValue,ModuleCommunication.Commands.SetCommunicationConfigurationCommand'
        { Set-CommunicationConfiguration -Settings @{ RetryPolicy = 'fast' } -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidConfigurationValue,ModuleCommunication.Commands.SetCommunicationConfigurationCommand'
        { Set-CommunicationConfiguration -RetryPolicy @{ MaxRetries = 'many' } -ErrorAction Stop } |
            Should -Throw '*RetryPolicy.MaxRetries must be a whole number*'
        (Get-CommunicationConfiguration).MaxEventHistory | Should -Be 1000
        (Get-CommunicationConfiguration).RetryPolicy.MaxRetries | Should -Be 3
    }
}
