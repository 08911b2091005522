BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')

    # Returns a time strictly between the events published before and after the call:
    # event timestamps have millisecond resolution, so step past the millisecond on both sides.
    function Get-TimeBetweenEvents {
        $before = Get-Date
        Wait-Until { (Get-Date) -gt $before.AddMilliseconds(5) } | Out-Null
        $between = Get-Date
        Wait-Until { (Get-Date) -gt $between.AddMilliseconds(5) } | Out-Null
        $between
    }

    # A fresh folder for one test's files.
    function New-TestFolder {
        $path = Join-Path ([System.IO.Path]::GetTempPath()) ('mc-history-' + [guid]::NewGuid().ToString('N').Substring(0, 12))
        New-Item -ItemType Directory -Path $path | Select-Object -ExpandProperty FullName
    }
}

Describe 'Get-ModuleEvents' {
    BeforeAll {
        Reset-Events
        Publish-ModuleEvent -EventName 'LabStepStarted' -SourceModule 'LabRunner' -EventData 1 | Out-Null
        Publish-ModuleEvent -EventName 'ConfigurationChanged' -SourceModule 'ConfigurationCore' -EventData 2 | Out-Null
        # Events published after this moment.
        $script:between = Get-TimeBetweenEvents
        Publish-ModuleEvent -EventName 'LabStepCompleted' -SourceModule 'LabRunner' -EventData 3 | Out-Null
        Publish-ModuleEvent -EventName 'LabStepFailed' -EventData 4 -Channel 'Alerts' | Out-Null
    }
    AfterAll { Reset-Events }

    It 'returns every event, oldest first, as ModuleEvent objects' {
        $all = Get-ModuleEvents
        $all | Should -HaveCount 4
        $all[0] | Should -BeOfType ([ModuleCommunication.ModuleEvent])
        $all.Data | Should -Be @(1, 2, 3, 4)
    }

    It 'filters by name with wildcards, case-insensitively' {
        (Get-ModuleEvents -EventName 'labstep*').Data | Should -Be @(1, 3, 4)
        (Get-ModuleEvents 'ConfigurationChanged').Data | Should -Be 2
        Get-ModuleEvents -EventName 'Nothing*' | Should -BeNullOrEmpty
    }

    It 'filters by time with -Since' {
        (Get-ModuleEvents -Since $script:between).Data | Should -Be @(3, 4)
    }

    It 'reads -Since as local time in a process that is not in UTC (UTC+05:30)' {
        # This machine runs in UTC, where local and UTC times are the same: a child process
        # with another time zone shows whether -Since is converted.
        $saved = $env:TZ
        $env:TZ = 'Asia/Kolkata'
        try {
            $job = Start-Job -ScriptBlock {
                param($psd1)
                Import-Module $psd1
                Publish-ModuleEvent -EventName 'Before' | Out-Null
                $start = Get-Date
                while ((Get-Date) -le $start.AddMilliseconds(5)) { }
                $between = Get-Date
                while ((Get-Date) -le $between.AddMilliseconds(5)) { }
                Publish-ModuleEvent -EventName 'After' | Out-Null
                $replayed = [System.Collections.Generic.List[string]]::new()
                Subscribe-ModuleEvent -EventName '*' -Since $between -Handler { param($e) $replayed.Add($e.Name) }.GetNewClosure() | Out-Null
                Wait-ModuleMessage -Timeout 10
                [pscustomobject]@{
                    Offset   = [TimeZoneInfo]::Local.BaseUtcOffset.TotalMinutes
                    Kind     = $between.Kind.ToString()
                    Queried  = @(Get-ModuleEvents -Since $between).Name -join ','
                    Replayed = $replayed -join ','
                }
            } -ArgumentList $env:MC_MODULE_PSD1
        } finally { $env:TZ = $saved }
        $result = $job | Wait-Job -Timeout 120 | Receive-Job
        $job | Remove-Job -Force
        ($result.Offset, $result.Kind) | Should -Be @(330, 'Local')
        $result.Queried | Should -Be 'After'
        $result.Replayed | Should -Be 'After'
    }

    It 'keeps the newest N with -Last, still oldest first' {
        (Get-ModuleEvents -Last 2).Data | Should -Be @(3, 4)
        (Get-ModuleEvents -EventName 'LabStep*' -Last 1).Data | Should -Be 4
    }

    It 'filters by source module and channel' {
        (Get-ModuleEvents -SourceModule 'Lab*').Data | Should -Be @(1, 3)
        (Get-ModuleEvents -Channel 'Alerts').Data | Should -Be 4
    }

    It 'completes event names from the history' {
        $line = 'Get-ModuleEvents -EventName LabStepC'
        $completion = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $completion.CompletionMatches.CompletionText | Should -Be @('LabStepCompleted')
    }

    It 'completes event channels from the history, for every cmdlet that takes one' {
        foreach ($line in 'Get-ModuleEvents -Channel Al', 'Publish-ModuleEvent -Channel Al', 'Register-ModuleEventHandler -Channel Al') {
            $completion = TabExpansion2 -inputScript $line -cursorColumn $line.Length
            $completion.CompletionMatches.CompletionText | Should -Be @('Alerts') -Because $line
        }
    }

    It 'reads well in a console: at 80 columns the time, name, channel, priority and source show' {
        $lines = (Get-ModuleEvents | Out-String -Width 80).Trim() -split '\r?\n'
        $lines[0] | Should -Match '^Time\s+Name\s+Channel\s+Priority\s+Source$'
        # Header, rule, one line per event: nothing wraps.
        $lines | Should -HaveCount 6
        $failed = Get-ModuleEvents -EventName 'LabStepFailed'
        $lines[5] | Should -Match ('^' + $failed.Timestamp.ToString('MM-dd HH:mm:ss') + '\s+LabStepFailed\s+Alerts\s+Normal$')
        $lines -match '^\S+ \S+\s+LabStepStarted\s+Events\s+Normal\s+LabRunner$' | Should -HaveCount 1
    }
}

