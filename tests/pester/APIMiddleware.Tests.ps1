BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')

    # The spec's Middleware examples call Write-CustomLog; the script defines it.
    $script:log = [System.Collections.Generic.List[string]]::new()
    function Write-CustomLog {
        param([string] $Level, [string] $Message)
        $script:log.Add("$Level $Message")
    }

    function Add-SpecMiddleware {
        # Logging middleware
        Add-APIMiddleware -Name "Logging" -Priority 10 -Handler {
            param($Context, $Next)
            $start = Get-Date
            Write-CustomLog -Level 'INFO' -Message "API Start: $($Context.APIKey)"

            try {
                $result = & $Next $Context
                $duration = ((Get-Date) - $start).TotalMilliseconds
                Write-CustomLog -Level 'INFO' -Message "API Success: $($Context.APIKey) (${duration}ms)"
                return $result
            } catch {
                Write-CustomLog -Level 'ERROR' -Message "API Failed: $($Context.APIKey) - $_"
                throw
            }
        }

        # Authentication middleware
        Add-APIMiddleware -Name "Authentication" -Priority 20 -Handler {
            param($Context, $Next)
            if ($Context.Metadata.RequiresAuth -and -not $Context.User) {
                throw "Authentication required"
            }
            & $Next $Context
        }
    }
}

Describe 'The spec''s middleware examples' {
    BeforeEach {
        Reset-Registry
        $script:log.Clear()
        $script:ran = 0
        Register-ModuleAPI -ModuleName LabRunner -APIName ExecuteStep -Handler {
            param($StepName)
            $script:ran++
            @{ Success = $true; StepName = $StepName }
        } -Parameters @{ StepName = @{ Type = 'string'; Required = $true } } | Out-Null
    }
    AfterAll { Reset-Registry }

    It 'adds both and lists them in the order they run' {
        $added = Add-SpecMiddleware
        $added | Should -BeOfType ([ModuleCommunication.MiddlewareInfo])
        $added.Name | Should -Be @('Logging', 'Authentication')
        (Get-APIMiddleware).Name | Should -Be @('Logging', 'Authentication')
        (Get-APIMiddleware Logging).Scope | Should -Be 'Global'
        (Get-ModuleAPIs LabRunner ExecuteStep).Middleware | Should -Be @('Logging', 'Authentication')
    }

    It 'logs the start and the success of a call and returns the handler''s result' {
        Add-SpecMiddleware | Out-Null
        $result = Invoke-ModuleAPI LabRunner ExecuteStep @{ StepName = 'DeployVM' }
        $result.StepName | Should -Be 'DeployVM'
        $script:log.Count | Should -Be 2
        $script:log[0] | Should -Be 'INFO API Start: LabRunner.ExecuteStep'
        $script:log[1] | Should -Match '^INFO API Success: LabRunner\.ExecuteStep \([\d.]+ms\)$'
    }

    It 'logs a failure and rethrows it with its own ErrorId: a validation error passes through unchanged' {
        Add-SpecMiddleware | Out-Null
        { Invoke-ModuleAPI LabRunner ExecuteStep @{} } |
            Should -Throw -ErrorId 'ParameterValidationFailed,ModuleCommunication.Commands.InvokeModuleAPICommand'
        $script:log[1] | Should -BeLike 'ERROR API Failed: LabRunner.ExecuteStep - invalid parameters for LabRunner.ExecuteStep: StepName: required*'
        $script:ran | Should -Be 0
    }

    It 'fails a call that requires authentication and has no user' {
        Add-SpecMiddleware | Out-Null
        Add-APIMiddleware -Name 'MarkSensitive' -Priority 15 -Handler {
            param($Context, $Next)
            $Context.Metadata.RequiresAuth = $true
            & $Next $Context
        } | Out-Null
        $err = { Invoke-ModuleAPI LabRunner ExecuteStep @{ StepName = 'x' } } |
            Should -Throw -ErrorId 'APIHandlerFailed,ModuleCommunication.Commands.InvokeModuleAPICommand' -PassThru
        $err.Exception.Message | Should -BeLike "*middleware 'Authentication' failed: Authentication required*"
        $script:log[1] | Should -BeLike 'ERROR API Failed: LabRunner.ExecuteStep - *Authentication required*'
        $script:ran | Should -Be 0
    }

    It 'lets an authenticated call through once a middleware sets the user' {
        Add-SpecMiddleware | Out-Null
        Add-APIMiddleware -Name 'SignIn' -Priority 15 -Handler {
            param($Context, $Next)
            $Context.Metadata.RequiresAuth = $true
            $Context.User = 'SystemAccount'
            & $Next $Context
        } | Out-Null
        (Invoke-ModuleAPI LabRunner ExecuteStep @{ StepName = 'x' }).Success | Should -BeTrue
    }
}

