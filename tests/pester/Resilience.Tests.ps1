# Invoke-ModuleAPI with the native security, circuit breaker and retry stages, from PowerShell:
# the spec's examples as written, retry by error type, per-attempt timeouts, fast failing,
# tokens. Retry delays are shortened to milliseconds; everything is restored afterwards.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')

    function Reset-Resilience {
        Reset-Registry
        Disable-CommunicationSecurity
        Set-CommunicationConfiguration -Security @{ RequireAuthentication = $false; AllowedModules = @(); Enabled = $false }
        Revoke-AuthenticationToken -All -Force
        Reset-CircuitBreaker -All -Force
        # Milliseconds between retries, so that tests wait for nothing.
        Set-CommunicationConfiguration -RetryPolicy @{ MaxRetries = 3; RetryDelay = 5; BackoffMultiplier = 2; MaxDelay = 50; Jitter = $true } `
            -CircuitBreaker @{ FailureThreshold = 5; FailureRatio = 0.5; SamplingDuration = 30; RecoveryTimeout = 60; HalfOpenProbes = 1 }
    }

    # Registers Module.Operation with a handler that counts its calls in $script:calls[$Key]
    # and fails, for the first $Failures calls, by running $Fail.
    function Register-Flaky([string] $Module, [string] $Operation, [int] $Failures, [scriptblock] $Fail) {
        $script:calls[("$Module.$Operation")] = 0
        $script:fail = $Fail
        Register-ModuleAPI -ModuleName $Module -APIName $Operation -Handler {
            param($Context)
            $key = $Context.APIKey
            $script:calls[$key]++
            if ($script:calls[$key] -le $script:failures[$key]) { & $script:fail }
            "ok after $($script:calls[$key]) attempt(s)"
        } -Force | Out-Null
        $script:failures[("$Module.$Operation")] = $Failures
    }

    $script:calls = @{}
    $script:failures = @{}
}

AfterAll {
    Reset-Resilience
    Set-CommunicationConfiguration -RetryPolicy @{ MaxRetries = 3; RetryDelay = 1000; BackoffMultiplier = 2; MaxDelay = 30000; Jitter = $true }
}

Describe 'The spec''s fault tolerance examples run as written' {
    BeforeEach { Reset-Resilience }

    It 'Automatic Fault Tolerance: a call with -EnableCircuitBreaker -RetryAttempts 3, the status loop, and both resets' {
        Register-ModuleAPI -ModuleName "ExternalService" -APIName "ProcessData" -Handler { param($Data) @{ Count = $Data.Count } } | Out-Null
        $largeDataSet = 1..1000
        # Circuit breaker is enabled by default for all API calls
        $result = Invoke-ModuleAPI -Module "ExternalService" -Operation "ProcessData" -Parameters @{
            Data = $largeDataSet
        } -EnableCircuitBreaker -RetryAttempts 3
        $result.Count | Should -Be 1000

        # Check circuit breaker status
        $cbStatus = Get-CircuitBreakerStatus
        $lines = foreach ($operation in $cbStatus.CircuitBreakers.Keys) {
            $cb = $cbStatus.CircuitBreakers[$operation]
            Write-Host "$operation : $($cb.State) (Success Rate: $($cb.SuccessRate)%)"
            "$operation : $($cb.State) (Success Rate: $($cb.SuccessRate)%)"
        }
        $lines | Should -Contain 'ExternalService.ProcessData : Closed (Success Rate: 100%)'

        # Reset circuit breaker if needed
        Reset-CircuitBreaker -OperationName "ExternalService.ProcessData" -Force
        # Reset all circuit breakers
        Reset-CircuitBreaker -All -Force
        (Get-CircuitBreakerStatus).CircuitBreakers['ExternalService.ProcessData'].TotalCalls | Should -Be 0
    }

    It 'Automatic Retry with Exponential Backoff: -RetryAttempts 5 -Timeout 30 retries an unavailable database' {
        Register-Flaky DatabaseService ExecuteQuery 2 { throw [ModuleCommunication.ApiErrorException]::new('Unavailable', 'the database is busy') }
        # API calls automatically retry on transient failures
        $result = Invoke-ModuleAPI -Module "DatabaseService" -Operation "ExecuteQuery" -Parameters @{
            Query = "SELECT * FROM Users"
        } -RetryAttempts 5 -Timeout 30
        $result | Should -Be 'ok after 3 attempt(s)'
        $api = Get-ModuleAPIs -ModuleName DatabaseService
        $api.AttemptCount | Should -Be 3
        $api.RetryCount | Should -Be 2
    }

    It 'Migration guide: Enable-CommunicationSecurity, a token, and the "new way" call with fault tolerance' {
        Register-ModuleAPI -ModuleName "Service" -APIName "Call" -Handler { 'called' } | Out-Null
        Enable-CommunicationSecurity -RequireAuthentication
        $token = New-AuthenticationToken -ModuleName "YourModule" -Scopes @('api:call')
        # Old way
        { Invoke-ModuleAPI -Module "Service" -Operation "Call" -Parameters @{} } |
            Should -Throw -ErrorId 'AuthenticationFailed,ModuleCommunication.Commands.InvokeModuleAPICommand'
        # New way with fault tolerance
        $result = Invoke-ModuleAPI -Module "Service" -Operation "Call" -Parameters @{} -RetryAttempts 3 -EnableCircuitBreaker -AuthenticationToken $token.Token
        $result | Should -Be 'called'
    }

    It 'Enable Security: the spec''s example end to end, then revoking the tokens' {
        Register-ModuleAPI -ModuleName "ConfigManager" -APIName "UpdateSetting" -Handler {
            param($Setting, $Value, $Context)
            @{ Setting = $Setting; Value = $Value; User = $Context.User }
        } | Out-Null
        # Enable security with authentication required
        Enable-CommunicationSecurity -RequireAuthentication -DefaultTokenExpiration 60 -AllowedModules @('LabRunner', 'BackupManager')
        # Create authentication token
        $token = New-AuthenticationToken -ModuleName "LabRunner" -User "SystemAccount" -Scopes @('api:call', 'events:publish') -ExpirationMinutes 120
        # Use token in API calls
        $result = Invoke-ModuleAPI -Module "ConfigManager" -Operation "UpdateSetting" -Parameters @{
            Setting = "MaxConcurrency"
            Value = 10
        } -AuthenticationToken $token.Token
        $result.Value | Should -Be 10
        $result.User | Should -Be 'SystemAccount'
        # Revoke tokens when done
        Revoke-AuthenticationToken -ModuleName "LabRunner" -Force
        $err = $null
        try { Invoke-ModuleAPI -Module "ConfigManager" -Operation "UpdateSetting" -Parameters @{ Setting = 'X'; Value = 1 } -AuthenticationToken $token.Token } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'AuthenticationFailed,ModuleCommunication.Commands.InvokeModuleAPICommand'
        $err.CategoryInfo.Category | Should -Be 'AuthenticationError'
        $err.Exception.Message | Should -Not -Match ([regex]::Escape($token.Token.Substring(4)))
    }
}

Describe 'Retry from PowerShell' {
    BeforeEach { Reset-Resilience }

    It 'retries only failures typed as retryable: <Name>' -ForEach @(
        @{ Name = 'ApiErrorException Unavailable'; Fail = { throw [ModuleCommunication.ApiErrorException]::new('Unavailable', 'busy') }; Retried = $true }
        @{ Name = 'ApiErrorException Timeout'; Fail = { throw [ModuleCommunication.ApiErrorException]::new('Timeout', 'slow') }; Retried = $true }
        @{ Name = 'TimeoutException'; Fail = { throw [System.TimeoutException]::new('the query timed out') }; Retried = $true }
        @{ Name = 'SocketException'; Fail = { throw [System.Net.Sockets.SocketException]::new(10061) }; Retried = $true }
        @{ Name = 'Write-Error -Category ResourceBusy'; Fail = { Write-Error 'locked' -Category ResourceBusy -ErrorAction Stop }; Retried = $true }
        @{ Name = 'Write-Error -Category ConnectionError'; Fail = { Write-Error 'reset' -Category ConnectionError -ErrorAction Stop }; Retried = $true }
        # Thrown by a .NET method, as a handler usually meets them: PowerShell wraps them in a MethodInvocationException.
        @{ Name = 'a refused TcpClient.Connect'; Fail = { [System.Net.Sockets.TcpClient]::new().Connect('127.0.0.1', 9) }; Retried = $true }
        @{ Name = 'a failed HttpClient request'; Fail = { [System.Net.Http.HttpClient]::new().GetStringAsync('http://127.0.0.1:9/').GetAwaiter().GetResult() }; Retried = $true }
        @{ Name = 'a [regex]::Match timeout'; Fail = { [regex]::Match(('a' * 5000) + '!', '(a+)+$', 'None', [timespan]::FromMilliseconds(1)) }; Retried = $true }
        @{ Name = 'an IOException of a .NET method'; Fail = { [System.IO.File]::ReadAllText('/nonexistent/mc-retry-test') }; Retried = $false }
        @{ Name = 'a plain throw'; Fail = { throw 'something broke' }; Retried = $false }
        @{ Name = 'a message that merely mentions a timeout'; Fail = { throw 'connection timeout, network busy' }; Retried = $false }
        @{ Name = 'ApiErrorException Validation'; Fail = { throw [ModuleCommunication.ApiErrorException]::new('Validation', 'bad input') }; Retried = $false }
    ) {
        Register-Flaky Svc Op 1 $Fail
        if ($Retried) {
            Invoke-ModuleAPI -Module Svc -Operation Op -RetryAttempts 2 | Should -Be 'ok after 2 attempt(s)'
        } else {
            { Invoke-ModuleAPI -Module Svc -Operation Op -RetryAttempts 2 } | Should -Throw
            $script:calls['Svc.Op'] | Should -Be 1
        }
    }

    It 'makes 1 + RetryAttempts attempts and says so; -RetryAttempts 0 makes one' {
        Register-Flaky Svc Op 100 { throw [ModuleCommunication.ApiErrorException]::new('Unavailable', 'down') }
        $err = $null
        try { Invoke-ModuleAPI -Module Svc -Operation Op -RetryAttempts 2 -EnableCircuitBreaker:$false } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'APIUnavailable,ModuleCommunication.Commands.InvokeModuleAPICommand'
        $err.Exception.Message | Should -BeLike '*(failed 3 attempts in *: the first and 2 retries)'
        $script:calls['Svc.Op'] | Should -Be 3
        { Invoke-ModuleAPI -Module Svc -Operation Op -RetryAttempts 0 -EnableCircuitBreaker:$false } | Should -Throw
        $script:calls['Svc.Op'] | Should -Be 4
    }

    It 'uses the retry policy''s MaxRetries by default' {
        Set-CommunicationConfiguration -RetryPolicy @{ MaxRetries = 1 }
        Register-Flaky Svc Op 100 { throw [System.TimeoutException]::new('slow') }
        { Invoke-ModuleAPI -Module Svc -Operation Op -EnableCircuitBreaker:$false } | Should -Throw -ErrorId 'APITimeout,*'
        $script:calls['Svc.Op'] | Should -Be 2
    }

    It 'gives each attempt its own -Timeout, and middleware and handler see the attempt' {
        $script:seen = [System.Collections.Generic.List[int]]::new()
        Add-APIMiddleware -Name Attempts -Handler { param($Context, $Next) $script:seen.Add($Context.Attempt); & $Next $Context } | Out-Null
        Register-ModuleAPI -ModuleName Svc -APIName Slow -Handler {
            param($Context)
            if ($Context.Attempt -eq 0) { Start-Sleep -Seconds 30 }
            "attempt $($Context.Attempt)"
        } | Out-Null
        # Attempt 0 sleeps 30 s: 'attempt 1' back means attempt 0 ran into its own 0.5 s timeout.
        Invoke-ModuleAPI -Module Svc -Operation Slow -Timeout 0.5 -RetryAttempts 1 | Should -Be 'attempt 1'
        $script:seen | Should -Be @(0, 1)
        (Get-ModuleAPIs -ModuleName Svc).AttemptCount | Should -Be 2
    }

    It 'fails with APITimeout after the last timed-out attempt' {
        Register-ModuleAPI -ModuleName Svc -APIName Slow -Handler { Start-Sleep -Seconds 30 } | Out-Null
        $err = { Invoke-ModuleAPI -Module Svc -Operation Slow -Timeout 0.3 -RetryAttempts 1 } | Should -Throw -ErrorId 'APITimeout,*' -PassThru
        (Get-ModuleAPIs -ModuleName Svc).AttemptCount | Should -Be 2
        # The whole wait, and how to have a timeout not retried, in PowerShell's words.
        $err.Exception.Message | Should -Match '\(failed 2 attempts in [0-9.]+ (ms|s): the first and 1 retries\)'
        $err.Exception.Message | Should -BeLike '* A timeout is retried by the retry policy; -RetryAttempts 0 stops after the first attempt.'
        $err.Exception.Message | Should -Not -BeLike '*retryAttempts"*'
    }

    It 'retries in an -Async job too' {
        # The job runs the handler re-created in a pool runspace: it decides by $Context.Attempt.
        Register-ModuleAPI -ModuleName Svc -APIName Op -Handler {
            param($Context)
            if ($Context.Attempt -eq 0) { throw [ModuleCommunication.ApiErrorException]::new('Unavailable', 'busy') }
            "attempt $($Context.Attempt)"
        } | Out-Null
        $job = Invoke-ModuleAPI -Module Svc -Operation Op -Async -RetryAttempts 2
        Wait-Job $job -Timeout 30 | Out-Null
        $job.State | Should -Be 'Completed'
        Receive-Job $job | Should -Be 'attempt 1'
        (Get-ModuleAPIs -ModuleName Svc).RetryCount | Should -Be 1
        Remove-Job $job
    }

    It 'stops an -Async call at Stop-Job while it waits to retry, counting only the attempt that ran' {
        # 20 s before the retry: stopping in time means the stop ended the wait.
        Set-CommunicationConfiguration -RetryPolicy @{ RetryDelay = 20000; MaxDelay = 20000; Jitter = $false }
        Register-ModuleAPI -ModuleName Svc -APIName Busy -Handler { throw [ModuleCommunication.ApiErrorException]::new('Unavailable', 'busy') } | Out-Null
        $job = Invoke-ModuleAPI -Module Svc -Operation Busy -Async -RetryAttempts 3
        Wait-Until { (Get-ModuleAPIs -ModuleName Svc).AttemptCount -eq 1 } -TimeoutSeconds 30 | Should -BeTrue
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        Stop-Job $job
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 10
        $job.State | Should -Be 'Stopped'
        $api = Get-ModuleAPIs -ModuleName Svc
        $api.AttemptCount | Should -Be 1
        $api.RetryCount | Should -Be 0
        Remove-Job $job
    }

    It 'stops a call at Ctrl+C while it waits to retry' {
        Set-CommunicationConfiguration -RetryPolicy @{ RetryDelay = 20000; MaxDelay = 20000; Jitter = $false }
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                param($Psd1)
                Import-Module $Psd1
                Register-ModuleAPI -ModuleName Svc -APIName Busy -Handler { throw [ModuleCommunication.ApiErrorException]::new('Unavailable', 'busy') } | Out-Null
                Invoke-ModuleAPI -Module Svc -Operation Busy -RetryAttempts 3
            }).AddArgument((Resolve-Path $script:ModuleManifest).ProviderPath)
            $null = $ps.BeginInvoke()
            Wait-Until { (Get-ModuleAPIs -ModuleName Svc -ErrorAction Ignore).AttemptCount -eq 1 } -TimeoutSeconds 30 | Should -BeTrue
            Stop-LikeCtrlC $ps -TimeoutSeconds 10 | Should -BeTrue
            (Get-ModuleAPIs -ModuleName Svc).AttemptCount | Should -Be 1
        }
        finally {
            # Its runspace registered the API: closing it removes that, so the next test starts clean.
            $ps.Dispose()
        }
    }
}

Describe 'The circuit breaker from PowerShell' {
    BeforeEach { Reset-Resilience }

    It 'opens after FailureThreshold failures and then fails fast without running the handler' {
        Register-Flaky Ext Op 100 { throw 'the service returned 500' }
        1..5 | ForEach-Object { { Invoke-ModuleAPI -Module Ext -Operation Op } | Should -Throw -ErrorId 'APIHandlerFailed,*' }
        $err = $null
        try { Invoke-ModuleAPI -Module Ext -Operation Op } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'CircuitOpen,ModuleCommunication.Commands.InvokeModuleAPICommand'
        $err.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        $err.Exception.Category | Should -Be 'CircuitOpen'
        $err.Exception.Message | Should -BeLike '*lets a trial call through at*Reset-CircuitBreaker*'
        $script:calls['Ext.Op'] | Should -Be 5
        $cb = (Get-CircuitBreakerStatus).CircuitBreakers['Ext.Op']
        $cb.State | Should -Be 'Open'
        $cb.SuccessRate | Should -Be 0
        $cb.LastError | Should -BeLike '*the service returned 500*'
        $cb.TimeUntilHalfOpen.TotalSeconds | Should -BeGreaterThan 50
        (Get-ModuleAPIs -ModuleName Ext).RejectedCount | Should -Be 1
    }

    It 'reads HalfOpen once RecoveryTimeout has passed, and a successful trial closes it' {
        Register-Flaky Ext Op 5 { throw 'down' }
        Set-CircuitBreaker -OperationName Ext.Op -RecoveryTimeout 0.3
        1..5 | ForEach-Object { { Invoke-ModuleAPI -Module Ext -Operation Op } | Should -Throw }
        (Get-CircuitBreakerStatus -OperationName Ext.Op).CircuitBreakers['Ext.Op'].State | Should -Be 'Open'
        Wait-Until { (Get-CircuitBreakerStatus -OperationName Ext.Op).CircuitBreakers['Ext.Op'].State -eq 'HalfOpen' } | Should -BeTrue
        (Get-CircuitBreakerStatus -OperationName Ext.Op).CircuitBreakers['Ext.Op'].TimeUntilHalfOpen | Should -BeNullOrEmpty
        Invoke-ModuleAPI -Module Ext -Operation Op | Should -Be 'ok after 6 attempt(s)'
        (Get-CircuitBreakerStatus -OperationName Ext.Op).CircuitBreakers['Ext.Op'].State | Should -Be 'Closed'
    }

    It 'lets a call opt out with -EnableCircuitBreaker:$false, and closes on reset' {
        Register-Flaky Ext Op 5 { throw 'down' }
        1..5 | ForEach-Object { { Invoke-ModuleAPI -Module Ext -Operation Op } | Should -Throw }
        { Invoke-ModuleAPI -Module Ext -Operation Op } | Should -Throw -ErrorId 'CircuitOpen,*'
        Invoke-ModuleAPI -Module Ext -Operation Op -EnableCircuitBreaker:$false | Should -Be 'ok after 6 attempt(s)'
        Reset-CircuitBreaker -OperationName Ext.Op -Force
        Invoke-ModuleAPI -Module Ext -Operation Op | Should -Be 'ok after 7 attempt(s)'
    }

    It 'fails every call of an isolated operation until it is reset' {
        Register-Flaky Ext Op 0 { }
        Set-CircuitBreaker -OperationName Ext.Op -Isolate
        { Invoke-ModuleAPI -Module Ext -Operation Op } | Should -Throw '*isolated*'
        $script:calls['Ext.Op'] | Should -Be 0
        Reset-CircuitBreaker -OperationName Ext.Op -Force
        Invoke-ModuleAPI -Module Ext -Operation Op | Should -Be 'ok after 1 attempt(s)'
    }

    It 'does not count validation failures against the breaker' {
        Register-ModuleAPI -ModuleName Ext -APIName Typed -Handler { param($N) $N } -Parameters @{ N = @{ Type = 'int'; Required = $true } } | Out-Null
        1..10 | ForEach-Object { { Invoke-ModuleAPI -Module Ext -Operation Typed -Parameters @{} } | Should -Throw -ErrorId 'ParameterValidationFailed,*' }
        Invoke-ModuleAPI -Module Ext -Operation Typed -Parameters @{ N = 4 } | Should -Be 4
        $cb = (Get-CircuitBreakerStatus -OperationName Ext.Typed).CircuitBreakers['Ext.Typed']
        $cb.State | Should -Be 'Closed'
        # Only the call that counted is among its calls, so its success rate is not a claim about the others.
        $cb.TotalCalls | Should -Be 1
        $cb.SuccessRate | Should -Be 100
    }

    It 'keeps secrets a handler''s error quoted out of LastError, as every other surface does' {
        Register-Flaky Db Query 100 { throw "cannot connect: Server=db;password=hunter2" }
        { Invoke-ModuleAPI -Module Db -Operation Query -RetryAttempts 0 } | Should -Throw -ErrorId 'APIHandlerFailed,*'
        (Get-ModuleAPIs -ModuleName Db).LastError | Should -BeLike '*password=`*`*`*'
        $cb = (Get-CircuitBreakerStatus -OperationName Db.Query).CircuitBreakers['Db.Query']
        $cb.LastError | Should -BeLike '*cannot connect: Server=db;password=`*`*`*'
        $cb.LastError | Should -Not -BeLike '*hunter2*'
    }
}