Describe 'Completion of event names' {
    BeforeEach { Reset-Events }
    AfterAll { Reset-Events }

    It 'completes <Name> escaped where -EventName is a pattern, so that it finds only itself, and as it is where it is a name' -ForEach @(
        @{ Name = 'Odd[1]' }, @{ Name = 'Odd*' }, @{ Name = 'Odd?' }, @{ Name = 'Odd,&{x}' }
    ) {
        'Odd1', 'Odd[1]', 'Odd*', 'Odd?', 'Odd,&{x}' | ForEach-Object { Publish-ModuleEvent -EventName $_ | Out-Null }
        $text = Get-CompletionText 'Get-ModuleEvents -EventName Odd' $Name
        (Invoke-Expression "Get-ModuleEvents -EventName $text").Name | Should -BeExactly $Name -Because $text
        $text = Get-CompletionText 'Publish-ModuleEvent -EventName Odd' $Name
        Invoke-Expression "Publish-ModuleEvent -EventName $text" | Out-Null
        (Get-ModuleEvents -Last 1).Name | Should -BeExactly $Name -Because $text
        $text = Get-CompletionText 'Clear-EventHistory -EventName Odd' $Name
        (Invoke-Expression "Clear-EventHistory -EventName $text -Force").ClearedCount | Should -Be 2 -Because $text
    }
}

Describe 'The history ring (MaxEventHistory)' {
    BeforeEach { Reset-Events }
    AfterAll { Reset-Events }

    It 'keeps exactly the newest 1000 of 10,000 events, in order' {
        for ($i = 0; $i -lt 10000; $i++) { $null = Publish-ModuleEvent -EventName 'Tick' -EventData $i }
        $history = Get-ModuleEvents
        $history.Count | Should -Be 1000
        $history[0].Data | Should -Be 9000
        $history[-1].Data | Should -Be 9999
        ($history.Data | Sort-Object) -join ',' | Should -Be ($history.Data -join ',')
    }

    It 'follows MaxEventHistory, and a smaller value drops the oldest at once' {
        Set-CommunicationConfiguration -MaxEventHistory 5
        1..8 | ForEach-Object { Publish-ModuleEvent -EventName 'T' -EventData $_ } | Out-Null
        (Get-ModuleEvents).Data | Should -Be @(4, 5, 6, 7, 8)
        Set-CommunicationConfiguration -Settings @{ MaxEventHistory = 2 }
        (Get-ModuleEvents).Data | Should -Be @(7, 8)
        (Get-CommunicationConfiguration).MaxEventHistory | Should -Be 2
        # 0 keeps none, by parameter as by -Settings; subscribers still get every event.
        Set-CommunicationConfiguration -MaxEventHistory 0
        Publish-ModuleEvent -EventName 'T' -EventData 9 | Out-Null
        Get-ModuleEvents | Should -BeNullOrEmpty
    }
}

Describe 'Clear-EventHistory' {
    BeforeEach {
        Reset-Events
        'LabStepStarted', 'ConfigurationChanged', 'LabStepCompleted' | ForEach-Object { Publish-ModuleEvent -EventName $_ } | Out-Null
    }
    AfterAll { Reset-Events }

    It 'removes the matching events and returns Success and ClearedCount' {
        $r = Clear-EventHistory -EventName 'LabStep*' -Force
        $r | Should -BeOfType ([ModuleCommunication.EventHistoryClearResult])
        $r.Success | Should -BeTrue
        $r.ClearedCount | Should -Be 2
        (Get-ModuleEvents).Name | Should -Be 'ConfigurationChanged'
    }

    It 'takes event names from the pipeline' {
        ('LabStepStarted', 'LabStepCompleted' | Clear-EventHistory -Force).ClearedCount | Should -Be @(1, 1)
        (Get-ModuleEvents).Name | Should -Be 'ConfigurationChanged'
    }

    It 'refuses events piped from Get-ModuleEvents, which would have removed every event of their name' {
        Publish-ModuleEvent -EventName 'LabStepStarted' | Out-Null
        $result = Get-ModuleEvents -EventName 'LabStepStarted' -Last 1 | Clear-EventHistory -Force -ErrorVariable failed -ErrorAction SilentlyContinue
        $result | Should -BeNullOrEmpty
        $failed | Should -HaveCount 1
        $failed[0].FullyQualifiedErrorId | Should -Be 'ClearByEventNotSupported,ModuleCommunication.Commands.ClearEventHistoryCommand'
        $failed[0].Exception.Message | Should -BeLike "*Clear-EventHistory -EventName 'LabStepStarted'*"
        @(Get-ModuleEvents -EventName 'LabStepStarted') | Should -HaveCount 2
    }

    It 'clears everything without -EventName' {
        (Clear-EventHistory -Force).ClearedCount | Should -Be 3
        Get-ModuleEvents | Should -BeNullOrEmpty
    }

    It 'changes nothing with -WhatIf' {
        Clear-EventHistory -Force -WhatIf | Should -BeNullOrEmpty
        Get-ModuleEvents | Should -HaveCount 3
    }

    It 'does not touch subscriptions or what is queued for them' {
        $script:handled = 0
        Subscribe-ModuleEvent -EventName 'Queued' -Handler { $script:handled++ } | Out-Null
        Stop-MessageProcessor | Out-Null
        $id = Publish-ModuleEvent -EventName 'Queued'
        Clear-EventHistory -Force | Out-Null
        Start-MessageProcessor | Out-Null
        $id | Wait-ModuleMessage -Timeout 10
        $script:handled | Should -Be 1
    }
}