Describe 'Middleware pipeline' {
    BeforeEach {
        Reset-Registry
        $script:order = [System.Collections.Generic.List[string]]::new()
        $script:ran = 0
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { param($Value) $script:ran++; $script:order.Add('handler'); "handled $Value" } | Out-Null
        function Add-Tracer([string] $Name, [int] $Priority, [hashtable] $Scope = @{}) {
            $body = [scriptblock]::Create("param(`$Context, `$Next) `$script:order.Add('$Name>'); `$r = & `$Next `$Context; `$script:order.Add('<$Name'); `$r")
            Add-APIMiddleware -Name $Name -Priority $Priority -Handler $body @Scope | Out-Null
        }
    }
    AfterAll { Reset-Registry }

    It 'runs lower priorities outer, equal priorities in the order added, global and per-API together' {
        Add-Tracer 'b20' 20
        Add-Tracer 'a10' 10
        Add-Tracer 'c20' 20
        Add-Tracer 'api5' 5 @{ ModuleName = 'M'; APIName = 'Op' }
        Invoke-ModuleAPI M Op | Should -Be 'handled '
        $script:order | Should -Be @('api5>', 'a10>', 'b20>', 'c20>', 'handler', '<c20', '<b20', '<a10', '<api5')
        (Get-APIMiddleware).Name | Should -Be @('api5', 'a10', 'b20', 'c20')
    }

    It 'applies middleware for one API to that API only' {
        Register-ModuleAPI -ModuleName M -APIName Other -Handler { 'other' } | Out-Null
        Add-Tracer 'only' 1 @{ ModuleName = 'm'; APIName = 'op' }
        Invoke-ModuleAPI M Other | Should -Be 'other'
        $script:order.Count | Should -Be 0
        (Get-APIMiddleware only).Scope | Should -Be 'M.Op'
    }

    It 'short-circuits when a middleware does not call $Next: its output is the result' {
        Add-APIMiddleware -Name Cache -Handler { param($Context, $Next) @{ Cached = $true } } | Out-Null
        (Invoke-ModuleAPI M Op).Cached | Should -BeTrue
        $script:ran | Should -Be 0
    }

    It 'carries $Context.Metadata from outer stages to inner ones and the handler, and back out' {
        Register-ModuleAPI -ModuleName M -APIName Meta -Force -Handler {
            param($Value)
            # A handler reaches the context through the middleware that set it up.
            $script:seenByHandler = $script:lastContext.Metadata.Trace -join ','
            'ok'
        } | Out-Null
        Add-APIMiddleware -Name Outer -Priority 1 -Handler {
            param($Context, $Next)
            $Context.Metadata.Trace = [System.Collections.Generic.List[string]]@('outer')
            $script:lastContext = $Context
            $r = & $Next $Context
            $Context.Metadata.Trace.Add('after')
            $script:afterNext = $Context.Metadata.Trace -join ','
            $script:innerFlag = $Context.Metadata.InnerSaw
            $r
        } | Out-Null
        Add-APIMiddleware -Name Inner -Priority 2 -Handler {
            param($Context, $Next)
            $Context.Metadata.Trace.Add('inner')
            $Context.Metadata.InnerSaw = $true
            & $Next $Context
        } | Out-Null
        Invoke-ModuleAPI M Meta | Should -Be 'ok'
        $script:seenByHandler | Should -Be 'outer,inner'
        $script:afterNext | Should -Be 'outer,inner,after'
        $script:innerFlag | Should -BeTrue
    }

    It 'lets a handler read the metadata: as a $Context parameter, or through [ModuleCommunication.ApiContext]::Current' {
        Register-ModuleAPI -ModuleName M -APIName Reads -Handler {
            param($Value, $Context)
            "$Value/$($Context.Metadata.Tenant)/$([ModuleCommunication.ApiContext]::Current.Metadata.Tenant)"
        } -Parameters @{ Value = @{ Type = 'int' } } | Out-Null
        Add-APIMiddleware -Name Tenant -Handler { param($Context, $Next) $Context.Metadata.Tenant = 'contoso'; & $Next $Context } | Out-Null
        Invoke-ModuleAPI M Reads @{ Value = 7 } | Should -Be '7/contoso/contoso'
        [ModuleCommunication.ApiContext]::Current | Should -BeNullOrEmpty
    }

    It 'gives middleware a $Context naming the call' {
        Add-APIMiddleware -Name Look -Handler { param($Context, $Next) $script:ctx = $Context; & $Next $Context } | Out-Null
        $before = Get-Date
        Invoke-ModuleAPI m op @{ Value = 1 } | Out-Null
        $script:ctx | Should -BeOfType ([ModuleCommunication.ApiContext])
        $script:ctx.APIKey | Should -Be 'M.Op'
        $script:ctx.Module | Should -Be 'M'
        $script:ctx.Operation | Should -Be 'Op'
        $script:ctx.Parameters.Value | Should -Be 1
        $script:ctx.RequestId | Should -BeOfType ([guid])
        $script:ctx.RequestId | Should -Not -Be ([guid]::Empty)
        $script:ctx.StartTime | Should -BeGreaterOrEqual $before.AddSeconds(-1)
        $script:ctx.User | Should -BeNullOrEmpty
        $script:ctx.Headers | Should -BeOfType ([hashtable])
        $script:ctx.Metadata | Should -BeOfType ([hashtable])
        $script:ctx.Depth | Should -Be 1
        $script:ctx.IsAsync | Should -BeFalse
    }

    It 'lets a middleware fill in parameters before validation' {
        Register-ModuleAPI -ModuleName M -APIName Strict -Handler { param($Tenant) "tenant $Tenant" } -Parameters @{
            Tenant = @{ Type = 'string'; Required = $true }
        } | Out-Null
        Add-APIMiddleware -Name DefaultTenant -Handler {
            param($Context, $Next)
            if (-not $Context.Parameters.ContainsKey('Tenant')) { $Context.Parameters.Tenant = 'contoso' }
            & $Next $Context
        } | Out-Null
        Invoke-ModuleAPI M Strict | Should -Be 'tenant contoso'
    }

    It 'runs the rest again when a middleware calls $Next twice' {
        $script:attempts = 0
        Register-ModuleAPI -ModuleName M -APIName Flaky -Handler { $script:attempts++; if ($script:attempts -eq 1) { throw 'transient' } 'second time' } | Out-Null
        Add-APIMiddleware -Name Retry -Handler { param($Context, $Next) try { & $Next $Context } catch { & $Next $Context } } | Out-Null
        Invoke-ModuleAPI M Flaky | Should -Be 'second time'
        $script:attempts | Should -Be 2
    }

    It 'fails the call with the error a middleware throws' {
        Add-APIMiddleware -Name Gate -Handler { param($Context, $Next) throw 'closed for maintenance' } | Out-Null
        $err = { Invoke-ModuleAPI M Op } | Should -Throw -ErrorId 'APIHandlerFailed,ModuleCommunication.Commands.InvokeModuleAPICommand' -PassThru
        $err.Exception.Message | Should -BeLike "*middleware 'Gate' failed: closed for maintenance*"
        $script:ran | Should -Be 0
    }

    It 'refuses $Next after its middleware returned, and without the context, with stable ErrorIds' {
        Add-APIMiddleware -Name Keeper -Handler { param($Context, $Next) $script:keptNext = $Next; $script:keptContext = $Context; & $Next $Context } | Out-Null
        Invoke-ModuleAPI M Op | Out-Null
        $err = { & $script:keptNext $script:keptContext } | Should -Throw -ExpectedMessage '*only be called while its middleware runs*' -PassThru
        $err.FullyQualifiedErrorId | Should -BeLike 'NextAfter*'
        $err.CategoryInfo.Category | Should -Be 'InvalidOperation'
        $err = { & $script:keptNext 'not a context' } | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -Be 'NextNeedsContext'
    }

    It 'counts how often each middleware ran' {
        Add-Tracer 'counted' 1
        1..3 | ForEach-Object { Invoke-ModuleAPI M Op | Out-Null }
        (Get-APIMiddleware counted).CallCount | Should -Be 3
    }

    It 'shows the whole of the lowest and highest priority in a table' {
        Add-APIMiddleware -Name Lowest -Priority ([int]::MinValue) -Handler { param($Context, $Next) & $Next $Context } | Out-Null
        Add-APIMiddleware -Name Highest -Priority ([int]::MaxValue) -Handler { param($Context, $Next) & $Next $Context } | Out-Null
        $text = Get-APIMiddleware | Out-String -Width 80
        $text | Should -Match '\s-2147483648\s'
        $text | Should -Match '\s2147483647\s'
    }

    It 'reads well in a console: at 80 columns the priority, calls, handler and scope show' {
        Register-ModuleAPI -ModuleName 'InventoryManager' -APIName 'GetStockLevels' -Handler { 42 } | Out-Null
        Add-APIMiddleware -Name 'RequestLoggingMiddleware' -Priority 10 -ModuleName 'InventoryManager' -APIName 'GetStockLevels' -Handler {
            param($Context, $Next) & $Next $Context
        } | Out-Null
        1..2 | ForEach-Object { Invoke-ModuleAPI InventoryManager GetStockLevels | Out-Null }
        $lines = (Get-APIMiddleware 'RequestLoggingMiddleware' | Out-String -Width 80).Trim() -split '\r?\n'
        $lines[0] | Should -Match '^Name\s+Priority\s+Calls\s+Handler\s+Scope$'
        # Header, rule, one line: no header wraps down its column.
        $lines | Should -HaveCount 3
        $lines[2] | Should -Match '^RequestLoggingMiddleware\s+10\s+2 ScriptBlock\s+InventoryManager\.'
    }
}

