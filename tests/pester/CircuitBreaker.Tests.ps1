# Circuit breakers from PowerShell: status as a dictionary, isolate, reset, options.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    function Clear-Breakers {
        Reset-CircuitBreaker -All -Force
        (Get-CircuitBreakerStatus).CircuitBreakers.Keys | ForEach-Object { Set-CircuitBreaker -OperationName $_ -UseDefaults }
    }
}

AfterAll { Clear-Breakers }

Describe 'Get-CircuitBreakerStatus' {
    BeforeAll {
        Clear-Breakers
        Set-CircuitBreaker -OperationName 'ExternalService.ProcessData' -Isolate
        Set-CircuitBreaker -OperationName 'LabRunner.ExecuteStep' -FailureThreshold 20
    }

    It 'returns the breakers as a dictionary keyed by operation, as the spec reads it' {
        $cbStatus = Get-CircuitBreakerStatus
        $cbStatus | Should -BeOfType ([ModuleCommunication.CircuitBreakerStatus])
        $lines = foreach ($operation in $cbStatus.CircuitBreakers.Keys) {
            $cb = $cbStatus.CircuitBreakers[$operation]
            "$operation : $($cb.State) (Success Rate: $($cb.SuccessRate)%)"
        }
        $lines | Should -Contain 'ExternalService.ProcessData : Isolated (Success Rate: 100%)'
        $lines | Should -Contain 'LabRunner.ExecuteStep : Closed (Success Rate: 100%)'
        $cbStatus.CircuitBreakers['externalservice.processdata'].State | Should -Be 'Isolated'
        $cbStatus.OpenBreakers | Should -Be 1
        $cbStatus.DefaultOptions.FailureThreshold | Should -Be 5
        $cbStatus.RetryPolicy.MaxRetries | Should -Be 3
    }

    It 'filters by wildcard and shows per-operation options' {
        $s = Get-CircuitBreakerStatus -OperationName 'Lab*'
        $s.CircuitBreakers.Keys | Should -Be @('LabRunner.ExecuteStep')
        $b = $s.CircuitBreakers['LabRunner.ExecuteStep']
        $b.CustomOptions | Should -BeTrue
        $b.Options.FailureThreshold | Should -Be 20
        $b.Options.RecoveryTimeout | Should -Be ([timespan]::FromSeconds(60))
    }

    It 'formats without errors' {
        { Get-CircuitBreakerStatus | Out-String; (Get-CircuitBreakerStatus).CircuitBreakers.Values | Out-String } | Should -Not -Throw
    }

    It 'reads well in a console: values, not type names, and the last error within 80 columns' {
        Register-ModuleAPI -ModuleName 'Ext' -APIName 'Down' -Handler { throw 'HTTP 500' } -Force | Out-Null
        try {
            { Invoke-ModuleAPI -Module 'Ext' -Operation 'Down' -RetryAttempts 0 } | Should -Throw
            $status = Get-CircuitBreakerStatus
            $text = $status.CircuitBreakers | Out-String -Width 80
            $text | Should -Match 'LabRunner.ExecuteStep\s+Closed, 0 calls, 100 %'
            $text | Should -Match 'Ext.Down\s+Closed, 1 calls, 0 %'
            $text | Should -Not -Match 'ModuleCommunication\.'
            $table = $status.CircuitBreakers.Values | Out-String -Width 80
            $table | Should -Match 'Operation\s+State\s+Calls\s+Success%\s+Rejected\s+LastError'
            # The operation has its own column, so the error starts with what went wrong.
            $table | Should -Match 'Ext.Down\s+Closed\s+1\s+0\s+0 HTTP 500'
        }
        finally { Unregister-ModuleAPI -ModuleName 'Ext' -APIName 'Down' -Force | Out-Null }
    }
}

Describe 'Calls the caller stops' {
    BeforeEach { Clear-Breakers; Reset-Registry }
    AfterAll { Reset-Registry }

    It 'are not failures of the API: five stopped calls leave its breaker closed' {
        Register-ModuleAPI -ModuleName Stoppable -APIName Slow -Handler { param($Started) $Started.Set(); Start-Sleep 30 } -Parameters @{
            Started = @{ Type = 'object'; Required = $true }
        } | Out-Null
        foreach ($i in 1..5) {
            $started = [System.Threading.ManualResetEventSlim]::new($false)
            $job = Invoke-ModuleAPI -Module Stoppable -Operation Slow -Parameters @{ Started = $started } -Async
            $started.Wait([timespan]::FromSeconds(30)) | Should -BeTrue
            $job | Stop-Job
            $job | Remove-Job -Force
        }
        $breaker = (Get-CircuitBreakerStatus -OperationName 'Stoppable.Slow').CircuitBreakers['Stoppable.Slow']
        $breaker.State | Should -Be 'Closed'
        $breaker.TotalFailures | Should -Be 0
    }
}