Describe 'Paths of only spaces' {
    It 'are refused instead of naming a file of spaces in the current folder' {
        Push-Location $TestDrive
        try {
            { Export-EventHistory -Path '   ' } | Should -Throw -ErrorId 'ParameterArgumentValidationError,*'
            { Import-EventHistory -Path '   ' } | Should -Throw -ErrorId 'ParameterArgumentValidationError,*'
            { Enable-MessageTracing -LogToFile -FilePath '  ' } | Should -Throw '*only spaces*'
            { Set-CommunicationConfiguration -EventHistoryPath '   ' } | Should -Throw '*only spaces*'
            Get-ChildItem -Force | Should -BeNullOrEmpty
        } finally { Pop-Location }
    }
}

Describe 'Paths of another provider than the file system' {
    BeforeAll {
        Reset-Events
        Publish-ModuleEvent -EventName 'Kept' | Out-Null
        # The process's working folder, where the core would make a file named after the item.
        $script:workingFolder = [Environment]::CurrentDirectory
        [Environment]::CurrentDirectory = $TestDrive
    }
    AfterAll {
        [Environment]::CurrentDirectory = $script:workingFolder
        Disable-MessageTracing | Out-Null
        Reset-Events
    }

    It 'are refused by <Command>, naming the path and its provider, and nothing is written' -ForEach @(
        @{ Command = 'Export-EventHistory'; Call = { Export-EventHistory -Path 'variable:/export.jsonl' } }
        @{ Command = 'Import-EventHistory'; Call = { Import-EventHistory -Path 'function:/import.jsonl' -ErrorAction Stop } }
        @{ Command = 'Set-CommunicationConfiguration'; Call = { Set-CommunicationConfiguration -EventHistoryPath 'env:/history.jsonl' } }
        @{ Command = 'Enable-MessageTracing'; Call = { Enable-MessageTracing -LogToFile -FilePath 'alias:/trace.log' } }
        @{ Command = 'Disable-MessageTracing'; Call = { Disable-MessageTracing -ArchiveLogs -ArchivePath 'variable:/archive' } }
    ) {
        Enable-MessageTracing -LogToFile -FilePath (Join-Path $TestDrive 'on.log') | Out-Null
        $err = $Call | Should -Throw -ErrorId "NotFileSystemPath,ModuleCommunication.Commands.*" -PassThru
        $err.Exception.Message | Should -BeLike '*is not a file system path*'
        $err.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
        Get-ChildItem -LiteralPath $TestDrive -Name | Should -Be @('on.log') -Because 'no file was made for the item name'
        (Get-CommunicationConfiguration).EventHistoryPath | Should -BeNullOrEmpty
        (Get-CommunicationConfiguration).EnableTracing | Should -BeTrue
        (Get-ModuleEvents).Name | Should -Be @('Kept')
        Disable-MessageTracing | Out-Null
        Remove-Item -LiteralPath (Join-Path $TestDrive 'on.log')
    }
}