Describe 'API security from PowerShell' {
    BeforeEach {
        Reset-Resilience
        Register-Flaky LabRunner ExecuteStep 0 { }
        Enable-CommunicationSecurity -RequireAuthentication -AllowedModules 'LabRunner'
    }

    It 'refuses a token without the api:call scope for the operation, and a module outside the list' {
        $narrow = New-AuthenticationToken -ModuleName LabRunner -Scopes 'api:call:Other.*'
        { Invoke-ModuleAPI -Module LabRunner -Operation ExecuteStep -AuthenticationToken $narrow.Token } |
            Should -Throw -ErrorId 'AuthorizationFailed,ModuleCommunication.Commands.InvokeModuleAPICommand'
        $scoped = New-AuthenticationToken -ModuleName LabRunner -Scopes 'api:call:LabRunner.*'
        Invoke-ModuleAPI -Module LabRunner -Operation ExecuteStep -AuthenticationToken $scoped.Token | Should -Be 'ok after 1 attempt(s)'
        Enable-CommunicationSecurity -AllowedModules 'BackupManager'
        { Invoke-ModuleAPI -Module LabRunner -Operation ExecuteStep -AuthenticationToken $scoped.Token } |
            Should -Throw -ErrorId 'AuthorizationFailed,*'
        $script:calls['LabRunner.ExecuteStep'] | Should -Be 1
        # Refusals never count against the circuit breaker.
        (Get-CircuitBreakerStatus).CircuitBreakers['LabRunner.ExecuteStep'].TotalFailures | Should -Be 0
    }

    It 'keeps api:call:Lab.* to module Lab: a module named Lab.Admin is another module' {
        Enable-CommunicationSecurity -AllowedModules @()
        Register-Flaky Lab Run 0 { }
        Register-Flaky Lab.Admin DeleteAll 0 { }
        $t = New-AuthenticationToken -ModuleName Caller -Scopes 'api:call:Lab.*'
        Invoke-ModuleAPI -Module Lab -Operation Run -AuthenticationToken $t.Token | Should -Be 'ok after 1 attempt(s)'
        { Invoke-ModuleAPI -Module Lab.Admin -Operation DeleteAll -AuthenticationToken $t.Token } |
            Should -Throw -ErrorId 'AuthorizationFailed,*'
        $script:calls['Lab.Admin.DeleteAll'] | Should -Be 0
        $admin = New-AuthenticationToken -ModuleName Caller -Scopes 'api:call:Lab.Admin.*'
        Invoke-ModuleAPI -Module Lab.Admin -Operation DeleteAll -AuthenticationToken $admin.Token | Should -Be 'ok after 1 attempt(s)'
    }

    It 'checks the token before it looks the API up, so a caller without a valid token learns nothing of the APIs' {
        { Invoke-ModuleAPI -Module LabRunner -Operation Nope } | Should -Throw -ErrorId 'AuthenticationFailed,*'
        { Invoke-ModuleAPI -Module LabRunner -Operation Nope -AuthenticationToken 'mct_forged' } |
            Should -Throw -ErrorId 'AuthenticationFailed,*'
        $narrow = New-AuthenticationToken -ModuleName LabRunner -Scopes 'api:call:Other.*'
        { Invoke-ModuleAPI -Module LabRunner -Operation Nope -AuthenticationToken $narrow.Token } |
            Should -Throw -ErrorId 'AuthorizationFailed,*'
        $scoped = New-AuthenticationToken -ModuleName LabRunner -Scopes 'api:call:LabRunner.*'
        { Invoke-ModuleAPI -Module LabRunner -Operation Nope -AuthenticationToken $scoped.Token } |
            Should -Throw -ErrorId 'APINotFound,*'
        # Nor does the refusal spell a registered API's name the way it was registered.
        $registered = { Invoke-ModuleAPI -Module labrunner -Operation executestep } | Should -Throw -ErrorId 'AuthenticationFailed,*' -PassThru
        $missing = { Invoke-ModuleAPI -Module labrunner -Operation nosuchop } | Should -Throw -ErrorId 'AuthenticationFailed,*' -PassThru
        $registered.Exception.Message | Should -BeLike "*'labrunner.executestep'*"
        $registered.Exception.APIKey | Should -BeExactly 'labrunner.executestep'
        $registered.Exception.Message.Replace('executestep', 'nosuchop') | Should -Be $missing.Exception.Message
        # Nor does a check of the parameters come first.
        $twice = [hashtable]::new([StringComparer]::Ordinal)
        $twice['Path'] = 'a'
        $twice['path'] = 'b'
        { Invoke-ModuleAPI -Module LabRunner -Operation ExecuteStep -Parameters $twice } | Should -Throw -ErrorId 'AuthenticationFailed,*'
        { Invoke-ModuleAPI -Module LabRunner -Operation ExecuteStep -Parameters $twice -AuthenticationToken $scoped.Token } |
            Should -Throw -ErrorId 'ParameterValidationFailed,*'
    }

    It 'checks the token before Test-ModuleAPI checks the parameters, so their schema is not told without it' {
        Register-ModuleAPI -ModuleName LabRunner -APIName Typed -Handler { param($X) } -Parameters @{ X = @{ Type = 'int'; Required = $true } } | Out-Null
        $without = Test-ModuleAPI -ModuleName LabRunner -APIName Typed -TestParameters @{ X = 'abc' }
        $without.ErrorCategory | Should -Be 'Authentication'
        "$($without.Errors)" | Should -Not -BeLike '*int*'
        $narrow = New-AuthenticationToken -ModuleName LabRunner -Scopes 'api:call:Other.*'
        (Test-ModuleAPI -ModuleName LabRunner -APIName Typed -TestParameters @{ X = 'abc' } -AuthenticationToken $narrow.Token).ErrorCategory |
            Should -Be 'Authorization'
        $scoped = New-AuthenticationToken -ModuleName LabRunner -Scopes 'api:call:LabRunner.*'
        $with = Test-ModuleAPI -ModuleName LabRunner -APIName Typed -TestParameters @{ X = 'abc' } -AuthenticationToken $scoped.Token
        $with.ErrorCategory | Should -Be 'Validation'
        $with.Errors[0] | Should -BeLike 'X: expected an int*'
    }

    It 'shows no token text on any surface' {
        $t = New-AuthenticationToken -ModuleName LabRunner -User Tester -Scopes 'api:call'
        Invoke-ModuleAPI -Module LabRunner -Operation ExecuteStep -AuthenticationToken $t.Token | Out-Null
        $e1 = $null
        try { Invoke-ModuleAPI -Module LabRunner -Operation ExecuteStep -AuthenticationToken ($t.Token + 'x') } catch { $e1 = $_ }
        $e1.FullyQualifiedErrorId | Should -BeLike 'AuthenticationFailed,*'
        $e1.Exception.Message | Should -Not -BeNullOrEmpty
        $dump = @(
            Get-ModuleAPIs | Format-List * | Out-String
            Get-CircuitBreakerStatus | Format-List * | Out-String
            Get-AuthenticationTokens | Format-List * | Out-String
            Get-CommunicationConfiguration | ConvertTo-Json -Depth 4
            Get-CommunicationMetrics | ConvertTo-Json -Depth 4 -WarningAction SilentlyContinue
            $e1 | Format-List * -Force | Out-String
            Enable-CommunicationSecurity -PassThru | Out-String
        ) -join "`n"
        $dump | Should -Not -Match ([regex]::Escape($t.Token.Substring(4)))
    }
}