Describe 'Reset-CircuitBreaker and Set-CircuitBreaker' {
    BeforeEach {
        Clear-Breakers
        Set-CircuitBreaker -OperationName 'ExternalService.ProcessData' -Isolate
        Set-CircuitBreaker -OperationName 'ExternalService.Other' -Isolate
    }

    It 'resets one breaker by name (the spec''s example)' {
        Reset-CircuitBreaker -OperationName "ExternalService.ProcessData" -Force
        (Get-CircuitBreakerStatus).CircuitBreakers['ExternalService.ProcessData'].State | Should -Be 'Closed'
        (Get-CircuitBreakerStatus).CircuitBreakers['ExternalService.Other'].State | Should -Be 'Isolated'
    }

    It 'resets all of them (the spec''s example)' {
        Reset-CircuitBreaker -All -Force
        (Get-CircuitBreakerStatus).OpenBreakers | Should -Be 0
    }

    It 'resets the open ones from the pipeline and passes them through' {
        $out = (Get-CircuitBreakerStatus).CircuitBreakers.Values | Where-Object State -ne 'Closed' | Reset-CircuitBreaker -Force -PassThru
        $out.State | Should -Be @('Closed', 'Closed')
    }

    It 'reports a breaker that does not exist as BreakerNotFound' {
        $err = $null
        Reset-CircuitBreaker -OperationName 'No.Such' -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'BreakerNotFound,ModuleCommunication.Commands.ResetCircuitBreakerCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'takes names from the pipeline, each reported on its own' {
        Set-CircuitBreaker -OperationName 'Lab.Piped' -Isolate | Out-Null
        $err = $null
        'No.Such', 'Lab.Piped' | Reset-CircuitBreaker -Force -ErrorVariable err -ErrorAction SilentlyContinue
        @($err).Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Be 'BreakerNotFound,ModuleCommunication.Commands.ResetCircuitBreakerCommand'
        (Get-CircuitBreakerStatus -OperationName 'Lab.Piped').CircuitBreakers['Lab.Piped'].State | Should -Be 'Closed'
    }

    It 'reports a plain name with no breaker from Get-CircuitBreakerStatus, and not a pattern' {
        $err = $null
        $status = Get-CircuitBreakerStatus -OperationName 'No.Such' -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'BreakerNotFound,ModuleCommunication.Commands.GetCircuitBreakerStatusCommand'
        $status.CircuitBreakers.Count | Should -Be 0
        Get-CircuitBreakerStatus -OperationName 'No.*' -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
        $err | Should -BeNullOrEmpty
    }

    It 'keeps an isolation when its API is unregistered and registered again (a module reload)' {
        try {
            Register-ModuleAPI -ModuleName 'ExternalService' -APIName 'ProcessData' -Handler { 'ran' } | Out-Null
            Unregister-ModuleAPI -ModuleName 'ExternalService' -APIName 'ProcessData' -Force | Out-Null
            Register-ModuleAPI -ModuleName 'ExternalService' -APIName 'ProcessData' -Handler { 'ran' } | Out-Null
            { Invoke-ModuleAPI -Module 'ExternalService' -Operation 'ProcessData' -ErrorAction Stop } |
                Should -Throw -ErrorId 'CircuitOpen,ModuleCommunication.Commands.InvokeModuleAPICommand'
        } finally {
            Reset-Registry
        }
    }

    It 'changes nothing with -WhatIf' {
        Reset-CircuitBreaker -All -WhatIf
        (Get-CircuitBreakerStatus).OpenBreakers | Should -Be 2
    }

    It 'refuses wildcards when isolating and options together with -UseDefaults' {
        { Set-CircuitBreaker -OperationName 'External*' -Isolate -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidArgument,ModuleCommunication.Commands.SetCircuitBreakerCommand'
        { Set-CircuitBreaker -OperationName 'A.B' -UseDefaults -FailureThreshold 3 -ErrorAction Stop } |
            Should -Throw -ErrorId 'ConflictingBreakerOptions,ModuleCommunication.Commands.SetCircuitBreakerCommand'
    }

    It 'warns about a name no API has, and refuses one that is not Module.Operation' {
        Register-ModuleAPI -ModuleName 'LabRunner' -APIName 'ExecuteStep' -Handler { } -Force | Out-Null
        try {
            Set-CircuitBreaker -OperationName 'LabRuner.ExecuteStep' -Isolate -WarningVariable typo -WarningAction SilentlyContinue
            "$typo" | Should -BeLike "*No API 'LabRuner.ExecuteStep' is registered*Get-ModuleAPIs*"
            Set-CircuitBreaker -OperationName 'LabRunner.ExecuteStep' -FailureThreshold 7 -WarningVariable known -WarningAction SilentlyContinue
            $known | Should -BeNullOrEmpty
            { Set-CircuitBreaker -OperationName 'NoDotHere' -Isolate -ErrorAction Stop } |
                Should -Throw -ErrorId 'InvalidArgument,ModuleCommunication.Commands.SetCircuitBreakerCommand'
        } finally {
            Unregister-ModuleAPI -ModuleName 'LabRunner' -APIName 'ExecuteStep' -Force | Out-Null
        }
    }

    It 'sets options in seconds and returns to the defaults' {
        $b = Set-CircuitBreaker -OperationName 'ExternalService.ProcessData' -RecoveryTimeout 30 -SamplingDuration 10 -FailureRatio 0.25 -HalfOpenProbes 2 -PassThru
        $b.Options.RecoveryTimeout | Should -Be ([timespan]::FromSeconds(30))
        $b.Options.SamplingDuration | Should -Be ([timespan]::FromSeconds(10))
        $b.Options.FailureRatio | Should -Be 0.25
        $b.Options.HalfOpenProbes | Should -Be 2
        $b = Set-CircuitBreaker -OperationName 'ExternalService.ProcessData' -UseDefaults -PassThru
        $b.CustomOptions | Should -BeFalse
        $b.Options.RecoveryTimeout | Should -Be ([timespan]::FromSeconds(60))
    }

    It 'completes operation names' {
        $r = TabExpansion2 -inputScript 'Reset-CircuitBreaker -OperationName External' -cursorColumn 44
        $r.CompletionMatches.CompletionText | Should -Contain 'ExternalService.ProcessData'
    }
}
