BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')

    function Read-TraceLines([string[]] $Files) {
        $Files | ForEach-Object { Get-Content -LiteralPath $_ } | Where-Object { $_ } | ForEach-Object { $_ | ConvertFrom-Json }
    }

    function Expand-GzipText([string] $Path) {
        $gz = [IO.Compression.GZipStream]::new([IO.File]::OpenRead($Path), [IO.Compression.CompressionMode]::Decompress)
        try { ([IO.StreamReader]::new($gz)).ReadToEnd() } finally { $gz.Dispose() }
    }

    function Reset-Tracing {
        Disable-MessageTracing | Out-Null
        Reset-Bus
        Reset-Registry
    }
}

AfterAll { Disable-MessageTracing | Out-Null }

Describe 'Enable-MessageTracing and Disable-MessageTracing' {
    BeforeEach { Reset-Tracing }

    It 'runs the spec''s examples as written, with relative paths under the current location' {
        Push-Location $TestDrive
        try {
            New-MessageChannel -Name 'Orders' | Out-Null
            Subscribe-ModuleMessage -Channel 'Orders' -Handler { param($Message) } | Out-Null
            $status = Enable-MessageTracing -Level "Verbose" -LogToFile -FilePath "communication-trace.log"
            $status | Should -BeOfType ([ModuleCommunication.TracingStatus])
            $status.FilePath | Should -Be (Join-Path $TestDrive 'communication-trace.log')
            $id = Publish-ModuleMessage -Channel 'Orders' -MessageType 'Created' -CorrelationId 'corr-9' | Wait-ModuleMessage -Timeout 10
            Wait-Until { @(Get-MessageTrace | Where-Object Event -eq 'deliver').Count -eq 1 } | Should -BeTrue
            $summary = Disable-MessageTracing -ArchiveLogs -ArchivePath "trace-archive"
            $summary | Should -BeOfType ([ModuleCommunication.TraceSummary])
            $summary.DroppedRecords | Should -Be 0
            Split-Path $summary.Archive -Parent | Should -Be (Join-Path $TestDrive 'trace-archive')
            $summary.Archive | Should -BeLike '*communication-trace-*.log.gz'

            $lines = @(Read-TraceLines $summary.Files)
            $lines.event | Should -Be @('publish', 'deliver')
            $lines[0].messageId | Should -Be $lines[1].messageId
            $lines[0].correlationId | Should -Be 'corr-9'
            $lines[0].channel | Should -Be 'Orders'
            $lines[1].outcome | Should -Be 'Handled'
            $lines[1].level | Should -Be 'Verbose'
            [datetime]::Parse($lines[0].timestamp) | Should -BeOfType ([datetime])

            (Expand-GzipText $summary.Archive) | Should -Be (Get-Content -Raw -LiteralPath $summary.Files[-1])
        } finally { Pop-Location }
    }

    It 'archives every file of a trace whose -FilePath Enable-MessageTracing changed meanwhile' {
        Push-Location $TestDrive
        try {
            New-MessageChannel -Name 'Orders' | Out-Null
            Enable-MessageTracing -Level Basic -LogToFile -FilePath 'first.log' | Out-Null
            1..3 | Publish-ModuleMessage -Channel 'Orders' -MessageType 'Created' | Out-Null
            Enable-MessageTracing -Level Basic -LogToFile -FilePath 'second.log' | Out-Null
            1..4 | Publish-ModuleMessage -Channel 'Orders' -MessageType 'Created' | Out-Null
            $summary = Disable-MessageTracing -ArchiveLogs -ArchivePath 'trace-archive'
            $summary.Files | Split-Path -Leaf | Should -Be @('first.log', 'second.log')
            @((Expand-GzipText $summary.Archive) -split "`n" | Where-Object { $_ }).Count | Should -Be 7
        } finally { Pop-Location }
    }

    It 'is switched by the spec''s EnableTracing setting, which Get-CommunicationConfiguration reports' {
        New-MessageChannel -Name 'Orders' | Out-Null
        (Get-CommunicationConfiguration).EnableTracing | Should -BeFalse
        Set-CommunicationConfiguration -Settings @{ EnableTracing = $true }
        (Get-CommunicationConfiguration).EnableTracing | Should -BeTrue
        Publish-ModuleMessage -Channel 'Orders' -MessageType 'Created' | Out-Null
        (Get-MessageTrace).Event | Should -Be @('publish')
        Set-CommunicationConfiguration -EnableTracing $false
        (Get-CommunicationConfiguration).EnableTracing | Should -BeFalse
        Publish-ModuleMessage -Channel 'Orders' -MessageType 'Created' | Out-Null
        @(Get-MessageTrace).Count | Should -Be 1
        { Set-CommunicationConfiguration -Settings @{ EnableTracing = 'yes' } } | Should -Throw "EnableTracing must be `$true or `$false; got 'yes'."
    }

    It 'records only the publish at Basic' {
        New-MessageChannel -Name 'Orders' | Out-Null
        Subscribe-ModuleMessage -Channel 'Orders' -Handler { param($Message) } | Out-Null
        Enable-MessageTracing -Level Basic | Out-Null
        Publish-ModuleMessage -Channel 'Orders' -MessageType 'Created' | Wait-ModuleMessage -Timeout 10
        $records = @(Get-MessageTrace)
        $records.Event | Should -Be @('publish')
        $records[0].Level | Should -Be 'Basic'
        $records[0].Channel | Should -Be 'Orders'
    }

    It 'traces an Invoke-ModuleAPI through its middleware with one request id at Verbose' {
        Register-ModuleAPI -ModuleName 'Lab' -APIName 'Run' -Handler { param($X) $X } | Out-Null
        Add-APIMiddleware -Name 'Audit' -Handler { param($Context, $Next) & $Next $Context } | Out-Null
        Enable-MessageTracing -Level Verbose | Out-Null
        Invoke-ModuleAPI -Module 'Lab' -Operation 'Run' -Parameters @{ X = 1 } | Out-Null
        $records = @(Get-MessageTrace)
        $call = $records | Where-Object Event -eq 'apiCall'
        $call.Api | Should -Be 'Lab.Run'
        $stages = @($records | Where-Object Event -eq 'apiStage')
        $stages.Stage | Should -Contain 'middleware'
        $stages.Stage | Should -Contain 'handler'
        ($stages | Where-Object Stage -eq 'middleware').Json | Should -BeLike '*"middleware":"Audit"*'
        $records.RequestId | Select-Object -Unique | Should -Be $call.RequestId
    }

    It 'records one apiCall and no stages at Basic' {
        Register-ModuleAPI -ModuleName 'Lab' -APIName 'Run' -Handler { 1 } | Out-Null
        Add-APIMiddleware -Name 'Audit' -Handler { param($Context, $Next) & $Next $Context } | Out-Null
        Enable-MessageTracing | Out-Null
        Invoke-ModuleAPI -Module 'Lab' -Operation 'Run' | Out-Null
        @(Get-MessageTrace).Event | Should -Be @('apiCall')
    }

    It 'never writes secrets: a failed call''s token is redacted in memory and in the file' {
        Register-ModuleAPI -ModuleName 'Lab' -APIName 'Login' -Handler { throw 'refused token=qwerty42 Authorization: Bearer s3cr3t' } | Out-Null
        $file = Join-Path $TestDrive 'secret.log'
        Enable-MessageTracing -LogToFile -FilePath $file | Out-Null
        { Invoke-ModuleAPI -Module 'Lab' -Operation 'Login' -ErrorAction Stop } | Should -Throw
        $err = Get-MessageTrace | Where-Object Event -eq 'apiError'
        $err.Error | Should -BeLike '*token=`*`*`**'
        $summary = Disable-MessageTracing
        $text = Get-Content -Raw -LiteralPath $summary.Files[-1]
        $text | Should -Not -BeNullOrEmpty
        $text | Should -Not -Match 'qwerty42|s3cr3t'
        ((Get-MessageTrace).Json -join "`n") | Should -Not -Match 'qwerty42|s3cr3t'
    }

    It 'keeps a failed call''s error without the C function names, in the trace, its file and the metrics' {
        Register-ModuleAPI -ModuleName 'Lab' -APIName 'Typed' -Handler { param($X) } -Parameters @{ X = @{ Type = 'int'; Required = $true } } | Out-Null
        $file = Join-Path $TestDrive 'hints.log'
        Enable-MessageTracing -LogToFile -FilePath $file | Out-Null
        { Invoke-ModuleAPI -Module 'Lab' -Operation 'Typed' -Parameters @{ X = 'abc' } -ErrorAction Stop } |
            Should -Throw -ErrorId 'ParameterValidationFailed,*'
        $err = Get-MessageTrace | Where-Object Event -eq 'apiError'
        $err.Error | Should -BeLike '*see the API''s parameters with Get-ModuleAPIs'
        (Get-CommunicationMetrics).API.RecentCalls[0].Error | Should -Be $err.Error
        $summary = Disable-MessageTracing
        Get-Content -Raw -LiteralPath $summary.Files[-1] | Should -Not -Match 'mc_api_list'
    }

    It 'keeps no value of a parameter that failed validation, only its name, in the trace, its file and the metrics' {
        Register-ModuleAPI -ModuleName 'Vault' -APIName 'Unlock' -Handler { param($Pin) } -Parameters @{ Pin = @{ Type = 'string'; Required = $true; Pattern = '^\d{4}$' } } | Out-Null
        $file = Join-Path $TestDrive 'pin.log'
        Enable-MessageTracing -LogToFile -FilePath $file | Out-Null
        $thrown = { Invoke-ModuleAPI -Module 'Vault' -Operation 'Unlock' -Parameters @{ Pin = 'S3cr3t-Passw0rd' } -ErrorAction Stop } |
            Should -Throw -ErrorId 'ParameterValidationFailed,*' -PassThru
        $thrown.Exception.Message | Should -BeLike '*S3cr3t-Passw0rd*' -Because 'the caller is told which value was wrong'
        $recent = (Get-CommunicationMetrics).API.RecentCalls[0].Error
        $recent | Should -BeLike 'invalid parameters: Pin *'
        (Get-ModuleAPIs -ModuleName 'Vault').LastError | Should -Be $recent
        $summary = Disable-MessageTracing
        (Get-Content -Raw -LiteralPath $summary.Files[-1]) + ((Get-MessageTrace).Json -join "`n") + $recent |
            Should -Not -Match 'S3cr3t'
    }

    It 'keeps no value of a parameter that does not convert to its type either' {
        # Refused on the PowerShell side (no parameter list reaches the core), yet kept as safely.
        Register-ModuleAPI -ModuleName 'Dates' -APIName 'When' -Handler { param($When) $When } -Parameters @{ When = @{ Type = 'datetime' } } | Out-Null
        Enable-MessageTracing -Level Verbose | Out-Null
        $thrown = { Invoke-ModuleAPI -Module 'Dates' -Operation 'When' -Parameters @{ When = '2016-12-31T23:59:60Z' } -RetryAttempts 0 -ErrorAction Stop } |
            Should -Throw -ErrorId 'ParameterValidationFailed,*' -PassThru
        $thrown.Exception.Message | Should -BeLike '*2016-12-31T23:59:60Z*' -Because 'the caller is told which value was wrong'
        $recent = (Get-CommunicationMetrics).API.RecentCalls[0].Error
        $recent | Should -BeLike 'invalid parameters (the caller''s error said what was wrong; values are not recorded)*'
        (Get-ModuleAPIs -ModuleName 'Dates').LastError | Should -Be $recent
        Disable-MessageTracing | Out-Null
        ((Get-MessageTrace).Json -join "`n") + $recent | Should -Not -Match '23:59:60'
    }

    It 'rotates the file at -MaxFileSizeMB and keeps every record across the parts' {
        New-MessageChannel -Name 'Bulk' | Out-Null
        $file = Join-Path $TestDrive 'rotate.log'
        Enable-MessageTracing -LogToFile -FilePath $file -MaxFileSizeMB 1 | Out-Null
        $data = 'x' * 2000
        1..700 | ForEach-Object { Publish-ModuleMessage -Channel 'Bulk' -MessageType 'T' -CorrelationId $data } | Out-Null
        $summary = Disable-MessageTracing
        $summary.Files.Count | Should -BeGreaterThan 1
        $summary.Files[0] | Should -Be "$file.1"
        foreach ($f in $summary.Files) { (Get-Item -LiteralPath $f).Length | Should -BeLessOrEqual 1MB }
        # 700 records are far below the lines the file may have waiting (8 x 8,192): none dropped.
        $summary.DroppedRecords | Should -Be 0
        @(Read-TraceLines $summary.Files).Count | Should -Be 700
    }

    It 'reads well in a console: one line per record at 80 columns, the error last' {
        New-MessageChannel -Name 'Orders' | Out-Null
        Register-ModuleAPI -ModuleName 'Lab' -APIName 'Fail' -Handler { throw 'lab closed' } | Out-Null
        Enable-MessageTracing -Level Verbose | Out-Null
        Publish-ModuleMessage -Channel 'Orders' -MessageType 'Created' | Out-Null
        { Invoke-ModuleAPI -Module 'Lab' -Operation 'Fail' -RetryAttempts 0 -ErrorAction Stop } | Should -Throw
        $records = @(Get-MessageTrace)
        $lines = (Get-MessageTrace | Out-String -Width 80).Trim() -split '\r?\n'
        $lines[0] | Should -Match '^Time\s+Event\s+Target\s+Step\s+Ms\s+Error$'
        # Header, rule, one line per record: nothing wraps.
        $lines.Count | Should -Be ($records.Count + 2)
        # The target has its own column, so the error starts with the handler's words.
        $lines -match 'apiError\s+Lab\.Fail\s+[\d.]+ lab closed$' | Should -HaveCount 1
        $lines -match 'publish\s+Orders' | Should -HaveCount 1
    }

    It 'keeps the newest records in memory and -Last reads the tail' {
        New-MessageChannel -Name 'C' | Out-Null
        Enable-MessageTracing -BufferSize 3 | Out-Null
        'a', 'b', 'c', 'd' | ForEach-Object { Publish-ModuleMessage -Channel 'C' -MessageType $_ } | Out-Null
        (Get-MessageTrace).Json | ForEach-Object { ($_ | ConvertFrom-Json).messageType } | Should -Be @('b', 'c', 'd')
        (Get-MessageTrace -Last 1).Json | Should -BeLike '*"messageType":"d"*'
    }

    It 'keeps the records and counts when a running trace changes its options' {
        New-MessageChannel -Name 'C' | Out-Null
        Enable-MessageTracing | Out-Null
        'a', 'b', 'c' | ForEach-Object { Publish-ModuleMessage -Channel 'C' -MessageType $_ } | Out-Null
        Enable-MessageTracing -Level Verbose | Out-Null
        (Get-MessageTrace).Count | Should -Be 3
        (Disable-MessageTracing).Records | Should -Be 3
    }

    It 'changes nothing with -WhatIf on Enable- and Disable-MessageTracing' {
        New-MessageChannel -Name 'C' | Out-Null
        Enable-MessageTracing -WhatIf
        Get-CommunicationConfiguration | Select-Object -ExpandProperty EnableTracing | Should -BeFalse
        Enable-MessageTracing | Out-Null
        Publish-ModuleMessage -Channel 'C' -MessageType 'a' | Out-Null
        Enable-MessageTracing -Level Verbose -LogToFile -FilePath 'TestDrive:/never.log' -WhatIf
        Test-Path 'TestDrive:/never.log' | Should -BeFalse
        Disable-MessageTracing -WhatIf
        Get-CommunicationConfiguration | Select-Object -ExpandProperty EnableTracing | Should -BeTrue
        (Disable-MessageTracing).Records | Should -Be 1
    }

    It 'fails with a clear error for -ArchiveLogs of an in-memory trace, and tracing stays on' {
        Enable-MessageTracing | Out-Null
        { Disable-MessageTracing -ArchiveLogs -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,ModuleCommunication.Commands.DisableMessageTracingCommand'
        (Get-CommunicationConfiguration).EnableTracing | Should -BeTrue
        (Disable-MessageTracing).WasEnabled | Should -BeTrue
    }

    It 'leaves tracing on when the archive folder cannot be made, so that a retry archives the whole trace' {
        New-MessageChannel -Name 'C' | Out-Null
        Enable-MessageTracing -LogToFile -FilePath (Join-Path $TestDrive 'retry.log') | Out-Null
        Publish-ModuleMessage -Channel 'C' -MessageType 'Before' | Out-Null
        $notFolder = Join-Path $TestDrive 'not-a-folder'
        Set-Content -LiteralPath $notFolder -Value ''
        { Disable-MessageTracing -ArchiveLogs -ArchivePath (Join-Path $notFolder 'archive') -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidArgument,ModuleCommunication.Commands.DisableMessageTracingCommand'
        (Get-CommunicationConfiguration).EnableTracing | Should -BeTrue
        Publish-ModuleMessage -Channel 'C' -MessageType 'After' | Out-Null
        $summary = Disable-MessageTracing -ArchiveLogs -ArchivePath (Join-Path $TestDrive 'archive')
        $text = Expand-GzipText $summary.Archive
        $text | Should -BeLike '*"Before"*'
        $text | Should -BeLike '*"After"*'
    }

    It 'refuses a named pipe as -FilePath at once, and tracing goes on as it was' {
        $pipe = Join-Path $TestDrive 'trace.pipe'
        mkfifo $pipe
        # Opening a pipe no one reads would block, and every tracing cmdlet after it: tried in a
        # child process, which is stopped after 60 seconds.
        $child = Invoke-ChildPwsh -TimeoutSeconds 60 -Script @'
Import-Module $env:MC_MODULE_PSD1
Enable-MessageTracing -Level Verbose | Out-Null
try { Enable-MessageTracing -LogToFile -FilePath 'PIPE' -ErrorAction Stop | Out-Null; 'enabled' } catch { "refused: $($_.FullyQualifiedErrorId): $($_.Exception.Message)" }
$status = Disable-MessageTracing
"still on: $($status.WasEnabled), files: $($status.Files.Count)"
'@.Replace('PIPE', $pipe)
        $child.Exited | Should -BeTrue -Because 'Enable-MessageTracing returns at once'
        $child.Output | Should -BeLike "*refused: InvalidArgument,*'$pipe'*not a regular file*"
        $child.Output | Should -BeLike '*still on: True, files: 0*'
        stat -c %F $pipe | Should -Be 'fifo'
    }

    It 'fails for -FilePath without -LogToFile and for an unwritable file, leaving tracing as it was' {
        { Enable-MessageTracing -FilePath 'x.log' -ErrorAction Stop } | Should -Throw -ErrorId 'FilePathWithoutLogToFile,ModuleCommunication.Commands.EnableMessageTracingCommand'
        Enable-MessageTracing -Level Verbose | Out-Null
        { Enable-MessageTracing -LogToFile -FilePath '/proc/no-such-dir/t.log' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,ModuleCommunication.Commands.EnableMessageTracingCommand'
        New-MessageChannel -Name 'C' | Out-Null
        $s = Subscribe-ModuleMessage -Channel 'C' -Handler { param($Message) }
        Publish-ModuleMessage -Channel 'C' -MessageType 'T' | Wait-ModuleMessage -Timeout 10
        Wait-Until { @(Get-MessageTrace | Where-Object Event -eq 'deliver').Count -eq 1 } | Should -BeTrue
    }
}