Describe 'Export-EventHistory and Import-EventHistory' {
    BeforeEach {
        Reset-Events
        $script:folder = New-TestFolder
        Publish-ModuleEvent -EventName 'Fidelity' -SourceModule 'Exporter' -CorrelationId 'c,1' -Priority High -EventData @{
            Text = "comma, `"quote`"`nnew line"
            When = [datetime]::new(2026, 11, 27, 6, 30, 15, 123, [DateTimeKind]::Utc)
            Long = 5000000000
            List = @(1, 'two')
        } | Out-Null
        Publish-ModuleEvent -EventName 'Other' -Channel 'Lab' | Out-Null
    }
    AfterEach { Remove-Item -LiteralPath $script:folder -Recurse -Force -ErrorAction SilentlyContinue }
    AfterAll { Reset-Events }

    It 'says which format a file was read as when -Format does not match it, and how to read it' {
        $path = Join-Path $script:folder 'events.jsonl'
        Export-EventHistory -Path $path
        $err = { Import-EventHistory -Path $path -Format Csv -ErrorAction Stop } | Should -Throw -ErrorId 'CorruptFile,*' -PassThru
        $err.ErrorDetails.Message | Should -BeLike '*another path. It was read as Csv.'
        $err.ErrorDetails.RecommendedAction | Should -BeLike '*-Format JsonLines*'
        (Import-EventHistory -Path $path -Format JsonLines).Read | Should -Be 2
    }

    It 'round-trips every field and the data types through <Format>' -ForEach @(
        @{ Format = 'JsonLines'; File = 'events.jsonl' }, @{ Format = 'Csv'; File = 'events.csv' }
    ) {
        $path = Join-Path $script:folder $File
        $before = Get-ModuleEvents
        $r = Export-EventHistory -Path $path -PassThru
        $r.Count | Should -Be 2
        $r.Format | Should -Be $Format
        Clear-EventHistory -Force | Out-Null
        $import = Import-EventHistory -Path $path
        $import | Should -BeOfType ([ModuleCommunication.EventHistoryImportResult])
        $import.Read | Should -Be 2
        $import.Imported | Should -Be 2
        $after = Get-ModuleEvents
        foreach ($p in 'Id', 'Name', 'Channel', 'Source', 'Priority', 'Timestamp', 'CorrelationId') {
            $after.$p | Should -Be $before.$p -Because $p
        }
        $after[0].Data.Text | Should -BeExactly "comma, `"quote`"`nnew line"
        $after[0].Data.When | Should -BeOfType ([datetime])
        $after[0].Data.When.Kind | Should -Be 'Utc'
        $after[0].Data.Long | Should -BeOfType ([long])
        $after[0].Data.List | Should -Be @(1, 'two')
    }

    It 'reads well in a console: at 80 columns the counts show before a long path' {
        $path = Join-Path $script:folder 'the-lab-event-history-exported-before-the-upgrade.jsonl'
        $lines = (Export-EventHistory -Path $path -PassThru | Out-String -Width 80).Trim() -split '\r?\n'
        $lines[0] | Should -Match '^Count\s+Format\s+Path$'
        $lines | Should -HaveCount 3
        $lines[2] | Should -Match '^\s+2 JsonLines /'
        # Both events are in the history still: each one read is a duplicate.
        $lines = (Import-EventHistory -Path $path | Out-String -Width 80).Trim() -split '\r?\n'
        $lines[0] | Should -Match '^Read\s+Imported\s+Duplicates\s+OverCapacity\s+Format\s+Path$'
        $lines | Should -HaveCount 3
        $lines[2] | Should -Match '^\s+2\s+0\s+2\s+0 JsonLines /'
    }

    It 'writes a CSV file that Import-Csv reads, with JSON data' {
        $path = Join-Path $script:folder 'events.csv'
        Export-EventHistory -Path $path
        $rows = Import-Csv -LiteralPath $path
        $rows.Name | Should -Be @('Fidelity', 'Other')
        ($rows[0].Data | ConvertFrom-Json).Long | Should -Be 5000000000
        $rows[0].CorrelationId | Should -Be 'c,1'
    }

    It 'exports only what the filters select' {
        $path = Join-Path $script:folder 'some.jsonl'
        (Export-EventHistory -Path $path -EventName 'Oth*' -PassThru).Count | Should -Be 1
        (Get-Content -LiteralPath $path).Count | Should -Be 1
    }

    It 'refuses piped events, writing nothing, instead of writing the whole history' {
        $path = Join-Path $script:folder 'piped.jsonl'
        { Get-ModuleEvents -EventName 'Oth*' | Export-EventHistory -Path $path } |
            Should -Throw -ErrorId 'ExportByEventNotSupported,ModuleCommunication.Commands.ExportEventHistoryCommand'
        Test-Path -LiteralPath $path | Should -BeFalse
    }

    It 'skips events that are already in the history' {
        $path = Join-Path $script:folder 'events.jsonl'
        Export-EventHistory -Path $path
        $r = Import-EventHistory -Path $path
        $r.Imported | Should -Be 0
        $r.Duplicates | Should -Be 2
        Get-ModuleEvents | Should -HaveCount 2
    }

    It 'refuses to replace a file with -NoClobber' {
        $path = Join-Path $script:folder 'events.jsonl'
        Set-Content -LiteralPath $path -Value 'keep me'
        { Export-EventHistory -Path $path -NoClobber } |
            Should -Throw -ErrorId 'FileExists,ModuleCommunication.Commands.ExportEventHistoryCommand'
        Get-Content -LiteralPath $path | Should -Be 'keep me'
    }

    It 'reports a folder that does not exist, and a file that does not exist' {
        { Export-EventHistory -Path (Join-Path $script:folder 'no/such/dir/x.jsonl') } |
            Should -Throw -ErrorId 'Io,ModuleCommunication.Commands.ExportEventHistoryCommand'
        { Import-EventHistory -Path (Join-Path $script:folder 'missing.jsonl') -ErrorAction Stop } |
            Should -Throw -ErrorId 'Io,ModuleCommunication.Commands.ImportEventHistoryCommand'
    }

    It 'refuses to export onto a named pipe, which stays a pipe, and writes through a symbolic link to its file' {
        $pipe = Join-Path $script:folder 'pipe.jsonl'
        mkfifo $pipe
        $err = { Export-EventHistory -Path $pipe } |
            Should -Throw -ErrorId 'Io,ModuleCommunication.Commands.ExportEventHistoryCommand' -PassThru
        $err.Exception.Message | Should -BeLike "*'$pipe'*not a regular file*"
        stat -c %F $pipe | Should -Be 'fifo'

        $target = Join-Path $script:folder 'target.jsonl'
        Set-Content -LiteralPath $target -Value 'before'
        $link = Join-Path $script:folder 'link.jsonl'
        New-Item -ItemType SymbolicLink -Path $link -Target $target | Out-Null
        (Export-EventHistory -Path $link -PassThru).Count | Should -Be 2
        (Get-Item -LiteralPath $link).LinkType | Should -Be 'SymbolicLink'
        (Get-Content -LiteralPath $target | ConvertFrom-Json).name | Should -Be @('Fidelity', 'Other')
    }

    It 'refuses to import a folder or a named pipe at once, naming it' {
        $err = { Import-EventHistory -Path $script:folder -ErrorAction Stop } |
            Should -Throw -ErrorId 'Io,ModuleCommunication.Commands.ImportEventHistoryCommand' -PassThru
        $err.Exception.Message | Should -BeLike "*'$($script:folder)'*not a regular file*"
        # A pipe no one writes to would block the import for ever: tried in a child process,
        # which is stopped after 60 seconds.
        $pipe = Join-Path $script:folder 'pipe.jsonl'
        mkfifo $pipe
        $child = Invoke-ChildPwsh -TimeoutSeconds 60 -Script @'
Import-Module $env:MC_MODULE_PSD1
try { Import-EventHistory -Path 'PIPE' -ErrorAction Stop; 'imported' } catch { "refused: $($_.FullyQualifiedErrorId): $($_.Exception.Message)" }
'@.Replace('PIPE', $pipe)
        $child.Exited | Should -BeTrue -Because 'the import returns at once'
        $child.Output | Should -BeLike "*refused: Io,*'$pipe'*not a regular file*"
    }

    It 'warns about a torn last line and imports the complete records before it' {
        $path = Join-Path $script:folder 'torn.jsonl'
        Export-EventHistory -Path $path
        Add-Content -LiteralPath $path -Value '{"id":"1b4e28ba-2fa1-41d2-883f-0016d3cca427","name":"Cut' -NoNewline
        Clear-EventHistory -Force | Out-Null
        $r = Import-EventHistory -Path $path -WarningVariable warnings -WarningAction SilentlyContinue
        $r.Imported | Should -Be 2
        $warnings | Should -BeLike '*torn last line*'
    }

    It 'refuses a corrupt file, naming the line, and imports nothing' {
        $path = Join-Path $script:folder 'bad.jsonl'
        Export-EventHistory -Path $path
        $lines = Get-Content -LiteralPath $path
        Set-Content -LiteralPath $path -Value @($lines[0], 'garbage', $lines[1])
        Clear-EventHistory -Force | Out-Null
        { Import-EventHistory -Path $path -ErrorAction Stop } |
            Should -Throw -ErrorId 'CorruptFile,ModuleCommunication.Commands.ImportEventHistoryCommand'
        { Import-EventHistory -Path $path -ErrorAction Stop } | Should -Throw '*line 2: it is not a JSON event record (the text is not valid JSON at column 1)*'
        Set-Content -LiteralPath $path -Value @($lines[0], '{"bad":1}')
        $err = { Import-EventHistory -Path $path -ErrorAction Stop } | Should -Throw -PassThru
        $err.Exception.Message | Should -BeLike "*line 2: it is not a JSON event record (the key 'id' is missing)*"
        $err.Exception.Message | Should -Not -Match '`|ident|missing field'
        Get-ModuleEvents | Should -BeNullOrEmpty
    }
}

