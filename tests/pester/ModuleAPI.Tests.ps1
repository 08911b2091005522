BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:Psd1 = if ($env:MC_MODULE_PSD1) { $env:MC_MODULE_PSD1 } else { (Resolve-Path $script:ModuleManifest).ProviderPath }

    # The spec's example API, as written.
    function Register-SpecExample {
        Register-ModuleAPI -ModuleName "LabRunner" -APIName "ExecuteStep" -Handler {
            param($StepName, $Parameters)
            Write-Host "Executing step: $StepName"
            # Implementation
            return @{Success = $true; StepName = $StepName}
        } -Parameters @{
            StepName = @{
                Type = "string"
                Required = $true
                Description = "Name of the step to execute"
            }
            Parameters = @{
                Type = "hashtable"
                Required = $false
                Description = "Step parameters"
            }
        } -Description "Execute a lab automation step"
    }
}

Describe 'Register-ModuleAPI' {
    BeforeEach { Reset-Registry }
    AfterAll { Reset-Registry }

    It 'registers the spec''s example and returns a typed ApiInfo with its schema' {
        $api = Register-SpecExample 6>$null
        $api | Should -BeOfType ([ModuleCommunication.ApiInfo])
        $api.APIKey | Should -Be 'LabRunner.ExecuteStep'
        $api.Description | Should -Be 'Execute a lab automation step'
        $api.HandlerType | Should -Be 'ScriptBlock'
        $api.RunspaceId | Should -Be ([runspace]::DefaultRunspace.InstanceId)
        $step = $api.Parameters | Where-Object Name -eq 'StepName'
        $step.Type | Should -Be 'string'
        $step.Required | Should -BeTrue
        $step.Description | Should -Be 'Name of the step to execute'
        ($api.Parameters | Where-Object Name -eq 'Parameters').Type | Should -Be 'hashtable'
    }

    It 'refuses a Module.Operation that exists, compared case-insensitively, unless -Force replaces it' {
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { 'first' } | Out-Null
        $err = { Register-ModuleAPI -ModuleName m -APIName OP -Handler { 'second' } } |
            Should -Throw -ErrorId 'APIExists,ModuleCommunication.Commands.RegisterModuleAPICommand' -PassThru
        # The core's hint for C callers ("force":true) is not shown to PowerShell users.
        $err.Exception.Message | Should -BeLike '*Register-ModuleAPI -Force*'
        $err.Exception.Message | Should -Not -BeLike '*"force"*'
        Invoke-ModuleAPI M Op | Should -Be 'first'
        Register-ModuleAPI -ModuleName m -APIName OP -Handler { 'second' } -Force | Out-Null
        Invoke-ModuleAPI M Op | Should -Be 'second'
        @(Get-ModuleAPIs).Count | Should -Be 1
    }

    It 'refuses a schema that cannot work, naming the parameter, and registers nothing' {
        $err = { Register-ModuleAPI -ModuleName M -APIName Bad -Handler { } -Parameters @{ Size = @{ Type = 'float' } } } |
            Should -Throw -ErrorId 'InvalidArgument,ModuleCommunication.Commands.RegisterModuleAPICommand' -PassThru
        $err.Exception.Message | Should -BeLike "*parameter 'Size'*unknown type*string, int, long, double, bool, hashtable, array, datetime, object*"
        { Register-ModuleAPI -ModuleName M -APIName Bad -Handler { } -Parameters @{ Size = 'int' } } |
            Should -Throw -ErrorId 'InvalidParameterSchema,ModuleCommunication.Commands.RegisterModuleAPICommand'
        { Register-ModuleAPI -ModuleName M -APIName Bad -Handler { } -Parameters @{ A = @{ Type = 'int'; Required = $true; Default = 1 } } } |
            Should -Throw -ExpectedMessage '*default would never apply*'
        # Keys and values as the user wrote them, not as JSON.
        { Register-ModuleAPI -ModuleName M -APIName Bad -Handler { } -Parameters @{ A = @{ Type = 'int'; Required = 'yes' } } } |
            Should -Throw -ExpectedMessage "invalid Required of parameter 'A' 'yes': use a boolean: true or false (`$true or `$false in PowerShell)"
        { Register-ModuleAPI -ModuleName M -APIName Bad -Handler { } -Parameters @{ A = @{ Typ = 'int' } } } |
            Should -Throw -ExpectedMessage '*the keys are Type, Required, Description, Default, ValidateSet and Pattern, in any case'
        { Register-ModuleAPI -ModuleName M -APIName 'a.b' -Handler { } } | Should -Throw -ExpectedMessage "*cannot contain '.'*"
        Get-ModuleAPIs | Should -BeNullOrEmpty
    }

    It 'accepts type literals and the .NET type names' {
        $api = Register-ModuleAPI -ModuleName M -APIName Types -Handler { } -Parameters @{
            A = @{ Type = [string] }; B = @{ Type = [int] }; C = @{ Type = 'Int64' }; D = @{ Type = [datetime] }; E = @{ Type = [hashtable] }
        }
        $types = @{}
        $api.Parameters | ForEach-Object { $types[$_.Name] = $_.Type }
        $types.A | Should -Be 'string'
        $types.B | Should -Be 'int'
        $types.C | Should -Be 'long'
        $types.D | Should -Be 'datetime'
        $types.E | Should -Be 'hashtable'
    }

    It 'registers nothing with -WhatIf' {
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { } -WhatIf
        Get-ModuleAPIs | Should -BeNullOrEmpty
    }

    It 'adds -Middleware for this API alone, in the order given' {
        $api = Register-ModuleAPI -ModuleName M -APIName Op -Handler { 'h' } -Middleware {
            param($Context, $Next) '1' + (& $Next $Context)
        }, {
            param($Context, $Next) '2' + (& $Next $Context)
        }
        $api.Middleware | Should -Be @('M.Op/1', 'M.Op/2')
        Invoke-ModuleAPI M Op | Should -Be '12h'
        (Get-APIMiddleware 'M.Op/1').Scope | Should -Be 'M.Op'
    }

    It 'names a failing -Middleware script by its place in Register-ModuleAPI, and by its listed name' {
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { 'h' } -Middleware { param($Context, $Next) & $Next $Context }, { throw 'inner' } | Out-Null
        { Invoke-ModuleAPI M Op } | Should -Throw -ExpectedMessage "-Middleware script 2 of M.Op (listed by Get-APIMiddleware as 'M.Op/2') failed: inner"
    }

    It 'refuses a null -Middleware entry before registering anything' {
        { Register-ModuleAPI -ModuleName M -APIName Op -Handler { 'h' } -Middleware { param($Context, $Next) & $Next $Context }, $null -ErrorAction Stop } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,ModuleCommunication.Commands.RegisterModuleAPICommand'
        Get-ModuleAPIs | Should -BeNullOrEmpty
        Get-APIMiddleware | Should -BeNullOrEmpty
    }

    It 'reads well in a console: at 80 columns the key, handler, counters and the start of the description show' {
        $text = Register-SpecExample 6>$null | Out-String -Width 80
        $text | Should -Match 'API\s+Handler\s+Calls\s+Success\s+Failed\s+Description'
        $text | Should -Match 'LabRunner\.ExecuteStep\s+ScriptBlock\s+0\s+0\s+0\s+Execute a'
        Register-ModuleAPI -ModuleName 'InventoryManager' -APIName 'GetStockLevels' -Handler { param($Sku) if ($Sku -eq 'X') { throw 'no such SKU' } 42 } | Out-Null
        Invoke-ModuleAPI -Module 'InventoryManager' -Operation 'GetStockLevels' -Parameters @{ Sku = 'A' } | Out-Null
        { Invoke-ModuleAPI -Module 'InventoryManager' -Operation 'GetStockLevels' -Parameters @{ Sku = 'X' } -RetryAttempts 0 -ErrorAction Stop } | Should -Throw
        $lines = (Get-ModuleAPIs -ModuleName 'InventoryManager' | Out-String -Width 80).Trim() -split '\r?\n'
        # Header, rule, one line: no header wraps down its column.
        $lines | Should -HaveCount 3
        $lines[2] | Should -Match '^InventoryManager\.GetStockLevels\s+ScriptBlock\s+2\s+1\s+1'
    }
}