Describe 'Test-ModuleAPI and completion with security' {
    BeforeEach {
        Reset-Resilience
        Register-Flaky LabRunner ExecuteStep 0 { }
    }

    It 'passes -AuthenticationToken to the test call' {
        Enable-CommunicationSecurity -RequireAuthentication
        $t = New-AuthenticationToken -ModuleName LabRunner -Scopes 'api:call'
        (Test-ModuleAPI -ModuleName LabRunner -APIName ExecuteStep).ErrorCategory | Should -Be 'Authentication'
        (Test-ModuleAPI -ModuleName LabRunner -APIName ExecuteStep -AuthenticationToken $t.Token).Success | Should -BeTrue
    }

    It 'completes scopes, including per-operation scopes of registered APIs' {
        $r = TabExpansion2 -inputScript 'New-AuthenticationToken -ModuleName X -Scopes api:call:Lab' -cursorColumn 58
        $r.CompletionMatches.CompletionText | Should -Contain 'api:call:LabRunner.ExecuteStep'
        $r = TabExpansion2 -inputScript 'New-AuthenticationToken -ModuleName X -Scopes mess' -cursorColumn 50
        $r.CompletionMatches.CompletionText | Should -Be @('messages:publish', 'messages:subscribe')
    }
}

Describe 'Attempts in the trace' {
    BeforeEach { Reset-Resilience }
    AfterEach { Disable-MessageTracing | Out-Null }

    It 'shows every retried attempt in a Basic trace, with its number and error category' {
        Register-Flaky Svc Op 2 { throw [ModuleCommunication.ApiErrorException]::new('Unavailable', 'busy') }
        Enable-MessageTracing -Level Basic
        Invoke-ModuleAPI -Module Svc -Operation Op -RetryAttempts 3 | Should -Be 'ok after 3 attempt(s)'
        $attempts = @(Get-MessageTrace | Where-Object Event -eq 'apiAttempt')
        $attempts.Count | Should -Be 3
        $attempts | ForEach-Object { $_.Api | Should -Be 'Svc.Op'; $_.Stage | Should -Be 'retry' }
        ($attempts | ForEach-Object { ($_.Json | ConvertFrom-Json).attempt }) | Should -Be @(0, 1, 2)
        ($attempts[0].Json | ConvertFrom-Json).category | Should -Be 'Unavailable'
        $attempts[2].Error | Should -BeNullOrEmpty
    }

    It 'traces the security and circuit breaker stages at the Verbose level' {
        Register-Flaky Svc Op 0 { }
        Enable-CommunicationSecurity -RequireAuthentication
        $token = New-AuthenticationToken -ModuleName Svc -Scopes 'api:call'
        Enable-MessageTracing -Level Verbose
        Invoke-ModuleAPI -Module Svc -Operation Op -AuthenticationToken $token.Token | Out-Null
        $stages = @(Get-MessageTrace | Where-Object Event -eq 'apiStage').Stage
        $stages | Should -Contain 'security'
        $stages | Should -Contain 'circuitBreaker'
        $stages | Should -Contain 'handler'
    }
}
