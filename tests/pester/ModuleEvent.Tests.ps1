BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
}

Describe 'The spec''s event examples run as written' {
    BeforeAll {
        # The examples print with Write-Host; this records what they print instead. Global, so
        # a handler finds it wherever it runs (at a checkpoint or in Wait-ModuleMessage).
        function global:Write-Host { param([object] $Object) $global:McPrinted.Add("$Object") }
    }
    BeforeEach {
        Reset-Events
        $global:McPrinted = [System.Collections.Generic.List[string]]::new()
    }
    AfterAll {
        Remove-Item -LiteralPath 'Function:\Write-Host' -ErrorAction SilentlyContinue
        Remove-Variable -Name McPrinted -Scope Global -ErrorAction SilentlyContinue
        Reset-Events
    }

    It 'Publishing Events: publish an event, and broadcast one to all channels' {
        New-MessageChannel -Name 'Configuration' | Out-Null
        $script:broadcast = $null
        Subscribe-ModuleMessage -Channel 'Configuration' -Handler { param($Message) $script:broadcast = $Message } | Out-Null

        # Publish an event
        Publish-ModuleEvent -EventName "ModuleInitialized" -EventData @{
            ModuleName = "LabRunner"
            Version = "1.0.0"
            InitTime = Get-Date
        }

        # Broadcast to all channels
        Publish-ModuleEvent -EventName "SystemShutdown" -EventData @{
            Reason = "Maintenance"
            ScheduledTime = (Get-Date).AddMinutes(5)
        } -Broadcast

        Wait-ModuleMessage -Timeout 10
        $events = Get-ModuleEvents
        $events.Name | Should -Be @('ModuleInitialized', 'SystemShutdown')
        $events[0].Data.ModuleName | Should -Be 'LabRunner'
        $script:broadcast.MessageType | Should -Be 'SystemShutdown'
        $script:broadcast.Data.Reason | Should -Be 'Maintenance'
        $script:broadcast.Data.ScheduledTime | Should -BeOfType ([datetime])
        $script:broadcast.Id | Should -Be $events[1].Id
    }

    It 'Subscribing to Events: a specific event and a wildcard' {
        # Subscribe to specific event
        Subscribe-ModuleEvent -EventName "ModuleInitialized" -Handler {
            param($Event)
            Write-Host "$($Event.Data.ModuleName) initialized at $($Event.Data.InitTime)"
        }

        # Subscribe with wildcards
        Subscribe-ModuleEvent -EventName "Module*" -Handler {
            param($Event)
            Write-Host "Module event: $($Event.Name)"
        }

        $initTime = [datetime]::new(2026, 11, 27, 6, 30, 0)
        Publish-ModuleEvent -EventName 'ModuleInitialized' -EventData @{ ModuleName = 'LabRunner'; InitTime = $initTime } |
            Wait-ModuleMessage -Timeout 10
        Publish-ModuleEvent -EventName 'moduleSTOPPED' | Wait-ModuleMessage -Timeout 10
        Publish-ModuleEvent -EventName 'ConfigurationChanged' | Wait-ModuleMessage -Timeout 10
        $global:McPrinted | Should -Be @(
            "LabRunner initialized at $initTime"
            'Module event: ModuleInitialized'
            'Module event: moduleSTOPPED'
        )
    }

    # The spec's ConfigurationCore example: an API handler publishes the event.
    It 'ConfigurationCore Integration: an API handler publishes ConfigurationChanged' {
        $script:notified = $null
        Subscribe-ModuleEvent -EventName 'ConfigurationChanged' -Handler {
            param($Event)
            $script:notified = "$($Event.Data.Module).$($Event.Data.Setting) = $($Event.Data.NewValue)"
        } | Out-Null

        # Publish configuration changes
        Register-ModuleAPI -ModuleName "ConfigurationCore" -APIName "NotifyChange" -Handler {
            param($ModuleName, $Setting, $OldValue, $NewValue)

            Publish-ModuleEvent -EventName "ConfigurationChanged" -EventData @{
                Module = $ModuleName
                Setting = $Setting
                OldValue = $OldValue
                NewValue = $NewValue
                Timestamp = Get-Date
            }
        }

        Invoke-ModuleAPI -Module 'ConfigurationCore' -Operation 'NotifyChange' -Parameters @{
            ModuleName = 'LabRunner'; Setting = 'MaxJobs'; OldValue = 5; NewValue = 10
        } | Out-Null
        Wait-ModuleMessage -Timeout 10
        $script:notified | Should -Be 'LabRunner.MaxJobs = 10'
        (Get-ModuleEvents -EventName 'ConfigurationChanged').Data.Timestamp | Should -BeOfType ([datetime])
    }

    It 'LabRunner Integration: one LabStep* handler tells the steps apart' {
        # Subscribe to lab events
        Subscribe-ModuleEvent -EventName "LabStep*" -Handler {
            param($Event)
            switch ($Event.Name) {
                "LabStepStarted" {
                    Write-Host "Step started: $($Event.Data.StepName)"
                }
                "LabStepCompleted" {
                    Write-Host "Step completed: $($Event.Data.StepName) in $($Event.Data.Duration)ms"
                }
                "LabStepFailed" {
                    Write-Host "Step failed: $($Event.Data.StepName) - $($Event.Data.Error)"
                }
            }
        }

        $ids = @(
            Publish-ModuleEvent -EventName 'LabStepStarted' -EventData @{ StepName = 'DeployVM' } -SourceModule 'LabRunner'
            Publish-ModuleEvent -EventName 'LabStepCompleted' -EventData @{ StepName = 'DeployVM'; Duration = 1250 } -SourceModule 'LabRunner'
            Publish-ModuleEvent -EventName 'LabStepFailed' -EventData @{ StepName = 'Configure'; Error = 'timeout' } -SourceModule 'LabRunner'
            Publish-ModuleEvent -EventName 'LabRunFinished' -SourceModule 'LabRunner'
        )
        $ids | Wait-ModuleMessage -Timeout 10
        $global:McPrinted | Should -Be @(
            'Step started: DeployVM'
            'Step completed: DeployVM in 1250ms'
            'Step failed: Configure - timeout'
        )
    }
}