Describe 'Add-, Get- and Remove-APIMiddleware' {
    BeforeEach {
        Reset-Registry
        Register-ModuleAPI -ModuleName M -APIName Op -Handler { 'h' } | Out-Null
    }
    AfterAll { Reset-Registry }

    It 'refuses a name that exists, case-insensitively, unless -Force replaces it in place' {
        Add-APIMiddleware -Name A -Priority 1 -Handler { param($Context, $Next) 'A1' } | Out-Null
        Add-APIMiddleware -Name B -Priority 1 -Handler { param($Context, $Next) & $Next $Context } | Out-Null
        { Add-APIMiddleware -Name a -Handler { param($Context, $Next) } -ErrorAction Stop } |
            Should -Throw -ErrorId 'MiddlewareExists,ModuleCommunication.Commands.AddAPIMiddlewareCommand'
        Add-APIMiddleware -Name a -Handler { param($Context, $Next) } -ErrorAction SilentlyContinue -ErrorVariable exists | Should -BeNullOrEmpty
        $exists.FullyQualifiedErrorId | Should -Be 'MiddlewareExists,ModuleCommunication.Commands.AddAPIMiddlewareCommand'
        Add-APIMiddleware -Name a -Priority 1 -Force -Handler { param($Context, $Next) 'A2' } | Out-Null
        (Get-APIMiddleware).Name | Should -Be @('a', 'B')
        Invoke-ModuleAPI M Op | Should -Be 'A2'
    }

    It 'needs the API of -ModuleName/-APIName to exist, and is removed with it' {
        { Add-APIMiddleware -Name X -ModuleName No -APIName Such -Handler { param($Context, $Next) } } |
            Should -Throw -ErrorId 'APINotFound,ModuleCommunication.Commands.AddAPIMiddlewareCommand'
        Add-APIMiddleware -Name X -ModuleName M -APIName Op -Handler { param($Context, $Next) & $Next $Context } | Out-Null
        Unregister-ModuleAPI M Op -Force | Out-Null
        Get-APIMiddleware | Should -BeNullOrEmpty
    }

    It 'lists with -like patterns and reports a literal name that does not exist' {
        'LogA', 'LogB', 'Auth' | ForEach-Object { Add-APIMiddleware -Name $_ -Handler { param($Context, $Next) & $Next $Context } | Out-Null }
        (Get-APIMiddleware -Name log*).Name | Should -Be @('LogA', 'LogB')
        { Get-APIMiddleware -Name Nope -ErrorAction Stop } |
            Should -Throw -ErrorId 'MiddlewareNotFound,ModuleCommunication.Commands.GetAPIMiddlewareCommand'
    }

    It 'removes middleware, returning Success; -WhatIf keeps it; an unknown name is an error' {
        Add-APIMiddleware -Name Gone -Handler { param($Context, $Next) 'intercepted' } | Out-Null
        Remove-APIMiddleware -Name Gone -WhatIf
        Invoke-ModuleAPI M Op | Should -Be 'intercepted'
        $r = Get-APIMiddleware Gone | Remove-APIMiddleware -Force
        $r.Success | Should -BeTrue
        $r.Name | Should -Be 'Gone'
        Invoke-ModuleAPI M Op | Should -Be 'h'
        Remove-APIMiddleware -Name Gone -Force -ErrorVariable missing -ErrorAction SilentlyContinue
        $missing[0].FullyQualifiedErrorId | Should -Be 'MiddlewareNotFound,ModuleCommunication.Commands.RemoveAPIMiddlewareCommand'
    }

    It 'completes middleware names' {
        Add-APIMiddleware -Name Logging -Handler { param($Context, $Next) & $Next $Context } | Out-Null
        $line = 'Remove-APIMiddleware -Name Lo'
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('Logging')
    }
}