Describe 'Persisting the history to a file' {
    BeforeEach {
        Reset-Events
        $script:folder = New-TestFolder
        $script:file = Join-Path $script:folder 'history.jsonl'
    }
    AfterEach {
        Set-CommunicationConfiguration -EventHistoryPath ''
        Remove-Item -LiteralPath $script:folder -Recurse -Force -ErrorAction SilentlyContinue
    }
    AfterAll { Reset-Events }

    It 'refuses to export onto the history file it writes to, which keeps every event' {
        Set-CommunicationConfiguration -EventHistoryPath $script:file
        'A', 'B' | ForEach-Object { Publish-ModuleEvent -EventName $_ } | Out-Null
        { Export-EventHistory -Path $script:file -EventName 'A' } | Should -Throw '*EventHistoryPath*export to another file*'
        Publish-ModuleEvent -EventName 'C' | Out-Null
        @(Get-Content -LiteralPath $script:file).Count | Should -Be 3
    }

    It 'appends each event as one JSON line before Publish-ModuleEvent returns' {
        Set-CommunicationConfiguration -EventHistoryPath $script:file
        (Get-CommunicationConfiguration).EventHistoryPath | Should -Be $script:file
        foreach ($i in 1..3) {
            $id = Publish-ModuleEvent -EventName 'Saved' -EventData @{ N = $i }
            $lines = @(Get-Content -LiteralPath $script:file)
            $lines.Count | Should -Be $i
            ($lines[-1] | ConvertFrom-Json).id | Should -Be $id.ToString()
        }
    }

    It 'resolves a relative path against the current location' {
        Push-Location $script:folder
        try {
            Set-CommunicationConfiguration -EventHistoryPath 'relative.jsonl'
            (Get-CommunicationConfiguration).EventHistoryPath | Should -Be (Join-Path $script:folder 'relative.jsonl')
        }
        finally { Pop-Location }
    }

    It 'reloads the history in the next session that imports the module with $env:MODULECOMMUNICATION_EVENT_HISTORY' {
        Set-CommunicationConfiguration -EventHistoryPath $script:file
        Publish-ModuleEvent -EventName 'BeforeRestart' -EventData @{ When = [datetime]::new(2026, 1, 2, 3, 4, 5, 6, [DateTimeKind]::Utc) } | Out-Null
        # This session ends its use of the file, as a process that exits does.
        Set-CommunicationConfiguration -EventHistoryPath ''
        $job = Start-Job -ScriptBlock {
            param($psd1, $file)
            $env:MODULECOMMUNICATION_EVENT_HISTORY = $file
            Import-Module $psd1
            $e = Get-ModuleEvents
            [pscustomobject]@{ Name = $e.Name; WhenType = $e.Data.When.GetType().Name; When = $e.Data.When.ToString('o') }
            Publish-ModuleEvent -EventName 'InTheJob' | Out-Null
        } -ArgumentList $env:MC_MODULE_PSD1, $script:file
        $result = $job | Wait-Job -Timeout 120 | Receive-Job
        $job | Remove-Job -Force
        $result.Name | Should -Be 'BeforeRestart'
        $result.WhenType | Should -Be 'DateTime'
        $result.When | Should -Be '2026-01-02T03:04:05.0060000Z'
        (@(Get-Content -LiteralPath $script:file) | ForEach-Object { ($_ | ConvertFrom-Json).name }) |
            Should -Be @('BeforeRestart', 'InTheJob')
    }

    It 'refuses the file to a second process while this one writes to it, and the file stays readable' {
        Set-CommunicationConfiguration -EventHistoryPath $script:file
        Publish-ModuleEvent -EventName 'Mine' | Out-Null
        $job = Start-Job -ScriptBlock {
            param($psd1, $file)
            Import-Module $psd1
            try { Set-CommunicationConfiguration -EventHistoryPath $file; 'accepted' } catch { $_.FullyQualifiedErrorId; "$_" }
        } -ArgumentList $env:MC_MODULE_PSD1, $script:file
        $result = $job | Wait-Job -Timeout 120 | Receive-Job
        $job | Remove-Job -Force
        $result[0] | Should -Be 'Io,ModuleCommunication.Commands.SetCommunicationConfigurationCommand'
        $result[1] | Should -BeLike '*another hub (in this or another process) writes to it*'
        (Get-Content -LiteralPath $script:file | ConvertFrom-Json).name | Should -Be 'Mine'
    }

    It 'reports a corrupt file named by $env:MODULECOMMUNICATION_EVENT_HISTORY on the first event cmdlet, and keeps events in memory' {
        Set-Content -LiteralPath $script:file -Value @('not an event', '{}')
        $job = Start-Job -ScriptBlock {
            param($psd1, $file)
            $env:MODULECOMMUNICATION_EVENT_HISTORY = $file
            Import-Module $psd1
            $null = Publish-ModuleEvent -EventName 'Kept' -ErrorVariable problems -ErrorAction SilentlyContinue
            [pscustomobject]@{
                ErrorId = $problems[0].FullyQualifiedErrorId
                Message = "$($problems[0])"
                Events  = @(Get-ModuleEvents).Count
                Path    = (Get-CommunicationConfiguration).EventHistoryPath
            }
        } -ArgumentList $env:MC_MODULE_PSD1, $script:file
        $result = $job | Wait-Job -Timeout 120 | Receive-Job
        $job | Remove-Job -Force
        $result.ErrorId | Should -Be 'CorruptFile,ModuleCommunication.Commands.PublishModuleEventCommand'
        $result.Message | Should -BeLike '*line 1*'
        $result.Events | Should -Be 1
        $result.Path | Should -BeNullOrEmpty
        Get-Content -LiteralPath $script:file | Should -Be @('not an event', '{}')
    }

    It 'skips a torn last line with a warning, keeps the records before it, and appends cleanly after' {
        Set-CommunicationConfiguration -EventHistoryPath $script:file
        'One', 'Two' | ForEach-Object { Publish-ModuleEvent -EventName $_ } | Out-Null
        Set-CommunicationConfiguration -EventHistoryPath ''
        Add-Content -LiteralPath $script:file -Value '{"id":"1b4e28ba-2fa1-41d2-883f-0016d3cca427","name":"Thr' -NoNewline
        Clear-EventHistory -Force | Out-Null

        Set-CommunicationConfiguration -EventHistoryPath $script:file -WarningVariable warnings -WarningAction SilentlyContinue
        $warnings | Should -BeLike '*torn last line*'
        (Get-ModuleEvents).Name | Should -Be @('One', 'Two')
        Publish-ModuleEvent -EventName 'Four' | Out-Null
        (@(Get-Content -LiteralPath $script:file) | ForEach-Object { ($_ | ConvertFrom-Json).name }) | Should -Be @('One', 'Two', 'Four')
    }

    It 'reports a corrupt file, changes nothing, and leaves the file as it is' {
        Set-Content -LiteralPath $script:file -Value @('{"not":"an event"}')
        Publish-ModuleEvent -EventName 'InMemory' | Out-Null
        { Set-CommunicationConfiguration -EventHistoryPath $script:file } |
            Should -Throw -ErrorId 'CorruptFile,ModuleCommunication.Commands.SetCommunicationConfigurationCommand'
        (Get-CommunicationConfiguration).EventHistoryPath | Should -BeNullOrEmpty
        (Get-ModuleEvents).Name | Should -Be 'InMemory'
        Get-Content -LiteralPath $script:file | Should -Be '{"not":"an event"}'
    }

    It 'rotates the file at EventHistoryMaxBytes and reloads both files' {
        Set-CommunicationConfiguration -EventHistoryPath $script:file -EventHistoryMaxBytes 2000
        1..20 | ForEach-Object { Publish-ModuleEvent -EventName 'Rotating' -EventData $_ } | Out-Null
        "$script:file.1" | Should -Exist
        (Get-Item -LiteralPath $script:file).Length | Should -BeLessOrEqual 2000
        $onDisk = @(Get-Content -LiteralPath "$script:file.1") + @(Get-Content -LiteralPath $script:file)
        Set-CommunicationConfiguration -EventHistoryPath ''
        Clear-EventHistory -Force | Out-Null
        Set-CommunicationConfiguration -EventHistoryPath $script:file
        $reloaded = (Get-ModuleEvents).Data
        $reloaded.Count | Should -Be $onDisk.Count
        $reloaded[-1] | Should -Be 20
        ($reloaded -join ',') | Should -Be ((($reloaded[0])..20) -join ',')
    }

    It 'refuses its own rotated file (.1) as such, not as the file of another hub' {
        try {
            Set-CommunicationConfiguration -EventHistoryPath $script:file -EventHistoryMaxBytes 600
            1..5 | ForEach-Object { Publish-ModuleEvent -EventName 'Rotating' -EventData $_ } | Out-Null
            "$script:file.1" | Should -Exist
            $problem = { Set-CommunicationConfiguration -EventHistoryPath "$script:file.1" -ErrorAction Stop } |
                Should -Throw -ErrorId 'InvalidArgument,ModuleCommunication.Commands.SetCommunicationConfigurationCommand' -PassThru
            "$problem" | Should -BeLike "*rotated part ('.1') of '$script:file', the event history file this hub writes to*choose another path*"
            "$problem" | Should -Not -BeLike '*another hub*'
            (Get-CommunicationConfiguration).EventHistoryPath | Should -Be $script:file
        }
        finally { Set-CommunicationConfiguration -EventHistoryMaxBytes 10485760 }
    }

    It 'rewrites the file on Clear-EventHistory, so cleared events do not come back' {
        Set-CommunicationConfiguration -EventHistoryPath $script:file
        'Keep', 'Drop', 'Keep' | ForEach-Object { Publish-ModuleEvent -EventName $_ } | Out-Null
        (Clear-EventHistory -EventName 'Drop' -Force).ClearedCount | Should -Be 1
        (@(Get-Content -LiteralPath $script:file) | ForEach-Object { ($_ | ConvertFrom-Json).name }) | Should -Be @('Keep', 'Keep')
    }
}