Describe 'Publish-ModuleEvent' {
    BeforeEach { Reset-Events }
    AfterAll { Reset-Events }

    It 'returns the event id at once, as a Guid' {
        $id = Publish-ModuleEvent -EventName 'ModuleInitialized' -EventData @{ ModuleName = 'LabRunner' } -SourceModule 'LabRunner' -Priority High
        $id | Should -BeOfType ([guid])
        $id | Should -Not -Be ([guid]::Empty)
        (Get-ModuleEvents).Id | Should -Be $id
    }

    It 'is also called Send-ModuleEvent and Submit-ModuleEvent' {
        (Get-Command Send-ModuleEvent).ResolvedCommand.Name | Should -Be 'Publish-ModuleEvent'
        (Get-Command Submit-ModuleEvent).ResolvedCommand.Name | Should -Be 'Publish-ModuleEvent'
        Send-ModuleEvent -EventName 'A' | Should -BeOfType ([guid])
        Submit-ModuleEvent -EventName 'B' | Should -BeOfType ([guid])
    }

    It 'publishes on the Events channel unless -Channel names another, and keeps event channels out of Get-MessageChannels' {
        Publish-ModuleEvent -EventName 'A' | Out-Null
        Publish-ModuleEvent -EventName 'B' -Channel 'Lab' | Out-Null
        (Get-ModuleEvents).Channel | Should -Be @('Events', 'Lab')
        Get-MessageChannels | Should -BeNullOrEmpty
    }

    It 'publishes each piped value as the data of one event' {
        $ids = 1..3 | Publish-ModuleEvent -EventName 'Number'
        $ids.Count | Should -Be 3
        (Get-ModuleEvents -EventName 'Number').Data | Should -Be @(1, 2, 3)
    }

    It 'takes only the data from a piped record, never its Channel, Source, Priority or Name property' {
        $record = [pscustomobject]@{ Host = 'web01'; Channel = 'email'; Priority = 'High'; CorrelationId = 'INC-1'; Source = 'nagios'; Name = 'Other' }
        $record | Publish-ModuleEvent -EventName 'Alert' | Out-Null
        $event = Get-ModuleEvents -EventName 'Alert'
        $event.Channel | Should -Be 'Events'
        $event.Priority | Should -Be 'Normal'
        $event.CorrelationId | Should -BeNullOrEmpty
        $event.SourceModule | Should -Not -Be 'nagios'
        $event.Data.Host | Should -Be 'web01'
        Get-ModuleEvents -EventName 'Other' | Should -BeNullOrEmpty
    }

    It 'refuses an empty name, a wildcard channel and an unknown priority' {
        { Publish-ModuleEvent -EventName '' } | Should -Throw -ErrorId 'ParameterArgumentValidationError*'
        { Publish-ModuleEvent -EventName 'X' -Channel 'Ev*' -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidArgument,ModuleCommunication.Commands.PublishModuleEventCommand'
        { Publish-ModuleEvent -EventName 'X' -Priority 'Urgent' } | Should -Throw -ErrorId 'CannotConvertArgumentNoMessage*'
        Get-ModuleEvents | Should -BeNullOrEmpty
    }

    It 'reports data that contains itself and publishes nothing' {
        $loop = @{}
        $loop.Self = $loop
        { Publish-ModuleEvent -EventName 'Loop' -EventData $loop -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidEventData,ModuleCommunication.Commands.PublishModuleEventCommand'
        Get-ModuleEvents | Should -BeNullOrEmpty
    }

    It 'tells the publisher when a Reject subscription refuses the event, while others still get it' {
        $strict = Subscribe-ModuleEvent -EventName 'E' -MaxQueueSize 1 -OverflowPolicy Reject -Handler { }
        $script:got = [System.Collections.Generic.List[object]]::new()
        Subscribe-ModuleEvent -EventName 'E' -Handler { param($Event) $script:got.Add($Event.Data) } | Out-Null
        Stop-MessageProcessor | Out-Null
        Publish-ModuleEvent -EventName 'E' -EventData 1 | Out-Null
        $id = Publish-ModuleEvent -EventName 'E' -EventData 2 -ErrorVariable rejected -ErrorAction SilentlyContinue
        $id | Should -BeOfType ([guid])
        $rejected[0].FullyQualifiedErrorId | Should -Be 'QueueFull,ModuleCommunication.Commands.PublishModuleEventCommand'
        Start-MessageProcessor | Out-Null
        Wait-ModuleMessage -Timeout 10
        $script:got | Should -Be @(1, 2)
        (Get-MessageSubscriptions -SubscriptionId $strict.SubscriptionId).Dropped | Should -Be 1
    }

    It '-Broadcast sends one message per message channel, with the event''s id, data and source' {
        New-MessageChannel -Name 'Configuration' | Out-Null
        New-MessageChannel -Name 'Lab' | Out-Null
        $script:messages = [System.Collections.Generic.List[object]]::new()
        $script:events = [System.Collections.Generic.List[object]]::new()
        Subscribe-ModuleMessage -Channel '*' -Handler { param($m) $script:messages.Add($m) } | Out-Null
        Subscribe-ModuleEvent -EventName 'SystemShutdown' -Handler { param($e) $script:events.Add($e) } | Out-Null
        $id = Publish-ModuleEvent -EventName 'SystemShutdown' -EventData @{ Reason = 'Maintenance' } -SourceModule 'Ops' -Priority High -CorrelationId 'c-1' -Broadcast
        $id | Wait-ModuleMessage -Timeout 10
        $script:messages.Count | Should -Be 2
        @($script:messages.Channel | Sort-Object) | Should -Be @('Configuration', 'Lab')
        foreach ($m in $script:messages) {
            $m.Id | Should -Be $id
            $m.MessageType | Should -Be 'SystemShutdown'
            $m.Data.Reason | Should -Be 'Maintenance'
            $m.SourceModule | Should -Be 'Ops'
            $m.Priority | Should -Be 'High'
            $m.CorrelationId | Should -Be 'c-1'
            $m.ExpiresAt | Should -BeNullOrEmpty
        }
        $script:events.Count | Should -Be 1
        @(Get-ModuleEvents).Count | Should -Be 1
    }

    It 'without -Broadcast reaches no message subscriber' {
        New-MessageChannel -Name 'Configuration' | Out-Null
        $script:messages = 0
        Subscribe-ModuleMessage -Channel '*' -Handler { $script:messages++ } | Out-Null
        Publish-ModuleEvent -EventName 'Quiet' | Wait-ModuleMessage -Timeout 10
        Wait-ModuleMessage -Timeout 10
        $script:messages | Should -Be 0
    }
}

Describe 'Subscribe-ModuleEvent' {
    BeforeEach { Reset-Events }
    AfterAll { Reset-Events }

    It 'returns a typed subscription of kind Event with its id and settings' {
        $s = Subscribe-ModuleEvent -EventName 'Module*' -Handler { } -MaxQueueSize 50 -OverflowPolicy DropNewest
        $s | Should -BeOfType ([ModuleCommunication.SubscriptionInfo])
        $s.SubscriptionId | Should -BeOfType ([guid])
        $s.Kind | Should -Be 'Event'
        $s.EventName | Should -Be 'Module*'
        $s.Channel | Should -Be '*'
        $s.MaxQueueSize | Should -Be 50
        $s.OverflowPolicy | Should -Be 'DropNewest'
        (Get-MessageSubscriptions).Kind | Should -Be 'Event'
    }

    It 'is also called Register-ModuleEventHandler / Unregister-ModuleEventHandler' {
        (Get-Command Subscribe-ModuleEvent).ResolvedCommand.Name | Should -Be 'Register-ModuleEventHandler'
        (Get-Command Unsubscribe-ModuleEvent).ResolvedCommand.Name | Should -Be 'Unregister-ModuleEventHandler'
    }

    It 'hands the handler an event with Name, Data, Timestamp, Source, Id and Channel' {
        $script:event = $null
        Subscribe-ModuleEvent -EventName 'Probe' -Handler { param($Event) $script:event = $Event } | Out-Null
        $before = Get-Date
        $id = Publish-ModuleEvent -EventName 'Probe' -EventData @{ A = 1 } -SourceModule 'Tester' -Channel 'Diagnostics' -CorrelationId 'x'
        $id | Wait-ModuleMessage -Timeout 10
        $e = $script:event
        $e | Should -BeOfType ([ModuleCommunication.ModuleEvent])
        $e.Name | Should -Be 'Probe'
        $e.Data.A | Should -Be 1
        $e.Source | Should -Be 'Tester'
        $e.SourceModule | Should -Be 'Tester'
        $e.Id | Should -Be $id
        $e.Channel | Should -Be 'Diagnostics'
        $e.CorrelationId | Should -Be 'x'
        $e.Priority | Should -Be 'Normal'
        $e.Timestamp | Should -BeOfType ([datetime])
        ($e.Timestamp - $before).TotalSeconds | Should -BeGreaterOrEqual -1
        ($e.Timestamp - $before).TotalSeconds | Should -BeLessThan 30
    }

    It 'matches names with -like wildcards, case-insensitively: *, ?, [a-c] and literal dots' {
        $cases = @(
            @{ Pattern = 'Module*'; Matches = @('ModuleInitialized', 'moduleSTOPPED', 'Module') }
            @{ Pattern = 'LabStep*'; Matches = @('LabStepStarted', 'LabStepCompleted', 'LabStep') }
            @{ Pattern = 'Lab?tep'; Matches = @('LabStep', 'Lab-tep') }
            @{ Pattern = 'Step[a-c]'; Matches = @('StepA', 'stepc') }
            @{ Pattern = 'Lab.Step'; Matches = @('Lab.Step') }
        )
        $names = 'ModuleInitialized', 'moduleSTOPPED', 'Module', 'ModulX', 'LabStepStarted', 'LabStepCompleted', 'XLabStep',
            'LabStep', 'Lab-tep', 'Labtep', 'StepA', 'stepc', 'StepD', 'Lab.Step', 'LabXStep'
        $script:seen = @{}
        foreach ($case in $cases) {
            $list = [System.Collections.Generic.List[string]]::new()
            $script:seen[$case.Pattern] = $list
            Subscribe-ModuleEvent -EventName $case.Pattern -Handler { param($Event) $list.Add($Event.Name) }.GetNewClosure() | Out-Null
        }
        $names | ForEach-Object { Publish-ModuleEvent -EventName $_ } | Wait-ModuleMessage -Timeout 10
        foreach ($case in $cases) {
            @($script:seen[$case.Pattern]) | Should -Be $case.Matches -Because "pattern $($case.Pattern)"
        }
    }

    It 'selects by source module and by event channel' {
        $script:sources = [System.Collections.Generic.List[string]]::new()
        $script:channels = [System.Collections.Generic.List[string]]::new()
        Subscribe-ModuleEvent -SourceModule 'Lab*' -Handler { param($e) $script:sources.Add($e.Source) } | Out-Null
        Subscribe-ModuleEvent -Channel 'Alerts' -Handler { param($e) $script:channels.Add($e.Name) } | Out-Null
        Publish-ModuleEvent -EventName 'One' -SourceModule 'LabRunner' | Out-Null
        Publish-ModuleEvent -EventName 'Two' -SourceModule 'BackupTool' -Channel 'Alerts' | Out-Null
        Publish-ModuleEvent -EventName 'Three' | Out-Null
        Wait-ModuleMessage -Timeout 10
        $script:sources | Should -Be @('LabRunner')
        $script:channels | Should -Be @('Two')
    }

    It 'never receives messages, and message subscribers never receive events' {
        New-MessageChannel -Name 'Events' | Out-Null
        $script:eventNames = [System.Collections.Generic.List[string]]::new()
        $script:messageTypes = [System.Collections.Generic.List[string]]::new()
        Subscribe-ModuleEvent -Handler { param($e) $script:eventNames.Add($e.Name) } | Out-Null
        Subscribe-ModuleMessage -Channel '*' -Handler { param($m) $script:messageTypes.Add($m.MessageType) } | Out-Null
        Publish-ModuleMessage -Channel 'Events' -MessageType 'AMessage' | Out-Null
        Publish-ModuleEvent -EventName 'AnEvent' | Out-Null
        Wait-ModuleMessage -Timeout 10
        $script:eventNames | Should -Be @('AnEvent')
        $script:messageTypes | Should -Be @('AMessage')
    }

    It 'refuses a bad pattern, naming it' {
        { Subscribe-ModuleEvent -EventName 'Lab[' -Handler { } } |
            Should -Throw -ErrorId 'InvalidArgument,ModuleCommunication.Commands.RegisterModuleEventHandlerCommand'
        { Subscribe-ModuleEvent -EventName 'Lab[' -Handler { } } | Should -Throw '*Lab`[*'
    }

    It 'refuses a blank, tabbed or over-long -EventName as an event name, not as a messageType (<Case>)' -ForEach @(
        @{ Case = 'blank'; Name = '   ' }
        @{ Case = 'tab'; Name = "a`tb" }
        @{ Case = 'too long'; Name = 'x' * 300 }
    ) {
        $err = $null
        try { Register-ModuleEventHandler -EventName $Name -Handler { } -ErrorAction Stop } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -BeLike 'InvalidArgument,*'
        $err.Exception.Message | Should -BeLike 'invalid event name *'
        $err.Exception.Message | Should -Not -BeLike '*messageType*'
    }

    It 'stops delivery after Unsubscribe-ModuleEvent, and reports an unknown id' {
        $script:handled = 0
        $s = Subscribe-ModuleEvent -EventName 'E' -Handler { $script:handled++ }
        ($s | Unsubscribe-ModuleEvent).Success | Should -BeTrue
        Publish-ModuleEvent -EventName 'E' | Wait-ModuleMessage -Timeout 10
        $script:handled | Should -Be 0
        Get-MessageSubscriptions | Should -BeNullOrEmpty
        { Unsubscribe-ModuleEvent -SubscriptionId $s.SubscriptionId -ErrorAction Stop } |
            Should -Throw -ErrorId 'SubscriptionNotFound,ModuleCommunication.Commands.UnregisterModuleEventHandlerCommand'
    }
}

Describe 'Default event handlers run in the subscriber''s runspace' {
    BeforeEach { Reset-Events }
    AfterAll { Reset-Events }

    It 'sets a $script: variable that a Start-Sleep polling loop then sees' {
        $script:seen = $null
        Subscribe-ModuleEvent -EventName 'ModuleInitialized' -Handler {
            param($Event)
            $script:seen = "$($Event.Data.ModuleName) $($Event.Data.Version)"
        } | Out-Null
        Publish-ModuleEvent -EventName 'ModuleInitialized' -EventData @{ ModuleName = 'LabRunner'; Version = '1.0.0' } | Out-Null
        for ($i = 0; $i -lt 50 -and $null -eq $script:seen; $i++) { Start-Sleep -Milliseconds 100 }
        $script:seen | Should -Be 'LabRunner 1.0.0'
    }

    It 'runs on the subscriber''s own thread' {
        $script:handlerThread = $null
        Subscribe-ModuleEvent -Handler { $script:handlerThread = [Environment]::CurrentManagedThreadId } | Out-Null
        Publish-ModuleEvent -EventName 'T' | Wait-ModuleMessage -Timeout 10
        $script:handlerThread | Should -Be ([Environment]::CurrentManagedThreadId)
    }

    It 'keeps delivering to other handlers when one throws, and counts the error on its subscription' {
        $script:good = 0
        $bad = Subscribe-ModuleEvent -EventName 'E' -Handler { throw 'event handler exploded' }
        $good = Subscribe-ModuleEvent -EventName 'E' -Handler { $script:good++ }
        1..3 | ForEach-Object { Publish-ModuleEvent -EventName 'E' -EventData $_ } | Wait-ModuleMessage -Timeout 10
        $script:good | Should -Be 3
        $badInfo = Get-MessageSubscriptions -SubscriptionId $bad.SubscriptionId
        $badInfo.Failed | Should -Be 3
        $badInfo.LastError | Should -BeLike '*event handler exploded*'
        (Get-MessageSubscriptions -SubscriptionId $good.SubscriptionId).Failed | Should -Be 0
    }

    It 'delivers all of 10,000 events published in a loop' {
        $script:count = 0
        $sub = Subscribe-ModuleEvent -EventName 'Tick' -Handler { $script:count++ }
        for ($i = 0; $i -lt 10000; $i++) {
            $null = Publish-ModuleEvent -EventName 'Tick' -EventData $i
        }
        Wait-ModuleMessage -Timeout 60
        $script:count | Should -Be 10000
        $info = Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId
        $info.Delivered | Should -Be 10000
        $info.Dropped | Should -Be 0
        $history = Get-ModuleEvents -EventName 'Tick'
        $history.Count | Should -Be 1000
        $history[0].Data | Should -Be 9000
        $history[-1].Data | Should -Be 9999
    }

    It 'lets a handler publish and subscribe without deadlock' {
        $script:reply = $null
        $script:innerSubscription = $null
        Subscribe-ModuleEvent -EventName 'Request' -Handler {
            param($Event)
            $script:innerSubscription = Subscribe-ModuleEvent -EventName 'Reply' -Handler { param($e) $script:reply = $e.Data }
            Publish-ModuleEvent -EventName 'Reply' -EventData "re: $($Event.Data)" -CorrelationId $Event.Id.ToString() | Out-Null
        } | Out-Null
        Publish-ModuleEvent -EventName 'Request' -EventData 'ping' | Out-Null
        Wait-Until { $null -ne $script:reply } | Should -BeTrue
        $script:reply | Should -Be 're: ping'
        $script:innerSubscription.SubscriptionId | Should -BeOfType ([guid])
    }

    It 'calls the handler only for events its filter accepts, and counts the others as filtered' {
        $script:modules = [System.Collections.Generic.List[string]]::new()
        $sub = Subscribe-ModuleEvent -EventName 'ConfigurationChanged' -Handler {
            param($Event)
            $script:modules.Add($Event.Data.Module)
        } -Filter {
            param($Event)
            $Event.Data.Module -eq 'LabRunner'
        }
        'LabRunner', 'BackupTool', 'LabRunner' | ForEach-Object {
            Publish-ModuleEvent -EventName 'ConfigurationChanged' -EventData @{ Module = $_ }
        } | Wait-ModuleMessage -Timeout 10
        $script:modules | Should -Be @('LabRunner', 'LabRunner')
        (Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId).Filtered | Should -Be 1
    }

    It 'sees an event that a message handler publishes, in a $script: variable' {
        New-MessageChannel -Name 'Configuration' | Out-Null
        $script:notified = $null
        Subscribe-ModuleMessage -Channel 'Configuration' -MessageType 'NotifyChange' -Handler {
            param($Message)
            Publish-ModuleEvent -EventName 'ConfigurationChanged' -EventData @{
                Module = $Message.Data.ModuleName
                Setting = $Message.Data.Setting
                OldValue = $Message.Data.OldValue
                NewValue = $Message.Data.NewValue
                Timestamp = Get-Date
            } -SourceModule 'ConfigurationCore' | Out-Null
        } | Out-Null
        Subscribe-ModuleEvent -EventName 'ConfigurationChanged' -Handler {
            param($Event)
            $script:notified = "$($Event.Data.Module).$($Event.Data.Setting): $($Event.Data.OldValue) -> $($Event.Data.NewValue)"
        } | Out-Null
        Publish-ModuleMessage -Channel 'Configuration' -MessageType 'NotifyChange' -Data @{
            ModuleName = 'LabRunner'; Setting = 'MaxJobs'; OldValue = 5; NewValue = 10
        } | Out-Null
        for ($i = 0; $i -lt 50 -and $null -eq $script:notified; $i++) { Start-Sleep -Milliseconds 100 }
        $script:notified | Should -Be 'LabRunner.MaxJobs: 5 -> 10'
        (Get-ModuleEvents -EventName 'ConfigurationChanged').Source | Should -Be 'ConfigurationCore'
    }
}

Describe '-RunAsync event handlers' {
    BeforeEach { Reset-Events }
    AfterAll { Reset-Events }

    It 'run while the subscriber''s thread is blocked in [Threading.Thread]::Sleep' {
        $log = [System.Collections.Concurrent.ConcurrentQueue[datetime]]::new()
        Subscribe-ModuleEvent -EventName 'Job' -RunAsync -ArgumentList (, $log) -Handler {
            param($Event, $log)
            $log.Enqueue([datetime]::UtcNow)
        } | Out-Null
        Publish-ModuleEvent -EventName 'Job' | Out-Null
        $blockedUntil = [datetime]::UtcNow.AddMilliseconds(2000)
        [Threading.Thread]::Sleep(2000)
        $log.Count | Should -Be 1
        $handledAt = [datetime]::MinValue
        $log.TryPeek([ref] $handledAt) | Should -BeTrue
        $handledAt | Should -BeLessThan $blockedUntil
    }

    It 'run on another thread, in order, with typed events, and count failures' {
        $seen = [System.Collections.Concurrent.ConcurrentQueue[object]]::new()
        $sub = Subscribe-ModuleEvent -EventName 'Job*' -RunAsync -ArgumentList (, $seen) -Handler {
            param($Event, $seen)
            if ($Event.Data -eq 3) { throw 'three is bad' }
            $seen.Enqueue(@($Event.Data, [Environment]::CurrentManagedThreadId, $Event.GetType().Name, $Event.Name))
        }
        1..5 | ForEach-Object { Publish-ModuleEvent -EventName 'JobDone' -EventData $_ } | Wait-ModuleMessage -Timeout 30
        $items = $seen.ToArray()
        ($items | ForEach-Object { $_[0] }) | Should -Be @(1, 2, 4, 5)
        $items | ForEach-Object {
            $_[1] | Should -Not -Be ([Environment]::CurrentManagedThreadId)
            $_[2] | Should -Be 'ModuleEvent'
            $_[3] | Should -Be 'JobDone'
        }
        $info = Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId
        $info.Mode | Should -Be 'RunAsync'
        $info.Kind | Should -Be 'Event'
        $info.Failed | Should -Be 1
        $info.LastError | Should -BeLike '*three is bad*'
    }

    It 'refuses -ArgumentList without -RunAsync' {
        { Subscribe-ModuleEvent -EventName 'E' -Handler { } -ArgumentList 1 } |
            Should -Throw -ErrorId 'ArgumentListNeedsRunAsync,ModuleCommunication.Commands.RegisterModuleEventHandlerCommand'
    }

    It 'takes -ArgumentList $null as no values' {
        $sub = Subscribe-ModuleEvent -EventName 'E' -Handler { } -ArgumentList $null
        $sub.SubscriptionId | Should -Not -BeNullOrEmpty
    }
}

Describe 'Event data arrives as it was published' {
    BeforeAll {
        Reset-Events
        $script:received = $null
        Subscribe-ModuleEvent -EventName 'Fidelity' -Handler { param($e) $script:received = $e.Data } | Out-Null
        $script:when = [datetime]::new(2026, 11, 27, 6, 30, 15, 123, [DateTimeKind]::Utc)
        $script:sent = @{
            Nested  = @{ Level2 = @{ Level3 = 'deep' } }
            Ordered = [ordered]@{ Z = 1; A = 2 }
            Int     = 42
            Long    = 5000000000
            Double  = 2.5
            Whole   = 3.0
            Decimal = [decimal]::Parse('1.10', [cultureinfo]::InvariantCulture)
            Bool    = $true
            Array   = @(1, 'two', 3.5, @(4, 5))
            Text    = 'Grüße, 日本語 ✓'
            When    = $script:when
            Nothing = $null
        }
        Publish-ModuleEvent -EventName 'Fidelity' -EventData $script:sent | Wait-ModuleMessage -Timeout 10
        # The same data read back from the history, from an export and from an import.
        $script:fromHistory = (Get-ModuleEvents -EventName 'Fidelity').Data
        $script:exportPath = Join-Path ([System.IO.Path]::GetTempPath()) "mc-fidelity-$PID.csv"
        Export-EventHistory -Path $script:exportPath -EventName 'Fidelity'
        Clear-EventHistory -Force | Out-Null
        Import-EventHistory -Path $script:exportPath | Out-Null
        $script:fromImport = (Get-ModuleEvents -EventName 'Fidelity').Data
    }
    AfterAll {
        Remove-Item -LiteralPath $script:exportPath -ErrorAction SilentlyContinue
        Reset-Events
    }

    It 'keeps nested hashtables as hashtables and [ordered] in order (<Source>)' -ForEach @(
        @{ Source = 'handler' }, @{ Source = 'history' }, @{ Source = 'import' }
    ) {
        $d = @{ handler = $script:received; history = $script:fromHistory; import = $script:fromImport }[$Source]
        $d | Should -BeOfType ([hashtable])
        $d.Nested.Level2 | Should -BeOfType ([hashtable])
        $d.Nested.Level2.Level3 | Should -Be 'deep'
        $d.Ordered | Should -BeOfType ([System.Collections.Specialized.OrderedDictionary])
        @($d.Ordered.Keys) | Should -Be @('Z', 'A')
    }

    It 'keeps int, long, double and decimal apart (<Source>)' -ForEach @(
        @{ Source = 'handler' }, @{ Source = 'history' }, @{ Source = 'import' }
    ) {
        $d = @{ handler = $script:received; history = $script:fromHistory; import = $script:fromImport }[$Source]
        $d.Int | Should -BeOfType ([int])
        $d.Long | Should -BeOfType ([long])
        $d.Double | Should -BeOfType ([double])
        $d.Whole | Should -BeOfType ([double])
        $d.Decimal | Should -BeOfType ([decimal])
        $d.Decimal.ToString([cultureinfo]::InvariantCulture) | Should -Be '1.10'
    }

    It 'keeps booleans, nulls, arrays and text (<Source>)' -ForEach @(
        @{ Source = 'handler' }, @{ Source = 'history' }, @{ Source = 'import' }
    ) {
        $d = @{ handler = $script:received; history = $script:fromHistory; import = $script:fromImport }[$Source]
        $d.Bool | Should -BeOfType ([bool])
        $d.ContainsKey('Nothing') | Should -BeTrue
        $d.Nothing | Should -BeNullOrEmpty
        $d.Array.Count | Should -Be 4
        $d.Array[3] | Should -Be @(4, 5)
        $d.Text | Should -BeExactly 'Grüße, 日本語 ✓'
    }

    It 'keeps DateTime as DateTime, to the millisecond and kind (<Source>)' -ForEach @(
        @{ Source = 'handler' }, @{ Source = 'history' }, @{ Source = 'import' }
    ) {
        $d = @{ handler = $script:received; history = $script:fromHistory; import = $script:fromImport }[$Source]
        $d.When | Should -BeOfType ([datetime])
        $d.When | Should -Be $script:when
        $d.When.Kind | Should -Be 'Utc'
    }
}