Describe 'Invoke-ModuleAPI' {
    BeforeEach {
        Reset-Registry
        $script:ran = 0
    }
    AfterAll { Reset-Registry }

    It 'runs the spec''s examples and returns the handler''s output as is' {
        Register-SpecExample | Out-Null
        # Synchronous invocation
        $result = Invoke-ModuleAPI -Module "LabRunner" -Operation "ExecuteStep" -Parameters @{
            StepName = "DeployVM"
            Parameters = @{VMName = "TestVM"; Memory = "4GB"}
        } 6>$null
        $result | Should -BeOfType ([hashtable])
        $result.Keys | Sort-Object | Should -Be @('StepName', 'Success')
        $result.Success | Should -BeTrue
        $result.StepName | Should -Be 'DeployVM'
        # Asynchronous invocation
        $job = Invoke-ModuleAPI -Module "LabRunner" -Operation "ExecuteStep" -Parameters @{
            StepName = "LongRunningTask"
        } -Async
        $job | Wait-Job -Timeout 60 | Out-Null
        (Receive-Job $job 6>$null).StepName | Should -Be 'LongRunningTask'
        Remove-Job $job
    }

    It 'splats the parameters by name and passes the caller''s objects themselves' {
        $list = [System.Collections.Generic.List[int]]::new()
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { param($Second, $First, $Items) $Items.Add(1); "$First-$Second" } | Out-Null
        Invoke-ModuleAPI M Op @{ First = 'a'; Second = 'b'; Items = $list } | Should -Be 'a-b'
        $list.Count | Should -Be 1
    }

    It 'returns several objects as an array, the same object it returned, and nothing for no output' {
        $sb = [System.Text.StringBuilder]::new('x')
        Register-ModuleAPI -ModuleName M -APIName Many -Handler { 1; 'two'; 3.0 } | Out-Null
        Register-ModuleAPI -ModuleName M -APIName Same -Handler { param($Obj) $Obj } | Out-Null
        Register-ModuleAPI -ModuleName M -APIName None -Handler { } | Out-Null
        $many = Invoke-ModuleAPI M Many
        $many.Count | Should -Be 3
        $many[1] | Should -Be 'two'
        [object]::ReferenceEquals((Invoke-ModuleAPI M Same @{ Obj = $sb }), $sb) | Should -BeTrue
        Invoke-ModuleAPI M None | Should -BeNullOrEmpty
        @(Invoke-ModuleAPI M None).Count | Should -Be 0
    }

    It 'passes one output that is an array on as one object, as & $handler does' {
        Register-ModuleAPI -ModuleName M -APIName OneArray -Handler { , @(1, 2, 3) } | Out-Null
        (& { , @(1, 2, 3) } | Measure-Object).Count | Should -Be 1 -Because 'that is what the handler gives when called directly'
        Add-APIMiddleware -Name Count -Handler { param($Context, $Next) (& $Next $Context | Measure-Object).Count } -ModuleName M -APIName OneArray | Out-Null
        Invoke-ModuleAPI M OneArray | Should -Be 1
        Remove-APIMiddleware Count -Force | Out-Null
        (Invoke-ModuleAPI M OneArray | Measure-Object).Count | Should -Be 1
        (Invoke-ModuleAPI M OneArray).Count | Should -Be 3
    }

    It 'converts values to the schema''s types and fills in defaults' {
        Register-ModuleAPI -ModuleName M -APIName Op -Handler {
            param($When, $Count, $Ratio, $Mode, $Options)
            @{ When = $When; Count = $Count; Ratio = $Ratio; Mode = $Mode; Options = $Options }
        } -Parameters @{
            When    = @{ Type = 'datetime' }
            Count   = @{ Type = 'long' }
            Ratio   = @{ Type = 'double' }
            Mode    = @{ Type = 'string'; Default = 'Quick' }
            Options = @{ Type = 'hashtable'; Default = @{ Retries = 3; Since = [datetime]'2026-01-02' } }
        } | Out-Null
        $r = Invoke-ModuleAPI M Op @{ When = '2026-11-27T06:00:00'; Count = 5; Ratio = 2 }
        $r.When | Should -BeOfType ([datetime])
        $r.When.Day | Should -Be 27
        $r.Count | Should -BeOfType ([long])
        $r.Ratio | Should -BeOfType ([double])
        $r.Mode | Should -Be 'Quick'
        $r.Options.Retries | Should -Be 3
        $r.Options.Since | Should -BeOfType ([datetime])
        # Each call gets its own copy of a default.
        $r.Options.Retries = 99
        (Invoke-ModuleAPI M Op @{}).Options.Retries | Should -Be 3
    }

    It 'converts defaults to the schema''s types too' {
        Register-ModuleAPI -ModuleName M -APIName Defaults -Handler { param($When, $Count, $Ratio) @{ When = $When; Count = $Count; Ratio = $Ratio } } -Parameters @{
            When  = @{ Type = 'datetime'; Default = '2024-01-02T03:04:05Z' }
            Count = @{ Type = 'long'; Default = 5 }
            Ratio = @{ Type = 'double'; Default = 2 }
        } | Out-Null
        $r = Invoke-ModuleAPI M Defaults
        $r.When | Should -BeOfType ([datetime])
        $r.When.ToUniversalTime() | Should -Be ([datetime]::new(2024, 1, 2, 3, 4, 5, [DateTimeKind]::Utc))
        $r.Count | Should -BeOfType ([long])
        $r.Count | Should -Be 5
        $r.Ratio | Should -BeOfType ([double])
    }

    It 'hands a [pscustomobject] to a hashtable parameter as a hashtable, and refuses other objects as the caller''s mistake' {
        $script:ran = 0
        Register-ModuleAPI -ModuleName M -APIName Cfg -Handler { param($Options) $script:ran++; $Options } -Parameters @{ Options = @{ Type = 'hashtable' } } | Out-Null
        $r = Invoke-ModuleAPI M Cfg @{ Options = [pscustomobject]@{ a = 1; B = 'two' } }
        $r | Should -BeOfType ([hashtable])
        $r.ContainsKey('A') | Should -BeTrue
        $r.a | Should -Be 1
        $r.b | Should -Be 'two'
        $err = { Invoke-ModuleAPI M Cfg @{ Options = [System.Text.StringBuilder]::new('x') } -RetryAttempts 0 } | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -BeLike 'ParameterValidationFailed,*'
        $err.TargetObject | Should -Be 'Options'
        $err.Exception.Message | Should -BeLike '*Options: a hashtable parameter takes a dictionary or a `[pscustomobject`], not a System.Text.StringBuilder*'
        $script:ran | Should -Be 1
    }

    It 'hands a [datetimeoffset] to a datetime parameter as the same instant in local time' {
        Register-ModuleAPI -ModuleName Dates -APIName Op -Handler { param($When) $When } -Parameters @{ When = @{ Type = 'datetime' } } | Out-Null
        $r = Invoke-ModuleAPI Dates Op @{ When = [datetimeoffset]'2026-05-01T10:00:00+05:00' }
        $r | Should -BeOfType ([datetime])
        $r.Kind | Should -Be 'Local'
        $r.ToUniversalTime() | Should -Be ([datetime]::new(2026, 5, 1, 5, 0, 0, [DateTimeKind]::Utc))
    }

    It 'reports a value that passed validation but cannot be converted as the caller''s mistake, counted by no breaker' {
        Register-ModuleAPI -ModuleName Dates -APIName Op -Handler { $script:ran++ } -Parameters @{ When = @{ Type = 'datetime' } } | Out-Null
        # ISO 8601 allows a leap second, which .NET's DateTime does not.
        foreach ($i in 1..6) {
            $err = { Invoke-ModuleAPI Dates Op @{ When = '2016-12-31T23:59:60Z' } } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -BeLike 'ParameterValidationFailed,*'
            $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
            $err.TargetObject | Should -Be 'When'
            $err.Exception.Category | Should -Be 'Validation'
            $err.Exception.ParameterErrors.Parameter | Should -Be 'When'
            $err.Exception.Message | Should -BeLike 'invalid parameters for Dates.Op: When: Cannot convert value "2016-12-31T23:59:60Z" to type "System.DateTime"*The handler did not run*'
        }
        $script:ran | Should -Be 0
        # Six would have opened it (FailureThreshold 5); a valid caller still gets through.
        Invoke-ModuleAPI Dates Op @{ When = [datetime]::Now } | Out-Null
        $script:ran | Should -Be 1
        $breaker = (Get-CircuitBreakerStatus -OperationName Dates.Op).CircuitBreakers['Dates.Op']
        $breaker.State | Should -Be 'Closed'
        $breaker.TotalCalls | Should -Be 1
        $breaker.TotalFailures | Should -Be 0
    }

    It 'reports a handler''s <Category> failure as <ErrorId> in the PowerShell category <PsCategory>' -ForEach @(
        @{ Category = 'HandlerFailed'; ErrorId = 'APIHandlerFailed'; PsCategory = 'InvalidResult' }
        @{ Category = 'Unavailable'; ErrorId = 'APIUnavailable'; PsCategory = 'ResourceUnavailable' }
        @{ Category = 'Timeout'; ErrorId = 'APITimeout'; PsCategory = 'OperationTimeout' }
        @{ Category = 'Cancelled'; ErrorId = 'APICancelled'; PsCategory = 'OperationStopped' }
        @{ Category = 'Authorization'; ErrorId = 'AuthorizationFailed'; PsCategory = 'PermissionDenied' }
        @{ Category = 'Authentication'; ErrorId = 'AuthenticationFailed'; PsCategory = 'AuthenticationError' }
        @{ Category = 'NotFound'; ErrorId = 'APINotFound'; PsCategory = 'ObjectNotFound' }
        @{ Category = 'CallDepthExceeded'; ErrorId = 'APICallDepthExceeded'; PsCategory = 'LimitsExceeded' }
    ) {
        $handler = [scriptblock]::Create("throw [ModuleCommunication.ApiErrorException]::new('$Category', 'it went wrong')")
        Register-ModuleAPI -ModuleName M -APIName Op -Handler $handler | Out-Null
        $err = { Invoke-ModuleAPI M Op -RetryAttempts 0 -EnableCircuitBreaker:$false } |
            Should -Throw -ErrorId "$ErrorId,ModuleCommunication.Commands.InvokeModuleAPICommand" -PassThru
        $err.CategoryInfo.Category | Should -Be $PsCategory
        $err.Exception.Category | Should -Be $Category
    }

    It 'fails a missing required parameter naming it, and the handler never runs' {
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { $script:ran++ } -Parameters @{
            StepName = @{ Type = 'string'; Required = $true; Description = 'Name of the step to execute' }
        } | Out-Null
        $err = { Invoke-ModuleAPI M Op @{} } |
            Should -Throw -ErrorId 'ParameterValidationFailed,ModuleCommunication.Commands.InvokeModuleAPICommand' -PassThru
        $err.TargetObject | Should -Be 'StepName'
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err.Exception.Message | Should -BeLike '*StepName: required, but not given (string: Name of the step to execute)*'
        $err.Exception.Message | Should -BeLike '*Get-ModuleAPIs*'
        $err.Exception.Message | Should -Not -BeLike '*mc_api_list*'
        $err.Exception.Category | Should -Be 'Validation'
        $err.Exception.ParameterErrors[0].Parameter | Should -Be 'StepName'
        $script:ran | Should -Be 0
    }

    It 'fails a wrong type and an unknown parameter, naming each' {
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { $script:ran++ } -Parameters @{
            Count = @{ Type = 'int' }
        } | Out-Null
        $err = { Invoke-ModuleAPI M Op @{ Count = 'five'; Colour = 'red' } } | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -Be 'ParameterValidationFailed,ModuleCommunication.Commands.InvokeModuleAPICommand'
        $err.Exception.ParameterErrors.Parameter | Should -Be @('Count', 'Colour')
        $err.Exception.Message | Should -BeLike "*Count: expected an int*got the string 'five'*"
        $err.Exception.Message | Should -BeLike '*Colour: not a parameter of M.Op (its parameters are Count)*'
        $script:ran | Should -Be 0
    }

    It 'names each invalid parameter also when a middleware passes the failure on' {
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { $script:ran++ } -Parameters @{
            Count = @{ Type = 'int' }
        } | Out-Null
        Add-APIMiddleware -Name 'Logging' -Handler { param($Context, $Next) & $Next $Context } | Out-Null
        $err = { Invoke-ModuleAPI M Op @{ Count = 'five'; Colour = 'red' } } | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -Be 'ParameterValidationFailed,ModuleCommunication.Commands.InvokeModuleAPICommand'
        $err.Exception.ParameterErrors.Parameter | Should -Be @('Count', 'Colour')
        $err.TargetObject | Should -Be 'Count'
        $script:ran | Should -Be 0
    }

    It 'refuses two keys of a case-sensitive dictionary that name one parameter, naming both (<Case>)' -ForEach @(
        @{ Case = 'schema'; Schema = @{ Path = @{ Type = 'string' } } }
        @{ Case = 'no schema'; Schema = $null }
    ) {
        $script:ran = 0
        $register = @{ ModuleName = 'Files'; APIName = 'Remove'; Handler = { param($Path) $script:ran++; $Path } }
        if ($Schema) { $register.Parameters = $Schema }
        Register-ModuleAPI @register | Out-Null
        $p = [hashtable]::new([StringComparer]::Ordinal)
        $p['Path'] = '/data/keep'
        $p['path'] = '/data/other'
        $err = { Invoke-ModuleAPI Files Remove $p } | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -BeLike 'ParameterValidationFailed,*'
        $err.Exception.Message | Should -BeLike "*'Path' and 'path' are both given (parameter names compare case-insensitively)*"
        $err.Exception.ParameterErrors.Parameter | Should -Be 'path'
        $t = Test-ModuleAPI Files Remove $p
        $t.Success | Should -BeFalse
        $t.ErrorCategory | Should -Be 'Validation'
        $script:ran | Should -Be 0
    }

    It 'refuses a key that is no parameter name for an API without a schema, as the caller''s mistake (<Key>)' -ForEach @(
        @{ Key = '' }
        @{ Key = 'a b' }
        @{ Key = '1st' }
        @{ Key = 'x' * 129 }
    ) {
        $script:ran = 0
        Register-ModuleAPI -ModuleName Q -APIName Echo -Handler { param($a) $script:ran++; "a=[$a] args=[$args]" } | Out-Null
        $err = { Invoke-ModuleAPI Q Echo @{ $Key = 'v' } -RetryAttempts 0 } | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -BeLike 'ParameterValidationFailed,*'
        $err.TargetObject | Should -Be $Key
        $err.Exception.Message | Should -BeLike "*'$Key' is not a parameter name: use 1 to 128 letters, digits and underscores*"
        $script:ran | Should -Be 0
        (Get-CircuitBreakerStatus -OperationName Q.Echo).CircuitBreakers['Q.Echo'].TotalFailures | Should -Be 0
    }

    It 'checks ValidateSet case-insensitively and Pattern like ValidatePattern' {
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { param($Mode, $Name) "$Mode $Name" } -Parameters @{
            Mode = @{ Type = 'string'; ValidateSet = 'Quick', 'Full' }
            Name = @{ Type = 'string'; Pattern = '^vm-\d+$' }
        } | Out-Null
        Invoke-ModuleAPI M Op @{ Mode = 'quick'; Name = 'VM-7' } | Should -Be 'quick VM-7'
        { Invoke-ModuleAPI M Op @{ Mode = 'Fast' } } | Should -Throw -ExpectedMessage "*Mode: the string 'Fast' is not one of the allowed values ('Quick', 'Full')*"
        { Invoke-ModuleAPI M Op @{ Name = 'host' } } | Should -Throw -ExpectedMessage "*Name: 'host' does not match the pattern*"
    }

    It 'fails an unknown API with APINotFound' {
        $err = { Invoke-ModuleAPI -Module No -Operation Such } |
            Should -Throw -ErrorId 'APINotFound,ModuleCommunication.Commands.InvokeModuleAPICommand' -PassThru
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err.Exception.Message | Should -BeLike "*'No.Such' is not registered*"
    }

    It 'fails with APIHandlerFailed when the handler throws, keeping the handler''s error inside' {
        Register-ModuleAPI -ModuleName M -APIName Boom -Handler { throw 'kaboom' } | Out-Null
        $err = { Invoke-ModuleAPI M Boom } |
            Should -Throw -ErrorId 'APIHandlerFailed,ModuleCommunication.Commands.InvokeModuleAPICommand' -PassThru
        $err.Exception.Message | Should -BeLike '*The handler of M.Boom failed: kaboom*'
        $err.Exception.InnerException.Message | Should -Be 'kaboom'
        (Get-ModuleAPIs M Boom).LastError | Should -BeLike '*kaboom*'
    }

    It 'fails with APIHandlerFailed when the handler uses break outside a loop of its own; the caller''s loop goes on' {
        Register-ModuleAPI -ModuleName M -APIName Brk -Handler { break } | Out-Null
        $seen = foreach ($i in 1..3) {
            try { Invoke-ModuleAPI M Brk } catch { "$i $($_.FullyQualifiedErrorId)" }
        }
        $seen | Should -Be @(1..3 | ForEach-Object { "$_ APIHandlerFailed,ModuleCommunication.Commands.InvokeModuleAPICommand" })
        (Get-ModuleAPIs M Brk).LastError | Should -BeLike '*used break, continue or exit outside a loop of its own*'
    }

    It 'fails with APIHandlerFailed when a middleware uses continue' {
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { 'ran' } | Out-Null
        Add-APIMiddleware -Name Skipper -Handler { param($Context, $Next) continue } | Out-Null
        $seen = foreach ($i in 1..2) {
            try { Invoke-ModuleAPI M Op } catch { $_.Exception.Message }
        }
        $seen.Count | Should -Be 2
        $seen[1] | Should -BeLike '*Skipper*failed*use return to end a handler early*'
    }

    It 'fails with APIHandlerFailed when the handler calls exit; the calling script goes on' {
        $ps = [powershell]::Create()
        try {
            $out = $ps.AddScript("Import-Module '$script:Psd1'
                Register-ModuleAPI -ModuleName M -APIName Quit -Handler { exit 5 } | Out-Null
                try { Invoke-ModuleAPI -Module M -Operation Quit } catch { 'caught ' + `$_.FullyQualifiedErrorId }
                'continues'").Invoke()
            $out | Should -Be @('caught APIHandlerFailed,ModuleCommunication.Commands.InvokeModuleAPICommand', 'continues')
        } finally { $ps.Dispose() }
    }

    It 'does not change the caller''s hashtable' {
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { } | Out-Null
        Add-APIMiddleware -Name Changer -Handler { param($Context, $Next) $Context.Parameters.Added = 1; & $Next $Context } | Out-Null
        $mine = @{ A = 1 }
        Invoke-ModuleAPI M Op $mine
        $mine.Keys | Should -Be @('A')
    }

    It 'writes the handler''s non-terminating errors as its own' {
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { Write-Error 'soft failure' -ErrorAction Continue; 'done' } | Out-Null
        $r = Invoke-ModuleAPI M Op -ErrorVariable soft -ErrorAction SilentlyContinue
        $r | Should -Be 'done'
        $soft.Count | Should -Be 1
        "$($soft[0])" | Should -Be 'soft failure'
    }

    It 'runs the handler with the caller''s $ErrorActionPreference, as a function: Stop makes its Write-Error fail the call' {
        Register-ModuleAPI -ModuleName M -APIName Soft -Handler { Write-Error 'soft failure'; 'done' } | Out-Null
        $err = & {
            $ErrorActionPreference = 'Stop'
            { Invoke-ModuleAPI M Soft -RetryAttempts 0 } | Should -Throw -PassThru
        }
        $err.FullyQualifiedErrorId | Should -BeLike 'APIHandlerFailed,*'
        $err.Exception.Message | Should -BeLike '*soft failure*'
        { Invoke-ModuleAPI M Soft -RetryAttempts 0 -ErrorAction Stop } | Should -Throw -ErrorId 'APIHandlerFailed,*'
        & {
            $ErrorActionPreference = 'Continue'
            Invoke-ModuleAPI M Soft -RetryAttempts 0 -ErrorVariable soft -ErrorAction SilentlyContinue | Should -Be 'done'
            $soft.Count | Should -Be 1
        }
    }

    It 'lets a handler call the module''s cmdlets: a handler that publishes a message' {
        New-MessageChannel -Name 'ApiEvents' -ErrorAction SilentlyContinue | Out-Null
        $script:seen = [System.Collections.Generic.List[object]]::new()
        $sub = Subscribe-ModuleMessage -Channel 'ApiEvents' -Handler { param($Message) $script:seen.Add($Message.Data) }
        Register-ModuleAPI -ModuleName ConfigurationCore -APIName NotifyChange -Handler {
            param($ModuleName, $Setting, $OldValue, $NewValue)
            Publish-ModuleMessage -Channel 'ApiEvents' -MessageType 'ConfigurationChanged' -Data @{
                Module = $ModuleName; Setting = $Setting; OldValue = $OldValue; NewValue = $NewValue
            }
        } | Out-Null
        $id = Invoke-ModuleAPI ConfigurationCore NotifyChange @{ ModuleName = 'LabRunner'; Setting = 'MaxJobs'; OldValue = 5; NewValue = 10 }
        $id | Should -BeOfType ([guid])
        $id | Wait-ModuleMessage -Timeout 10
        $script:seen[0].NewValue | Should -Be 10
        $sub | Unsubscribe-ModuleMessage | Out-Null
        Remove-MessageChannel -Name 'ApiEvents' -Force | Out-Null
    }

    It 'lets a handler publish an event (the spec''s ConfigurationCore integration, as written)' {
        $script:events = [System.Collections.Generic.List[object]]::new()
        $sub = Subscribe-ModuleEvent -EventName 'ConfigurationChanged' -Handler { param($Event) $script:events.Add($Event.Data) }
        Register-ModuleAPI -ModuleName "ConfigurationCore" -APIName "NotifyChange" -Handler {
            param($ModuleName, $Setting, $OldValue, $NewValue)

            Publish-ModuleEvent -EventName "ConfigurationChanged" -EventData @{
                Module = $ModuleName
                Setting = $Setting
                OldValue = $OldValue
                NewValue = $NewValue
                Timestamp = Get-Date
            }
        } | Out-Null
        Invoke-ModuleAPI ConfigurationCore NotifyChange @{ ModuleName = 'LabRunner'; Setting = 'MaxJobs'; OldValue = 5; NewValue = 10 } | Out-Null
        Wait-Until { $script:events.Count -gt 0 } -TimeoutSeconds 10 | Should -BeTrue
        $script:events[0].Setting | Should -Be 'MaxJobs'
        $sub | Unsubscribe-ModuleEvent | Out-Null
    }

    It 'lets a handler invoke another API; the inner call has depth 2' {
        Register-ModuleAPI -ModuleName M -APIName Inner -Handler { 'inner' } | Out-Null
        Add-APIMiddleware -Name Depth -Handler { param($Context, $Next) "$($Context.Depth):" + (& $Next $Context) } | Out-Null
        Register-ModuleAPI -ModuleName M -APIName Outer -Handler { Invoke-ModuleAPI M Inner } | Out-Null
        Invoke-ModuleAPI M Outer | Should -Be '1:2:inner'
    }

    It 'stops unbounded recursion at the depth limit with a clear error' {
        Register-ModuleAPI -ModuleName M -APIName Recurse -Handler { $script:ran++; Invoke-ModuleAPI M Recurse } | Out-Null
        $err = { Invoke-ModuleAPI M Recurse } |
            Should -Throw -ErrorId 'APICallDepthExceeded,ModuleCommunication.Commands.InvokeModuleAPICommand' -PassThru
        $err.Exception.Message | Should -BeLike '*would nest API calls 33 deep*more than the limit of 32*without an end condition*'
        $script:ran | Should -Be 32
        # Nothing is left broken.
        Register-ModuleAPI -ModuleName M -APIName Fine -Handler { 'fine' } | Out-Null
        Invoke-ModuleAPI M Fine | Should -Be 'fine'
    }

    It 'completes module and API names' {
        Register-ModuleAPI -ModuleName LabRunner -APIName ExecuteStep -Handler { } | Out-Null
        Register-ModuleAPI -ModuleName LabRunner -APIName Stop -Handler { } | Out-Null
        $line = 'Invoke-ModuleAPI -Module Lab'
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('LabRunner')
        $line = 'Invoke-ModuleAPI -Module LabRunner -Operation '
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('ExecuteStep', 'Stop')
    }

    It 'completes a module name that is not a plain word quoted, so that the completed call runs' {
        Register-ModuleAPI -ModuleName 'Ops&Co' -APIName 'Run' -Handler { 'ran' } | Out-Null
        $module = Get-CompletionText 'Invoke-ModuleAPI -Module Ops' 'Ops&Co'
        $operation = Get-CompletionText "Invoke-ModuleAPI -Module $module -Operation " 'Run'
        Invoke-Expression "Invoke-ModuleAPI -Module $module -Operation $operation" | Should -Be 'ran'
        $module = Get-CompletionText 'Get-ModuleAPIs -ModuleName Ops' 'Ops&Co'
        (Invoke-Expression "Get-ModuleAPIs -ModuleName $module").APIKey | Should -Be 'Ops&Co.Run'
    }
}

# These tests are about one timed-out attempt: -RetryAttempts 0, since a timeout is retryable.
Describe 'Invoke-ModuleAPI -Timeout' {
    BeforeEach { Reset-Registry }
    AfterAll { Reset-Registry }

    It 'stops a handler that never returns and fails with APITimeout in time' {
        Register-ModuleAPI -ModuleName M -APIName Spin -Handler { while ($true) { } } | Out-Null
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        { Invoke-ModuleAPI M Spin -Timeout 0.5 -RetryAttempts 0 } | Should -Throw -ErrorId 'APITimeout,ModuleCommunication.Commands.InvokeModuleAPICommand'
        # Ran until the deadline, not failed at once (the core's clock counts whole milliseconds,
        # so the deadline may come a fraction of one early: 0.49995 s was seen).
        $watch.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 0.45
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 10
    }

    It 'stops a handler in Start-Sleep at the deadline and runs its finally block' {
        $global:mcFinallyRan = $false
        Register-ModuleAPI -ModuleName M -APIName Sleepy -Handler { try { Start-Sleep -Seconds 60 } finally { $global:mcFinallyRan = $true } } | Out-Null
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        $err = { Invoke-ModuleAPI M Sleepy -Timeout 0.3 -RetryAttempts 0 } | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -Be 'APITimeout,ModuleCommunication.Commands.InvokeModuleAPICommand'
        $err.CategoryInfo.Category | Should -Be 'OperationTimeout'
        $err.Exception.Message | Should -BeLike '*M.Sleepy did not complete within its timeout of 300 ms*'
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 10
        $global:mcFinallyRan | Should -BeTrue
    }

    It 'applies the API''s -Timeout to calls that give none' {
        Register-ModuleAPI -ModuleName M -APIName Sleepy -Timeout 0.3 -Handler { Start-Sleep -Seconds 60 } | Out-Null
        (Get-ModuleAPIs M Sleepy).DefaultTimeout | Should -Be ([timespan]::FromMilliseconds(300))
        { Invoke-ModuleAPI M Sleepy -RetryAttempts 0 } | Should -Throw -ErrorId 'APITimeout,ModuleCommunication.Commands.InvokeModuleAPICommand'
    }

    It 'returns the result of a call that finishes in time' {
        Register-ModuleAPI -ModuleName M -APIName Quick -Handler { param($X) $X * 2 } -Timeout 30 | Out-Null
        Invoke-ModuleAPI M Quick @{ X = 21 } | Should -Be 42
        Invoke-ModuleAPI M Quick @{ X = 4 } -Timeout 10 | Should -Be 8
    }

    It 'cannot interrupt one blocking .NET call: the call fails with APITimeout once it returns (documented)' {
        Register-ModuleAPI -ModuleName M -APIName Blocked -Handler { [System.Threading.Thread]::Sleep(1500); 'late' } | Out-Null
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        { Invoke-ModuleAPI M Blocked -Timeout 0.2 -RetryAttempts 0 } | Should -Throw -ErrorId 'APITimeout,ModuleCommunication.Commands.InvokeModuleAPICommand'
        $watch.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 1.4
    }

    It 'refuses a timeout that is not positive' {
        Register-ModuleAPI -ModuleName M -APIName Quick -Handler { } | Out-Null
        { Invoke-ModuleAPI M Quick -Timeout 0 } | Should -Throw -ErrorId 'InvalidTimeout,ModuleCommunication.Commands.InvokeModuleAPICommand'
        # A negative one is refused while binding; its message asks for what is taken, not for "0 or more".
        { Invoke-ModuleAPI M Quick -Timeout -1 } | Should -Throw "*'-1' is a negative duration; give a number of seconds greater than 0*"
        { Register-ModuleAPI -ModuleName M -APIName Quick2 -Handler { } -Timeout -1 } | Should -Throw "*give a number of seconds greater than 0*"
    }
}

Describe 'Invoke-ModuleAPI -Async' {
    BeforeEach { Reset-Registry }
    AfterAll {
        Get-Job | Where-Object PSJobTypeName -eq 'ModuleAPIJob' | Remove-Job -Force
        Reset-Registry
    }

    It 'completes -Async calls that wait for -Async calls of their own, more than the pool holds' {
        Register-ModuleAPI -ModuleName N -APIName Inner -Handler { param($i) "inner $i" } | Out-Null
        Register-ModuleAPI -ModuleName N -APIName Outer -Handler {
            param($i)
            $r = Invoke-ModuleAPI N Inner @{ i = $i } -Async | Wait-Job | Receive-Job
            "outer $i got [$r]"
        } | Out-Null
        # Eight outer calls fill the pool of four twice over; queued there, their inner calls
        # would wait for a runspace that only a finished outer call frees.
        $jobs = 1..8 | ForEach-Object { Invoke-ModuleAPI N Outer @{ i = $_ } -Async }
        $jobs | Wait-Job -Timeout 60 | Out-Null
        $jobs.State | Should -Be (@('Completed') * 8)
        $jobs | Receive-Job | Should -Be (1..8 | ForEach-Object { "outer $_ got [inner $_]" })
        $jobs | Remove-Job
    }

    It 'runs an API call made by its handler in the same pool runspace, while the caller waits in Wait-Job' {
        Register-ModuleAPI -ModuleName D -APIName Inner -Handler { param($Context) "inner on $([runspace]::DefaultRunspace.InstanceId) at depth $($Context.Depth)" } | Out-Null
        Register-ModuleAPI -ModuleName D -APIName Timed -Handler { 'timed' } | Out-Null
        Add-APIMiddleware -Name Tag -ModuleName D -APIName Inner -Handler { param($Context, $Next) '[' + (& $Next $Context) + ']' } | Out-Null
        Register-ModuleAPI -ModuleName D -APIName Outer -Handler {
            "outer on $([runspace]::DefaultRunspace.InstanceId)"
            Invoke-ModuleAPI D Inner
            Invoke-ModuleAPI D Timed -Timeout 20
        } | Out-Null
        $job = Invoke-ModuleAPI D Outer -Async
        # Sent to this runspace, blocked here in Wait-Job, the inner calls would wait for their 30 s timeout and retry.
        $job | Wait-Job -Timeout 20 | Out-Null
        $job.State | Should -Be 'Completed'
        $outer, $inner, $timed = Receive-Job $job
        $runspace = $outer -replace '^outer on '
        $runspace | Should -Not -Be ([runspace]::DefaultRunspace.InstanceId.ToString())
        $inner | Should -Be "[inner on $runspace at depth 2]"
        $timed | Should -Be 'timed'
        $job | Remove-Job
    }

    It 'returns a real job that Get-Job, Wait-Job, Receive-Job and Remove-Job work with' {
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { param($X) $X; $X + 1 } | Out-Null
        $job = Invoke-ModuleAPI M Op @{ X = 1 } -Async
        $job | Should -BeOfType ([System.Management.Automation.Job])
        $job.PSJobTypeName | Should -Be 'ModuleAPIJob'
        $job.Name | Should -Be 'M.Op'
        (Get-Job -Id $job.Id).InstanceId | Should -Be $job.InstanceId
        $job | Wait-Job -Timeout 60 | Out-Null
        $job.State | Should -Be 'Completed'
        Receive-Job $job | Should -Be @(1, 2)
        Remove-Job $job
        Get-Job -Id $job.Id -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'runs on the module''s pool while the caller is blocked in Wait-Job' {
        Register-ModuleAPI -ModuleName M -APIName Where -Handler { [runspace]::DefaultRunspace.InstanceId } | Out-Null
        $job = Invoke-ModuleAPI M Where -Async
        $job | Wait-Job -Timeout 60 | Out-Null
        $ran = Receive-Job $job
        $ran | Should -BeOfType ([guid])
        $ran | Should -Not -Be ([runspace]::DefaultRunspace.InstanceId)
        Remove-Job $job
    }

    It 'fails the job with the call''s error, which Receive-Job writes' {
        Register-ModuleAPI -ModuleName M -APIName Boom -Handler { throw 'kaboom' } | Out-Null
        $job = Invoke-ModuleAPI M Boom -Async
        $job | Wait-Job -Timeout 60 | Out-Null
        $job.State | Should -Be 'Failed'
        # Readable without receiving; and written once by Receive-Job (no JobStateFailed copy).
        $job.Failure.ErrorRecord.FullyQualifiedErrorId | Should -Be 'APIHandlerFailed'
        $job.StatusMessage | Should -BeLike '*kaboom*'
        Receive-Job $job -ErrorVariable failure -ErrorAction SilentlyContinue
        $failure | Should -HaveCount 1
        $failure[0].FullyQualifiedErrorId | Should -Be 'APIHandlerFailed'
        "$($failure[0])" | Should -BeLike '*The handler of M.Boom failed: kaboom*'
        Remove-Job $job
    }

    It 'fails the job with APITimeout when its -Timeout passes' {
        Register-ModuleAPI -ModuleName M -APIName Sleepy -Handler { Start-Sleep -Seconds 60 } | Out-Null
        $job = Invoke-ModuleAPI M Sleepy -Async -Timeout 0.5 -RetryAttempts 0
        $job | Wait-Job -Timeout 60 | Out-Null
        $job.State | Should -Be 'Failed'
        Receive-Job $job -ErrorVariable failure -ErrorAction SilentlyContinue
        $failure[0].FullyQualifiedErrorId | Should -Be 'APITimeout'
        Remove-Job $job
    }

    It 'is stopped by Stop-Job' {
        Register-ModuleAPI -ModuleName M -APIName Sleepy -Handler { Start-Sleep -Seconds 60 } | Out-Null
        $job = Invoke-ModuleAPI M Sleepy -Async
        Wait-Until { $job.State -eq 'Running' } | Should -BeTrue
        Stop-Job $job
        $job.State | Should -Be 'Stopped'
        Remove-Job $job
    }

    It 'fails validation in the job, without running the handler' {
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { 'ran' } -Parameters @{ A = @{ Type = 'int'; Required = $true } } | Out-Null
        $job = Invoke-ModuleAPI M Op -Async
        $job | Wait-Job -Timeout 60 | Out-Null
        Receive-Job $job -ErrorVariable failure -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $failure[0].FullyQualifiedErrorId | Should -Be 'ParameterValidationFailed'
        Remove-Job $job
    }

    It 'explains that a handler re-created in the pool cannot see the caller''s functions' {
        function Get-OnlyHere { 'here' }
        Register-ModuleAPI -ModuleName M -APIName UsesLocal -Handler { Get-OnlyHere } | Out-Null
        Invoke-ModuleAPI M UsesLocal | Should -Be 'here'
        $job = Invoke-ModuleAPI M UsesLocal -Async
        $job | Wait-Job -Timeout 60 | Out-Null
        $job.State | Should -Be 'Failed'
        $job.Failure.InnerException | Should -BeOfType ([System.Management.Automation.CommandNotFoundException])
        $job.Failure.Message | Should -BeLike '*runspace pool, re-created from their text*'
        Remove-Job $job
    }

    It 'says a call timed out waiting for a pool runspace, not in its handler, when the pool stayed busy' {
        $busy = [System.Collections.Concurrent.ConcurrentQueue[int]]::new()
        [AppDomain]::CurrentDomain.SetData('mc-test-busy', $busy)
        # A timed call runs in this runspace's nested pipeline; that must not make this runspace
        # count as one of the pool's (whose -Async calls get runspaces of their own).
        Register-ModuleAPI -ModuleName M -APIName Quick -Handler { 1 } | Out-Null
        Invoke-ModuleAPI M Quick -Timeout 5 -RetryAttempts 0 | Should -Be 1
        Register-ModuleAPI -ModuleName M -APIName Hold -Handler { [AppDomain]::CurrentDomain.GetData('mc-test-busy').Enqueue(1); Start-Sleep -Seconds 60 } | Out-Null
        $holders = 1..4 | ForEach-Object { Invoke-ModuleAPI M Hold -Async -RetryAttempts 0 }
        try {
            Wait-Until { $busy.Count -eq 4 } -TimeoutSeconds 30 | Should -BeTrue
            $late = Invoke-ModuleAPI M Hold -Async -Timeout 1 -RetryAttempts 0
            $late | Wait-Job -Timeout 30 | Out-Null
            $late.State | Should -Be 'Failed'
            $late.Failure.ErrorRecord.FullyQualifiedErrorId | Should -Be 'APITimeout'
            $late.Failure.Message | Should -BeLike '*did not start within its timeout*pool*came free*'
            $busy.Count | Should -Be 4 -Because 'the late call never ran'
            Remove-Job $late
        } finally {
            $holders | Stop-Job
            $holders | Remove-Job -Force
        }
    }

    It 'lets pwsh exit while a call''s handler waits in a .NET call (pwsh closes every runspace, the pool''s too)' {
        $child = Invoke-ChildPwsh -TimeoutSeconds 60 -Script @'
Import-Module $env:MC_MODULE_PSD1
$started = [System.Threading.ManualResetEventSlim]::new($false)
[AppDomain]::CurrentDomain.SetData('mc-started', $started)
Register-ModuleAPI -ModuleName M -APIName Stuck -Handler {
    [AppDomain]::CurrentDomain.GetData('mc-started').Set()
    [System.Threading.Thread]::Sleep(600000)
} | Out-Null
$job = Invoke-ModuleAPI M Stuck -Async -RetryAttempts 0
if ($started.Wait(30000)) { 'handler started' }
exit 4
'@
        $child.Output | Should -BeLike '*handler started*'
        $child.Exited | Should -BeTrue -Because 'a handler blocked in Thread.Sleep must not keep pwsh from exiting'
        $child.ExitCode | Should -Be 4
    }

    It 'lets pwsh exit while more calls wait for the pool than it has runspaces' {
        # pwsh disposes the runspaces open when it starts exiting, the pool's among them, but
        # not the pool: a waiting call then got a new runspace, which nothing closed and whose
        # thread kept the process alive for ever. The blocker, closed after the pool's runspaces,
        # gives the waiting calls time to get one.
        $child = Invoke-ChildPwsh -TimeoutSeconds 60 -Script @'
Import-Module $env:MC_MODULE_PSD1
$started = [System.Threading.SemaphoreSlim]::new(0)
[AppDomain]::CurrentDomain.SetData('mc-started', $started)
Register-ModuleAPI -ModuleName M -APIName Slow -Handler {
    [AppDomain]::CurrentDomain.GetData('mc-started').Release() | Out-Null
    Start-Sleep -Seconds 60
} | Out-Null
$jobs = 1..8 | ForEach-Object { Invoke-ModuleAPI M Slow -Async -RetryAttempts 0 }
$running = 0
while ($running -lt 4 -and $started.Wait(30000)) { $running++ }
"$running running"
$blocker = [powershell]::Create()
$null = $blocker.AddScript('[System.Threading.Thread]::Sleep(4000)').BeginInvoke()
Start-Sleep -Milliseconds 200
exit 4
'@
        $child.Output | Should -BeLike '*4 running*'
        $child.Exited | Should -BeTrue -Because 'calls waiting for a pool runspace must not keep pwsh from exiting'
        $child.ExitCode | Should -Be 4
        $child.Output | Should -Not -BeLike '*Unhandled exception*'
    }
}

Describe 'Calls from other runspaces' {
    BeforeEach {
        Reset-Registry
        Reset-Bus
        $script:owner = [runspace]::DefaultRunspace.InstanceId
        $script:ownerThread = [System.Threading.Thread]::CurrentThread.ManagedThreadId
        $script:counter = 0
        # The handler reports where it ran and touches a variable of this script.
        Register-ModuleAPI -ModuleName Main -APIName Whoami -Handler {
            $script:counter++
            '{0}/{1}' -f [runspace]::DefaultRunspace.InstanceId, [System.Threading.Thread]::CurrentThread.ManagedThreadId
        } | Out-Null
    }
    AfterAll {
        Reset-Registry
        Reset-Bus
    }

    It 'runs a handler on its owner''s thread when a -RunAsync message handler calls it' {
        New-MessageChannel -Name Work | Out-Null
        $results = [System.Collections.Concurrent.ConcurrentQueue[object]]::new()
        Subscribe-ModuleMessage -Channel Work -RunAsync -ArgumentList (, $results) -Handler {
            param($Message, $results)
            try { $results.Enqueue((Invoke-ModuleAPI Main Whoami -Timeout 30)) } catch { $results.Enqueue("error: $_") }
        } | Out-Null
        Publish-ModuleMessage -Channel Work -MessageType T | Out-Null
        # A polling loop: each iteration is a checkpoint at which this runspace runs the posted call.
        Wait-Until { $results.Count -gt 0 } -TimeoutSeconds 30 | Should -BeTrue
        $results.ToArray()[0] | Should -Be "$script:owner/$script:ownerThread"
        $script:counter | Should -Be 1
    }

    It 'runs posted calls while the owner pumps with Wait-ModuleMessage' {
        New-MessageChannel -Name Work | Out-Null
        $results = [System.Collections.Concurrent.ConcurrentQueue[object]]::new()
        Subscribe-ModuleMessage -Channel Work -RunAsync -ArgumentList (, $results) -Handler {
            param($Message, $results)
            $results.Enqueue((Invoke-ModuleAPI Main Whoami -Timeout 30))
        } | Out-Null
        # Delivered only once the handler's API call returned, which needs this runspace.
        Publish-ModuleMessage -Channel Work -MessageType T | Wait-ModuleMessage -Timeout 30
        $results.Count | Should -Be 1
        $results.ToArray()[0] | Should -Be "$script:owner/$script:ownerThread"
    }

    It 'runs a handler for a thread job while the owner polls' {
        $job = Start-ThreadJob -ArgumentList $script:Psd1 -ScriptBlock {
            param($Psd1)
            Import-Module $Psd1
            Invoke-ModuleAPI -Module Main -Operation Whoami -Timeout 30
        }
        Wait-Until { $job.State -notin 'NotStarted', 'Running' } -TimeoutSeconds 30 | Should -BeTrue
        Receive-Job $job | Should -Be "$script:owner/$script:ownerThread"
        Remove-Job $job
    }

    It 'traces a message a handler publishes for a thread job''s call with that call''s request id' {
        New-MessageChannel -Name Work | Out-Null
        Register-ModuleAPI -ModuleName Main -APIName Publish -Handler {
            Publish-ModuleMessage -Channel Work -MessageType FromHandler | Out-Null
        } | Out-Null
        Enable-MessageTracing -Level Basic | Out-Null
        try {
            $job = Start-ThreadJob -ArgumentList $script:Psd1 -ScriptBlock {
                param($Psd1)
                Import-Module $Psd1
                Invoke-ModuleAPI -Module Main -Operation Publish -Timeout 30 -RetryAttempts 0
            }
            Wait-Until { $job.State -notin 'NotStarted', 'Running' } -TimeoutSeconds 30 | Should -BeTrue
            $job.State | Should -Be 'Completed'
            $records = @(Get-MessageTrace)
            $call = $records | Where-Object { $_.Event -eq 'apiCall' -and $_.Api -eq 'Main.Publish' }
            $call.RequestId | Should -Not -BeNullOrEmpty
            ($records | Where-Object Event -eq 'publish').RequestId | Should -Be $call.RequestId
        }
        finally {
            Disable-MessageTracing | Out-Null
            Remove-Job $job -Force -ErrorAction Ignore
        }
    }

    It 'names both runspaces'' APIs in the chain of calls that nest too deep' {
        Register-ModuleAPI -ModuleName M -APIName Ping -Handler {
            Invoke-ModuleAPI -Module J -Operation Pong -Timeout 60 -RetryAttempts 0 -ErrorAction Stop
        } | Out-Null
        $done = [System.Threading.ManualResetEventSlim]::new($false)
        $job = Start-ThreadJob -ArgumentList $script:Psd1, $done -ScriptBlock {
            param($Psd1, $done)
            Import-Module $Psd1
            Register-ModuleAPI -ModuleName J -APIName Pong -Handler {
                Invoke-ModuleAPI -Module M -Operation Ping -Timeout 60 -RetryAttempts 0 -ErrorAction Stop
            } | Out-Null
            # Each iteration is a checkpoint at which this runspace runs the calls posted to it.
            while (-not $done.IsSet) { Start-Sleep -Milliseconds 20 }
        }
        try {
            Wait-Until { Get-ModuleAPIs -ModuleName J -ErrorAction SilentlyContinue } -TimeoutSeconds 30 | Should -BeTrue
            $err = $null
            try { Invoke-ModuleAPI -Module M -Operation Ping -RetryAttempts 0 -ErrorAction Stop } catch { $err = $_ }
            $err.FullyQualifiedErrorId | Should -BeLike 'APICallDepthExceeded,*'
            $err.Exception.Message | Should -BeLike '*(called from J.Pong ← M.Ping ← J.Pong ← M.Ping ← J.Pong ← …)*'
        }
        finally {
            $done.Set()
            Wait-Until { $job.State -notin 'NotStarted', 'Running' } -TimeoutSeconds 30 | Out-Null
            Remove-Job $job -Force -ErrorAction Ignore
        }
    }

    It 'runs a handler for ForEach-Object -Parallel -AsJob while the owner polls' {
        $job = 1..3 | ForEach-Object -AsJob -ThrottleLimit 3 -Parallel {
            Import-Module $using:Psd1
            Invoke-ModuleAPI -Module Main -Operation Whoami -Timeout 30
        }
        Wait-Until { $job.State -notin 'NotStarted', 'Running' } -TimeoutSeconds 30 | Should -BeTrue
        $out = Receive-Job $job
        $out.Count | Should -Be 3
        $out | ForEach-Object { $_ | Should -Be "$script:owner/$script:ownerThread" }
        $script:counter | Should -Be 3
        Remove-Job $job
    }

    It 'fails with APITimeout, never hangs, when the owner is blocked and cannot run the call' {
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        # ForEach-Object -Parallel blocks this thread until its workers end: the calls cannot run here.
        $errors = 1..2 | ForEach-Object -ThrottleLimit 2 -Parallel {
            Import-Module $using:Psd1
            # One attempt: a timeout is retryable, and this test is about the timeout alone.
            try { Invoke-ModuleAPI -Module Main -Operation Whoami -Timeout 1 -RetryAttempts 0 } catch { $_.FullyQualifiedErrorId + '|' + $_.Exception.Message }
        }
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 20
        $errors.Count | Should -Be 2
        $errors | ForEach-Object {
            $_ | Should -BeLike 'APITimeout,*|*did not start within the call''s timeout of 1000 ms*checkpoint*Wait-ModuleMessage*'
        }
        $script:counter | Should -Be 0
        # Cancelled calls never run later.
        Start-Sleep -Milliseconds 50
        $script:counter | Should -Be 0
    }

    It 'passes back the non-terminating errors of a handler that ran in the runspace that registered it' {
        $ps = [powershell]::Create()
        try {
            $ps.AddScript("Import-Module '$script:Psd1'; Register-ModuleAPI -ModuleName Other -APIName Soft -Handler { Write-Error 'soft failure'; 'done' } | Out-Null").Invoke()
            $r = Invoke-ModuleAPI Other Soft -Timeout 30 -ErrorVariable soft -ErrorAction SilentlyContinue
            $r | Should -Be 'done'
            $soft.Count | Should -Be 1
            "$($soft[0])" | Should -Be 'soft failure'
        } finally {
            $ps.Runspace.Close()
            $ps.Dispose()
        }
    }

    It 'runs a handler registered by an idle runspace, and forgets its APIs when it closes' {
        $ps = [powershell]::Create()
        try {
            $ps.AddScript("Import-Module '$script:Psd1'; Register-ModuleAPI -ModuleName Other -APIName Where -Handler { [runspace]::DefaultRunspace.InstanceId } | Out-Null").Invoke()
            $other = $ps.Runspace.InstanceId
            (Get-ModuleAPIs Other Where).RunspaceId | Should -Be $other
            Invoke-ModuleAPI Other Where -Timeout 30 | Should -Be $other
        } finally {
            $ps.Runspace.Close()
            $ps.Dispose()
        }
        Wait-Until { -not (Get-ModuleAPIs Other * -ErrorAction SilentlyContinue) } | Should -BeTrue
    }

    It 'stops a call to another runspace''s API at Ctrl+C, not at the call''s timeout, and stops the handler there' {
        $started = [System.Threading.ManualResetEventSlim]::new($false)
        $stopped = [System.Threading.ManualResetEventSlim]::new($false)
        $owner = [powershell]::Create()
        $caller = [powershell]::Create()
        try {
            $null = $owner.AddScript({
                param($Psd1, $started, $stopped)
                Import-Module $Psd1
                $global:started = $started
                $global:stopped = $stopped
                Register-ModuleAPI -ModuleName Slow -APIName Run -Handler {
                    try { $global:started.Set(); while ($true) { Start-Sleep -Milliseconds 10 } } finally { $global:stopped.Set() }
                } | Out-Null
            }).AddArgument($script:Psd1).AddArgument($started).AddArgument($stopped).Invoke()
            $null = $caller.AddScript({
                param($Psd1)
                Import-Module $Psd1
                Invoke-ModuleAPI -ModuleName Slow -APIName Run -Timeout 300
            }).AddArgument($script:Psd1).BeginInvoke()
            $started.Wait([timespan]::FromSeconds(30)) | Should -BeTrue
            Stop-LikeCtrlC $caller -TimeoutSeconds 30 |
                Should -BeTrue -Because 'the caller stops at Ctrl+C, not after the 300 s timeout'
            $stopped.Wait([timespan]::FromSeconds(30)) | Should -BeTrue -Because 'the handler is stopped in its runspace'
        } finally {
            $caller.Dispose()
            $owner.Runspace.Close()
            $owner.Dispose()
        }
    }

    It 'stops a caller with a -Timeout at Ctrl+C while the owner is blocked and has not started the call' {
        # The timed call runs in a nested pipeline, which PowerShell stops before it tells the cmdlet.
        $gate = [System.Threading.ManualResetEventSlim]::new($false)
        $registered = [System.Threading.ManualResetEventSlim]::new($false)
        $owner = [powershell]::Create()
        $caller = [powershell]::Create()
        try {
            $null = $owner.AddScript({
                param($Psd1, $gate, $registered)
                Import-Module $Psd1
                Register-ModuleAPI -ModuleName Blocked -APIName Run -Handler { 'ran' } | Out-Null
                $registered.Set()
                $gate.Wait() # a blocking .NET wait: no checkpoint, so the call cannot start
            }).AddArgument($script:Psd1).AddArgument($gate).AddArgument($registered).BeginInvoke()
            $registered.Wait([timespan]::FromSeconds(30)) | Should -BeTrue
            $null = $caller.AddScript({
                param($Psd1)
                Import-Module $Psd1
                Invoke-ModuleAPI -ModuleName Blocked -APIName Run -Timeout 300 -RetryAttempts 0
            }).AddArgument($script:Psd1).BeginInvoke()
            Wait-Until { (Get-ModuleAPIs Blocked Run).CallCount -ge 1 } -TimeoutSeconds 30 | Should -BeTrue
            Stop-LikeCtrlC $caller -TimeoutSeconds 30 |
                Should -BeTrue -Because 'the caller stops at Ctrl+C, not when the owner wakes or after the 300 s timeout'
        } finally {
            $gate.Set()
            $caller.Dispose()
            $owner.Stop()
            $owner.Runspace.Close()
            $owner.Dispose()
        }
    }

    It 'fails a caller''s call with APIHandlerFailed when the owner''s own pipeline is stopped while the stage runs there (<Case>)' -ForEach @(
        @{ Case = 'handler only'; Middleware = $false }
        @{ Case = 'the owner''s middleware around it'; Middleware = $true } # its $Next runs the handler in a nested attempt there
    ) {
        $started = [System.Threading.ManualResetEventSlim]::new($false)
        $owner = [powershell]::Create()
        $caller = [powershell]::Create()
        try {
            $null = $owner.AddScript({
                param($Psd1, $started, $middleware)
                Import-Module $Psd1
                $global:started = $started
                Register-ModuleAPI -ModuleName Owned -APIName Slow -Handler { $global:started.Set(); Start-Sleep 30; 'late' } | Out-Null
                if ($middleware) {
                    Add-APIMiddleware -Name OwnedAround -ModuleName Owned -APIName Slow -Handler { param($Context, $Next) & $Next $Context } | Out-Null
                }
                while ($true) { Start-Sleep -Milliseconds 10 } # checkpoints: calls run here
            }).AddArgument($script:Psd1).AddArgument($started).AddArgument($Middleware).BeginInvoke()
            Wait-Until { Get-ModuleAPIs Owned Slow -ErrorAction SilentlyContinue } -TimeoutSeconds 30 | Should -BeTrue
            $running = $caller.AddScript({
                param($Psd1)
                Import-Module $Psd1
                try { Invoke-ModuleAPI -ModuleName Owned -APIName Slow } catch { 'caught ' + $_.FullyQualifiedErrorId }
                'continues'
            }).AddArgument($script:Psd1).BeginInvoke()
            $started.Wait([timespan]::FromSeconds(30)) | Should -BeTrue
            $owner.Stop() # Ctrl+C in the owner's runspace, not the caller's
            $caller.EndInvoke($running) | Should -Be @('caught APIHandlerFailed,ModuleCommunication.Commands.InvokeModuleAPICommand', 'continues')
        } finally {
            $caller.Dispose()
            $owner.Runspace.Close()
            $owner.Dispose()
        }
    }

    It 'lets Ctrl+C stop the owner of an API while other runspaces keep calling it' {
        $owner = [powershell]::Create()
        $done = [System.Threading.ManualResetEventSlim]::new($false)
        $callers = @()
        try {
            $null = $owner.AddScript({
                param($Psd1)
                Import-Module $Psd1
                Register-ModuleAPI -ModuleName Busy -APIName Fast -Handler { Start-Sleep -Milliseconds 5; 'ok' } | Out-Null
                while ($true) { $x = 1 } # checkpoints: the calls run here
            }).AddArgument($script:Psd1).BeginInvoke()
            Wait-Until { Get-ModuleAPIs Busy Fast -ErrorAction SilentlyContinue } -TimeoutSeconds 30 | Should -BeTrue
            $callers = 1..2 | ForEach-Object {
                $caller = [powershell]::Create()
                $null = $caller.AddScript({
                    param($Psd1, $done)
                    Import-Module $Psd1
                    while (-not $done.IsSet) { try { $null = Invoke-ModuleAPI -Module Busy -Operation Fast -Timeout 5 -RetryAttempts 0 } catch { } }
                }).AddArgument($script:Psd1).AddArgument($done).BeginInvoke()
                $caller
            }
            Wait-Until { (Get-ModuleAPIs Busy Fast).CallCount -ge 20 } -TimeoutSeconds 30 | Should -BeTrue
            Stop-LikeCtrlC $owner -TimeoutSeconds 10 |
                Should -BeTrue -Because 'the owner''s script stops between rounds of calls, not when the callers stop calling'
        } finally {
            $done.Set()
            foreach ($caller in $callers) { $caller.Stop(); $caller.Dispose() }
            $owner.Stop()
            $owner.Runspace.Close()
            $owner.Dispose()
        }
    }

    It 'keeps the owner of an API when a second registration of it is refused' {
        $ps = [powershell]::Create()
        try {
            $ps.AddScript("Import-Module '$script:Psd1'; Register-ModuleAPI -ModuleName Other -APIName Where -Handler { 'first' } | Out-Null").Invoke()
            { Register-ModuleAPI -ModuleName Other -APIName Where -Handler { 'second' } } |
                Should -Throw -ErrorId 'APIExists,ModuleCommunication.Commands.RegisterModuleAPICommand'
            $api = Get-ModuleAPIs Other Where
            $api.HandlerType | Should -Be 'ScriptBlock'
            $api.RunspaceId | Should -Be $ps.Runspace.InstanceId
        } finally {
            $ps.Runspace.Close()
            $ps.Dispose()
        }
        # Its owner's closing still takes it along.
        Wait-Until { -not (Get-ModuleAPIs Other * -ErrorAction SilentlyContinue) } | Should -BeTrue
    }
}

Describe 'Get-ModuleAPIs and Unregister-ModuleAPI' {
    BeforeEach {
        Reset-Registry
        'ExecuteStep', 'Stop' | ForEach-Object { Register-ModuleAPI -ModuleName LabRunner -APIName $_ -Handler { param($X) if ($X -eq 'bad') { throw 'bad input' } } | Out-Null }
        Register-ModuleAPI -ModuleName Backup -APIName Start -Handler { } | Out-Null
    }
    AfterAll { Reset-Registry }

    It 'lists APIs sorted, filtered with -like patterns case-insensitively' {
        (Get-ModuleAPIs).APIKey | Should -Be @('Backup.Start', 'LabRunner.ExecuteStep', 'LabRunner.Stop')
        (Get-ModuleAPIs -ModuleName lab* -APIName *step).APIKey | Should -Be @('LabRunner.ExecuteStep')
        Get-ModuleAPIs -ModuleName 'Nothing*' | Should -BeNullOrEmpty
    }

    It 'reports a literal name that is not registered' {
        { Get-ModuleAPIs -ModuleName LabRunner -APIName Nope -ErrorAction Stop } |
            Should -Throw -ErrorId 'APINotFound,ModuleCommunication.Commands.GetModuleAPIsCommand'
        { Get-ModuleAPIs -ModuleName Typo -ErrorAction Stop } |
            Should -Throw -ExpectedMessage "Module 'Typo' has no registered API." -ErrorId 'APINotFound,ModuleCommunication.Commands.GetModuleAPIsCommand'
        Get-ModuleAPIs -ModuleName LabRunner -APIName 'Nope*' -ErrorAction Stop | Should -BeNullOrEmpty
    }

    It 'counts calls, successes, failures and the last error' {
        Invoke-ModuleAPI LabRunner Stop @{ X = 'ok' }
        { Invoke-ModuleAPI LabRunner Stop @{ X = 'bad' } } | Should -Throw
        $api = Get-ModuleAPIs LabRunner Stop
        $api.CallCount | Should -Be 2
        $api.SuccessCount | Should -Be 1
        $api.FailureCount | Should -Be 1
        $api.LastError | Should -BeLike '*bad input*'
        $api.LastCalled | Should -BeOfType ([datetime])
        $api.AverageExecutionTime | Should -BeGreaterThan 0
    }

    It 'shows a last error in PowerShell terms, without the C function names the core adds for C callers' {
        Register-ModuleAPI -ModuleName M -APIName E -Handler { param($S) $S } -Parameters @{ S = @{ Type = 'string'; Required = $true } } | Out-Null
        { Invoke-ModuleAPI M E } | Should -Throw
        $lastError = (Get-ModuleAPIs M E).LastError
        $lastError | Should -BeLike "*see the API's parameters with Get-ModuleAPIs"
        $lastError | Should -Not -BeLike '*mc_*'
    }

    It 'unregisters, returning Success, and the API is gone' {
        $r = Unregister-ModuleAPI -ModuleName labrunner -APIName stop -Force
        $r.Success | Should -BeTrue
        $r.APIKey | Should -Be 'labrunner.stop'
        { Invoke-ModuleAPI LabRunner Stop } | Should -Throw -ErrorId 'APINotFound,ModuleCommunication.Commands.InvokeModuleAPICommand'
    }

    It 'keeps the API with -WhatIf' {
        Unregister-ModuleAPI -ModuleName LabRunner -APIName Stop -WhatIf
        Get-ModuleAPIs LabRunner Stop | Should -Not -BeNullOrEmpty
    }

    It 'reports an API that is not registered, and goes on with the next input' {
        $r = Unregister-ModuleAPI -ModuleName No -APIName Such -Force -ErrorVariable missing -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $missing[0].FullyQualifiedErrorId | Should -Be 'APINotFound,ModuleCommunication.Commands.UnregisterModuleAPICommand'
    }

    It 'takes APIs from the pipeline and removes the middleware added for them alone' {
        Add-APIMiddleware -Name ForStop -ModuleName LabRunner -APIName Stop -Handler { param($Context, $Next) & $Next $Context } | Out-Null
        Add-APIMiddleware -Name Everywhere -Handler { param($Context, $Next) & $Next $Context } | Out-Null
        $results = Get-ModuleAPIs -ModuleName LabRunner | Unregister-ModuleAPI -Force
        $results.Count | Should -Be 2
        ($results | Where-Object APIKey -eq 'LabRunner.Stop').MiddlewareRemoved | Should -Be 1
        (Get-APIMiddleware).Name | Should -Be @('Everywhere')
        (Get-ModuleAPIs).APIKey | Should -Be @('Backup.Start')
    }
}

Describe 'Test-ModuleAPI' {
    BeforeEach {
        Reset-Registry
        $script:ran = 0
        Register-SpecExample | Out-Null
    }
    AfterAll { Reset-Registry }

    It 'makes one attempt, so a retryable failure shows at once and is not retried' {
        Register-ModuleAPI -ModuleName T -APIName Busy -Handler {
            $script:ran++
            throw [ModuleCommunication.ApiErrorException]::new('Unavailable', 'database busy')
        } | Out-Null
        $test = Test-ModuleAPI T Busy
        $test.Success | Should -BeFalse
        $test.ErrorCategory | Should -Be 'Unavailable'
        $script:ran | Should -Be 1
        (Get-ModuleAPIs T Busy).AttemptCount | Should -Be 1
    }

    It 'runs the spec''s example: validates, invokes and reports success, duration and result' {
        $apiTest = Test-ModuleAPI -ModuleName "LabRunner" -APIName "ExecuteStep" -TestParameters @{
            StepName = "TestStep"
            Parameters = @{}
        } 6>$null
        $apiTest | Should -BeOfType ([ModuleCommunication.ApiTestResult])
        $apiTest.Success | Should -BeTrue
        $apiTest.Duration | Should -BeOfType ([timespan])
        $apiTest.Result.StepName | Should -Be 'TestStep'
        $apiTest.Errors | Should -BeNullOrEmpty
    }

    It 'lists every invalid parameter and does not call the handler' {
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { $script:ran++ } -Parameters @{ A = @{ Type = 'int'; Required = $true } } | Out-Null
        $t = Test-ModuleAPI -ModuleName M -APIName Op -TestParameters @{ B = 1 }
        $t.Success | Should -BeFalse
        $t.ErrorCategory | Should -Be 'Validation'
        $t.Errors.Count | Should -Be 2
        $t.Errors[0] | Should -BeLike 'A: required*'
        $t.Errors[1] | Should -BeLike 'B: not a parameter*'
        $script:ran | Should -Be 0
    }

    It 'fails a call whose values the handler''s own param() refuses as a validation failure, also where no try/catch is around it' {
        # Pester runs each test inside try/catch, which makes PowerShell end the handler's statement
        # at such an error anyway; a runspace of its own runs the calls the way a plain script does.
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                param($Psd1)
                Import-Module $Psd1
                Register-ModuleAPI -ModuleName Bind -APIName Range -Handler { param([ValidateRange(1, 5)][int] $x) "x=$x" } | Out-Null
                Register-ModuleAPI -ModuleName Bind -APIName Typed -Handler { param([int] $x) "x=$x" } | Out-Null
                Register-ModuleAPI -ModuleName Bind -APIName Advanced -Handler { [CmdletBinding()] param([ValidateRange(1, 5)][int] $x) "x=$x" } | Out-Null
                Register-ModuleAPI -ModuleName Bind -APIName Unknown -Handler { [CmdletBinding()] param($a) "a=$a" } | Out-Null
                foreach ($case in @('Range', @{ x = 9 }), @('Typed', @{ x = 'abc' }), @('Advanced', @{ x = 9 }), @('Unknown', @{ x = 1 })) {
                    $api, $given = $case
                    $t = Test-ModuleAPI Bind $api $given
                    # The call's error is the newest in $Error (a statement-terminating error, which 2>&1 does not take).
                    $r = Invoke-ModuleAPI Bind $api $given -RetryAttempts 0
                    $failed = @($Error[0])
                    $timed = Invoke-ModuleAPI Bind $api $given -RetryAttempts 0 -Timeout 30
                    $failed += $Error[0]
                    $info = Get-ModuleAPIs -ModuleName Bind -APIName $api
                    [pscustomobject]@{
                        API = $api; TestSuccess = $t.Success; TestCategory = $t.ErrorCategory; TestErrors = $t.Errors
                        Invoked = $r; Timed = $timed; ErrorIds = @($failed | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] })
                        Successes = $info.SuccessCount; Failures = $info.FailureCount
                        BreakerFailures = (Get-CircuitBreakerStatus).CircuitBreakers["Bind.$api"].TotalFailures
                    }
                }
            }.ToString()).AddArgument($script:Psd1)
            $results = $ps.Invoke()
            $results.Count | Should -Be 4
            foreach ($r in $results) {
                $r.TestSuccess | Should -BeFalse -Because "the handler of Bind.$($r.API) never ran"
                $r.TestCategory | Should -Be 'Validation'
                $r.TestErrors[0] | Should -BeLike "The handler of Bind.$($r.API) did not run:*parameter*'x'*"
                $r.Invoked | Should -BeNullOrEmpty
                $r.Timed | Should -BeNullOrEmpty
                $r.ErrorIds | Should -Be @('ParameterValidationFailed', 'ParameterValidationFailed')
                $r.Successes | Should -Be 0
                $r.Failures | Should -Be 3
                $r.BreakerFailures | Should -Be 0 -Because 'the caller''s mistake is not the dependency failing'
            }
        } finally {
            $ps.Dispose()
        }
        Register-ModuleAPI -ModuleName Bind -APIName Typed -Handler { param([int] $x) "x=$x" } | Out-Null
        $job = Invoke-ModuleAPI Bind Typed @{ x = 'abc' } -Async -RetryAttempts 0
        $job | Wait-Job -Timeout 60 | Out-Null
        $job.State | Should -Be 'Failed'
        $job.Error.Count | Should -Be 1
        $job.Failure.Category | Should -Be 'Validation'
        $job | Remove-Job
    }

    It 'fails at once, naming it, a call that misses a mandatory parameter of the handler, instead of prompting' {
        # An interactive pwsh whose standard input stays open and empty: a prompt would wait there.
        $child = Invoke-ChildPwsh -Interactive -TimeoutSeconds 45 -Script @'
Import-Module $env:MC_MODULE_PSD1
Register-ModuleAPI -ModuleName M -APIName Need -Handler { param([Parameter(Mandatory)] $x, [Alias('Where')][Parameter(Mandatory = $true)] $Path, $Other) "x=$x" } | Out-Null
try { Invoke-ModuleAPI M Need @{ Wh = 'here' } -Timeout 20 -RetryAttempts 0 } catch { "invoke: $($_.FullyQualifiedErrorId.Split(',')[0]): $_" }
# A key naming one parameter exactly never binds another it is a prefix of (nor does the splat's own Context).
# So does a common parameter's name: 'Debug' binds -Debug, not $DebugLevel.
Register-ModuleAPI -ModuleName M -APIName Shadow -Handler { param($Name, [Parameter(Mandatory)] $NameFull, $Context, [Parameter(Mandatory)] $ContextName, [Parameter(Mandatory)] $DebugLevel) } | Out-Null
try { Invoke-ModuleAPI M Shadow @{ Name = 'x'; Debug = $false } -Timeout 20 -RetryAttempts 0 } catch { "shadow: $($_.FullyQualifiedErrorId.Split(',')[0]): $_" }
$t = Test-ModuleAPI M Need @{ x = 1 } -Timeout 20
"test: $($t.Success) $($t.ErrorCategory) $($t.Errors)"
"given: $(Invoke-ModuleAPI M Need @{ x = 1; Path = 'p' })"
'@
        $child.Exited | Should -BeTrue -Because "a prompt would wait for input: $($child.Output)"
        $child.Output | Should -BeLike "*invoke: ParameterValidationFailed: The handler of M.Need did not run: missing mandatory parameters: x. Give them in -Parameters.*"
        $child.Output | Should -BeLike "*shadow: ParameterValidationFailed: *missing mandatory parameters: NameFull, ContextName, DebugLevel. Give them*"
        $child.Output | Should -BeLike "*test: False Validation *missing mandatory parameters: Path.*"
        $child.Output | Should -BeLike '*given: x=1*'
    }

    It 'leaves a parameter mandatory in one parameter set to PowerShell: a call that binds another set runs' {
        Register-ModuleAPI -ModuleName M -APIName Sets -Handler {
            [CmdletBinding(DefaultParameterSetName = 'ByName')]
            param([Parameter(Mandatory, ParameterSetName = 'ByName')] $Name, [Parameter(Mandatory, ParameterSetName = 'ById')] $Id)
            "$($PSCmdlet.ParameterSetName): $Name$Id"
        } | Out-Null
        Invoke-ModuleAPI M Sets @{ Id = 7 } -RetryAttempts 0 | Should -Be 'ById: 7'
        Invoke-ModuleAPI M Sets @{ Name = 'n' } -RetryAttempts 0 | Should -Be 'ByName: n'
    }

    It 'ends a handler at an exception and fails the call, whether or not the caller wrote try/catch' {
        # Pester runs each test inside try/catch; a runspace of its own calls the way a plain script
        # does, where PowerShell would otherwise write the error and run the handler's next statement.
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                param($Psd1)
                Import-Module $Psd1
                Register-ModuleAPI -ModuleName Soft -APIName Op -Handler { [int]'abc'; 'after' } | Out-Null
                Register-ModuleAPI -ModuleName Soft -APIName Soft -Handler { Write-Error 'noted'; 'after' } | Out-Null
                $out = Invoke-ModuleAPI Soft Op -RetryAttempts 0 2>$null
                "exception: [$out] $($Error[0].FullyQualifiedErrorId.Split(',')[0])"
                $job = Invoke-ModuleAPI Soft Op -RetryAttempts 0 -Async
                $job | Wait-Job -Timeout 60 | Out-Null
                "async: $($job.State) $($job.Failure.Category)"
                "write-error: [$(Invoke-ModuleAPI Soft Soft -RetryAttempts 0 2>$null)]"
            }.ToString()).AddArgument($script:Psd1)
            $ps.Invoke() | Should -Be @('exception: [] APIHandlerFailed', 'async: Failed HandlerFailed', 'write-error: [after]')
        } finally {
            $ps.Dispose()
        }
    }

    It 'reports a failing handler and an unknown API in its result, without failing itself' {
        Register-ModuleAPI -ModuleName M -APIName Boom -Handler { throw 'kaboom' } | Out-Null
        $t = Test-ModuleAPI M Boom -ErrorAction Stop
        $t.Success | Should -BeFalse
        $t.ErrorCategory | Should -Be 'HandlerFailed'
        $t.Errors[0] | Should -BeLike '*kaboom*'
        $u = Test-ModuleAPI No Such -ErrorAction Stop
        $u.Success | Should -BeFalse
        $u.ErrorCategory | Should -Be 'NotFound'
    }
}