Describe 'Subscribe-ModuleEvent -Replay and -Since' {
    BeforeEach { Reset-Events }
    AfterAll { Reset-Events }

    It 'delivers the newest N matching events of the history first, then live ones' {
        1..5 | ForEach-Object { Publish-ModuleEvent -EventName 'LabStep' -EventData $_ } | Out-Null
        Publish-ModuleEvent -EventName 'Noise' | Out-Null
        $script:got = [System.Collections.Generic.List[object]]::new()
        Subscribe-ModuleEvent -EventName 'LabStep*' -Replay 2 -Handler { param($Event) $script:got.Add($Event.Data) } | Out-Null
        Publish-ModuleEvent -EventName 'LabStep' -EventData 'live' -Priority Critical | Out-Null
        Wait-ModuleMessage -Timeout 10
        $script:got | Should -Be @(4, 5, 'live')
    }

    It 'delivers the events since a time first' {
        Publish-ModuleEvent -EventName 'E' -EventData 'old' | Out-Null
        $since = Get-TimeBetweenEvents
        Publish-ModuleEvent -EventName 'E' -EventData 'recent' | Out-Null
        $script:got = [System.Collections.Generic.List[object]]::new()
        Subscribe-ModuleEvent -EventName 'E' -Since $since -Handler { param($Event) $script:got.Add($Event.Data) } | Out-Null
        Wait-ModuleMessage -Timeout 10
        $script:got | Should -Be @('recent')
    }

    It 'replays to a -RunAsync handler as well' {
        1..3 | ForEach-Object { Publish-ModuleEvent -EventName 'R' -EventData $_ } | Out-Null
        $seen = [System.Collections.Concurrent.ConcurrentQueue[object]]::new()
        Subscribe-ModuleEvent -EventName 'R' -Replay 3 -RunAsync -ArgumentList (, $seen) -Handler {
            param($Event, $seen)
            $seen.Enqueue($Event.Data)
        } | Out-Null
        Publish-ModuleEvent -EventName 'R' -EventData 4 | Out-Null
        Wait-ModuleMessage -Timeout 30
        $seen.ToArray() | Should -Be @(1, 2, 3, 4)
    }

    It 'neither misses nor repeats an event at the seam while a pool runspace publishes' {
        $count = 2000
        $publisher = [powershell]::Create()
        $null = $publisher.AddScript({
                param($psd1, $count)
                Import-Module $psd1
                for ($i = 0; $i -lt $count; $i++) { $null = Publish-ModuleEvent -EventName 'Seam' -EventData $i }
            }).AddArgument($env:MC_MODULE_PSD1).AddArgument($count)
        $async = $publisher.BeginInvoke()
        try {
            Wait-Until { @(Get-ModuleEvents -EventName 'Seam' -Last 1).Count -gt 0 } -TimeoutSeconds 30 | Should -BeTrue
            $script:got = [System.Collections.Generic.List[int]]::new()
            Subscribe-ModuleEvent -EventName 'Seam' -Replay 1000000 -MaxQueueSize 100000 -Handler { param($Event) $script:got.Add($Event.Data) } | Out-Null
            $publisher.EndInvoke($async)
        }
        finally { $publisher.Dispose() }
        Wait-ModuleMessage -Timeout 60
        # The replay holds what the history had (at most its 1000 newest), then every later
        # event arrives live: one unbroken run up to the last event, nothing twice.
        $first = $script:got[0]
        ($script:got -join ',') | Should -Be ((($first)..($count - 1)) -join ',')
        $script:got.Count | Should -BeGreaterThan ($count - 1000 - 1)
    }
}

Describe 'The history while an event publisher waits for room in a full Block queue' {
    BeforeEach { Reset-Events }
    AfterAll { Reset-Events }

    It 'can still be read and exported, and a subscription without -Replay still made' {
        # Another runspace subscribes (so no handler of this one drains the queue), fills the
        # queue, and publishes once more: that publish waits for room, for up to 10 minutes.
        $publisher = [powershell]::Create()
        $reader = [powershell]::Create()
        try {
            $null = $publisher.AddScript("Import-Module '$env:MC_MODULE_PSD1'
                Subscribe-ModuleEvent -EventName 'Full.*' -Handler { } -MaxQueueSize 1 -OverflowPolicy Block -BlockTimeout 600 | Out-Null
                Publish-ModuleEvent -EventName 'Full.1' | Out-Null
                Publish-ModuleEvent -EventName 'Full.2'")
            Stop-MessageProcessor | Out-Null
            $null = $publisher.BeginInvoke()
            Wait-Until { @(Get-MessageSubscriptions | Where-Object QueueLength -eq 1).Count -eq 1 } -TimeoutSeconds 20 | Should -BeTrue
            # Read in a third runspace, so that a read waiting for the publisher fails this test
            # after 30 s instead of hanging it for the block timeout.
            $export = Join-Path ([System.IO.Path]::GetTempPath()) ("mc-export-$([guid]::NewGuid().ToString('N')).jsonl")
            $null = $reader.AddScript("Import-Module '$env:MC_MODULE_PSD1'
                `$deadline = [datetime]::UtcNow.AddSeconds(20)
                do { `$names = @(Get-ModuleEvents -EventName 'Full.*').Name }
                until (`$names.Count -eq 2 -or [datetime]::UtcNow -gt `$deadline)
                `$names -join ','
                (Export-EventHistory -Path '$export' -PassThru).Count
                (Subscribe-ModuleEvent -EventName 'Other' -Handler { }) -ne `$null")
            $async = $reader.BeginInvoke()
            $async.AsyncWaitHandle.WaitOne([timespan]::FromSeconds(30)) |
                Should -BeTrue -Because 'reading the history must not wait for the blocked publisher'
            $out = $reader.EndInvoke($async)
            # The waiting event is in the history already: it was appended before it was routed.
            $out[0] | Should -Be 'Full.1,Full.2'
            $out[1] | Should -Be 2
            $out[2] | Should -BeTrue
            Remove-Item -LiteralPath $export -ErrorAction SilentlyContinue
        } finally {
            Get-MessageSubscriptions | Unsubscribe-ModuleMessage | Out-Null # releases the publisher
            Start-MessageProcessor | Out-Null
            $publisher.Dispose()
            $reader.Dispose()
        }
    }
}
