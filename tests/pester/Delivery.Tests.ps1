BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
}

Describe 'Delivery order, expiry and full queues' {
    BeforeEach {
        Reset-Bus
        New-MessageChannel -Name 'Q' | Out-Null
        $script:order = [System.Collections.Generic.List[string]]::new()
    }
    AfterAll { Reset-Bus }

    It 'delivers higher priorities first and keeps publish order within a priority' {
        Subscribe-ModuleMessage -Channel 'Q' -Handler { param($m) $script:order.Add($m.Data) } | Out-Null
        Stop-MessageProcessor | Out-Null
        $ids = @(
            Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data 'low-1' -Priority Low
            Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data 'normal-1'
            Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data 'critical-1' -Priority Critical
            Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data 'high-1' -Priority High
            Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data 'normal-2' -Priority Normal
            Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data 'critical-2' -Priority Critical
        )
        Start-MessageProcessor | Out-Null
        $ids | Wait-ModuleMessage -Timeout 10
        $script:order | Should -Be @('critical-1', 'critical-2', 'high-1', 'normal-1', 'normal-2', 'low-1')
    }

    It 'hands a Critical message to a slow <Mode> handler within about one ProcessorInterval, not after the batch' -ForEach @(
        @{ Mode = 'default'; Async = @{} }
        @{ Mode = '-RunAsync'; Async = @{ RunAsync = $true } }
    ) {
        # Handlers of 20 ms and the default 100 ms interval: a batch holds about five messages.
        # The Critical message, published by the twentieth handler, must not wait for all 60.
        $seen = [System.Collections.Concurrent.ConcurrentQueue[string]]::new()
        $script:seen = $seen
        if ($Async.Count) { $Async.ArgumentList = (, $seen) }
        Subscribe-ModuleMessage -Channel 'Q' @Async -Handler {
            param($m, $seen = $script:seen)
            [Threading.Thread]::Sleep(20)
            $seen.Enqueue($m.Data)
            if ($m.Data -eq 'n20') { Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data 'critical' -Priority Critical | Out-Null }
        } | Out-Null
        Stop-MessageProcessor | Out-Null
        $ids = 1..60 | ForEach-Object { Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data "n$_" }
        Start-MessageProcessor | Out-Null
        $ids | Wait-ModuleMessage -Timeout 30
        Wait-Until { $seen.ToArray() -contains 'critical' } -TimeoutSeconds 10 | Should -BeTrue
        $position = [array]::IndexOf($seen.ToArray(), 'critical')
        $position | Should -BeGreaterThan 19
        $position | Should -BeLessOrEqual 30
    }

    It 'hands a Critical message to a <Mode> handler that turns slow in the middle of a batch before the rest of that batch' -ForEach @(
        @{ Mode = 'default'; Async = @{} }
        @{ Mode = '-RunAsync'; Async = @{ RunAsync = $true } }
    ) {
        # Fast handlers grow the batches to their full size (256, or 64 for -RunAsync); from n100
        # on the handler sleeps 20 ms, and n110 publishes a Critical message. Sizing by time
        # cannot help in the middle of a batch: the loop must ask for more urgent messages.
        $seen = [System.Collections.Concurrent.ConcurrentQueue[string]]::new()
        $script:seen = $seen
        if ($Async.Count) { $Async.ArgumentList = (, $seen) }
        Subscribe-ModuleMessage -Channel 'Q' @Async -Handler {
            param($m, $seen = $script:seen)
            $n = [int]$m.Data.Substring(1)
            if ($n -ge 100 -and $n -lt 130) { [Threading.Thread]::Sleep(20) }
            $seen.Enqueue($m.Data)
            if ($m.Data -eq 'n110') { Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data 'c999' -Priority Critical | Out-Null }
        } | Out-Null
        Stop-MessageProcessor | Out-Null
        $ids = 1..300 | ForEach-Object { Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data "n$_" }
        Start-MessageProcessor | Out-Null
        $ids | Wait-ModuleMessage -Timeout 30
        Wait-Until { $seen.ToArray() -contains 'c999' } -TimeoutSeconds 10 | Should -BeTrue
        $order = $seen.ToArray()
        $position = [array]::IndexOf($order, 'c999')
        $position | Should -BeGreaterThan ([array]::IndexOf($order, 'n110'))
        $position | Should -BeLessOrEqual ([array]::IndexOf($order, 'n113'))
        # The rest of the batch follows in publish order, none lost or repeated.
        $order | Where-Object { $_ -ne 'c999' } | Should -Be (1..300 | ForEach-Object { "n$_" })
    }

    It 'never delivers an expired message, and counts it' {
        $sub = Subscribe-ModuleMessage -Channel 'Q' -Handler { param($m) $script:order.Add($m.Data) }
        Stop-MessageProcessor | Out-Null
        $publishedAt = [datetime]::UtcNow
        $expiring = Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data 'short' -TimeToLive 0.05
        $lasting = Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data 'long' -TimeToLive ([timespan]::FromMinutes(5))
        # Resume only once the short message is older than its 50 ms time to live.
        Wait-Until { ([datetime]::UtcNow - $publishedAt).TotalMilliseconds -gt 100 } -TimeoutSeconds 2 | Should -BeTrue
        Start-MessageProcessor | Out-Null
        $expiring, $lasting | Wait-ModuleMessage -Timeout 10
        $script:order | Should -Be @('long')
        (Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId).Expired | Should -Be 1
        (Get-MessageChannels -Name 'Q').Expired | Should -Be 1
    }

    It 'keeps a message for exactly its -TimeToLive, given as <Given>' -ForEach @(
        @{ Given = 'seconds'; Ttl = 90; Seconds = 90 }
        @{ Given = 'a TimeSpan'; Ttl = [timespan]::FromMinutes(5); Seconds = 300 }
        @{ Given = 'a fraction of a second'; Ttl = 1.5; Seconds = 1.5 }
        @{ Given = "text that is a number ('30')"; Ttl = '30'; Seconds = 30 }
        @{ Given = "text that is a fraction ('0.5')"; Ttl = '0.5'; Seconds = 0.5 }
        @{ Given = "TimeSpan text ('00:02:00')"; Ttl = '00:02:00'; Seconds = 120 }
    ) {
        $script:lifetimes = [System.Collections.Generic.List[double]]::new()
        Subscribe-ModuleMessage -Channel 'Q' -Handler { param($m) $script:lifetimes.Add(($m.ExpiresAt - $m.Timestamp).TotalSeconds) } | Out-Null
        Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -TimeToLive $Ttl | Wait-ModuleMessage -Timeout 10
        $script:lifetimes | Should -Be @($Seconds)
    }

    It 'reads a TimeToLive column of CSV text as seconds' {
        $script:lifetimes = [System.Collections.Generic.List[double]]::new()
        Subscribe-ModuleMessage -Channel 'Q' -Handler { param($m) $script:lifetimes.Add(($m.ExpiresAt - $m.Timestamp).TotalSeconds) } | Out-Null
        $ids = foreach ($row in "Channel,MessageType,TimeToLive`nQ,T,45`nQ,T,2.5" | ConvertFrom-Csv) {
            Publish-ModuleMessage -Channel $row.Channel -MessageType $row.MessageType -TimeToLive $row.TimeToLive
        }
        $ids | Wait-ModuleMessage -Timeout 10
        $script:lifetimes | Should -Be @(45, 2.5)
    }

    It 'expires messages that wait behind slow handlers, instead of handling them late' {
        # Twenty handlers of 100 ms cannot all start within the 0.5 s time to live.
        $sub = Subscribe-ModuleMessage -Channel 'Q' -Handler { [Threading.Thread]::Sleep(100) }
        Stop-MessageProcessor | Out-Null
        $ids = 1..20 | Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -TimeToLive 0.5
        Start-MessageProcessor | Out-Null
        $ids | Wait-ModuleMessage -Timeout 30
        $info = Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId
        $info.Expired | Should -BeGreaterThan 0
        $info.Delivered + $info.Expired | Should -Be 20
    }

    It 'rejects a TimeToLive that is not positive' {
        { Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -TimeToLive 0 -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidTimeToLive,ModuleCommunication.Commands.PublishModuleMessageCommand'
    }

    It 'rejects a TimeToLive that would expire after the year 9999, which no DateTime can hold' {
        $sub = Subscribe-ModuleMessage -Channel 'Q' -Handler { }
        $err = { Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -TimeToLive ([TimeSpan]::MaxValue) -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidTimeToLive,ModuleCommunication.Commands.PublishModuleMessageCommand' -PassThru
        $err.Exception.Message | Should -BeLike '*after the year 9999*'
        (Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId).QueueLength | Should -Be 0
        Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -TimeToLive (New-TimeSpan -Days 36500) | Wait-ModuleMessage -Timeout 10
        (Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId).Delivered | Should -Be 1
    }

    It 'drops the oldest message of a full queue by default, and counts every loss' {
        $sub = Subscribe-ModuleMessage -Channel 'Q' -MaxQueueSize 3 -Handler { param($m) $script:order.Add($m.Data) }
        Stop-MessageProcessor | Out-Null
        1..5 | ForEach-Object { Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data "m$_" } | Out-Null
        (Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId).QueueLength | Should -Be 3
        Start-MessageProcessor | Out-Null
        Wait-ModuleMessage -Timeout 10
        $script:order | Should -Be @('m3', 'm4', 'm5')
        (Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId).Dropped | Should -Be 2
    }

    It 'drops the newest message under DropNewest' {
        $sub = Subscribe-ModuleMessage -Channel 'Q' -MaxQueueSize 2 -OverflowPolicy DropNewest -Handler { param($m) $script:order.Add($m.Data) }
        Stop-MessageProcessor | Out-Null
        1..4 | ForEach-Object { Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data "m$_" } | Out-Null
        Start-MessageProcessor | Out-Null
        Wait-ModuleMessage -Timeout 10
        $script:order | Should -Be @('m1', 'm2')
        (Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId).Dropped | Should -Be 2
    }

    It 'tells the publisher under Reject, while other subscribers still get the message' {
        $strict = Subscribe-ModuleMessage -Channel 'Q' -MaxQueueSize 1 -OverflowPolicy Reject -Handler { }
        Subscribe-ModuleMessage -Channel 'Q' -Handler { param($m) $script:order.Add($m.Data) } | Out-Null
        Stop-MessageProcessor | Out-Null
        Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data 'first' | Out-Null
        $id = Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data 'second' -ErrorVariable rejected -ErrorAction SilentlyContinue
        $id | Should -BeOfType ([guid])
        $rejected[0].FullyQualifiedErrorId | Should -Be 'QueueFull,ModuleCommunication.Commands.PublishModuleMessageCommand'
        Start-MessageProcessor | Out-Null
        Wait-ModuleMessage -Timeout 10
        $script:order | Should -Be @('first', 'second')
        (Get-MessageSubscriptions -SubscriptionId $strict.SubscriptionId).Dropped | Should -Be 1
    }

    It 'lets Ctrl+C end a <Cmdlet> that waits for room in a full Block queue, counting the drop' -ForEach @(
        @{ Cmdlet = 'Publish-ModuleMessage'
           Subscribe = { Subscribe-ModuleMessage -Channel 'Q' -Handler { } -MaxQueueSize 1 -OverflowPolicy Block -BlockTimeout 600 }
           Publish = { Publish-ModuleMessage -Channel 'Q' -MessageType 'T' } }
        @{ Cmdlet = 'Publish-ModuleEvent'
           Subscribe = { Subscribe-ModuleEvent -EventName 'Full.*' -Handler { } -MaxQueueSize 1 -OverflowPolicy Block -BlockTimeout 600 }
           Publish = { Publish-ModuleEvent -EventName 'Full.Tick' } }
        @{ Cmdlet = 'Test-MessageChannel' # its test message goes through the channel's subscriptions
           Subscribe = { Subscribe-ModuleMessage -Channel 'Q' -Handler { } -MaxQueueSize 1 -OverflowPolicy Block -BlockTimeout 600 }
           Publish = { Test-MessageChannel -Name 'Q' -Timeout 1 } }
    ) {
        # Another runspace subscribes (so no handler of this one can drain the queue), fills the
        # queue, and publishes once more: that publish waits for room, for up to 10 minutes.
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript("Import-Module '$env:MC_MODULE_PSD1'
                Stop-MessageProcessor | Out-Null
                `$sub = & { $Subscribe }
                & { $Publish } | Out-Null
                & { $Publish }")
            Stop-MessageProcessor | Out-Null
            $null = $ps.BeginInvoke()
            Wait-Until { @(Get-MessageSubscriptions | Where-Object QueueLength -eq 1).Count -eq 1 } -TimeoutSeconds 20 | Should -BeTrue
            Stop-LikeCtrlC $ps -TimeoutSeconds 30 |
                Should -BeTrue -Because 'Ctrl+C must end the wait long before the 10 minute block timeout'
            Wait-Until { (Get-MessageSubscriptions).Dropped -eq 1 } -TimeoutSeconds 5 | Should -BeTrue -Because 'the given-up copy is a counted loss'
        } finally {
            Get-MessageSubscriptions | Unsubscribe-ModuleMessage | Out-Null # releases a publisher still waiting
            Start-MessageProcessor | Out-Null
            $ps.Dispose()
        }
    }

    It 'discards queued messages with Clear-MessageQueue -Force and reports how many' {
        Subscribe-ModuleMessage -Channel 'Q' -Handler { param($m) $script:order.Add($m.Data) } | Out-Null
        Stop-MessageProcessor | Out-Null
        1..4 | ForEach-Object { Publish-ModuleMessage -Channel 'Q' -MessageType 'T' -Data $_ } | Out-Null
        $before = (Get-CommunicationMetrics).MessageBus # bus totals keep earlier tests' counts
        $r = Clear-MessageQueue -Channel 'Q' -Force
        $r.Success | Should -BeTrue
        $r.ClearedCount | Should -Be 4
        Start-MessageProcessor | Out-Null
        Wait-ModuleMessage -Timeout 10
        $script:order.Count | Should -Be 0
        # Counted as cleared, not lost: every published message is accounted for.
        (Get-MessageSubscriptions).Cleared | Should -Be 4
        (Get-MessageChannels -Name 'Q').Cleared | Should -Be 4
        $bus = (Get-CommunicationMetrics).MessageBus
        ($bus.Cleared - $before.Cleared), ($bus.Dropped - $before.Dropped) | Should -Be @(4, 0)
    }

    It 'says what -Force does under -Verbose, as PowerShell''s own cmdlets do' {
        Subscribe-ModuleMessage -Channel 'Q' -Handler { } | Out-Null
        $verbose = Clear-MessageQueue -Channel 'Q' -Force -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        "$verbose" | Should -BeLike '*Performing the operation "Discard queued messages" on target "Q"*'
    }

    It 'keeps the queue under -Force when a caller''s -WhatIf is inherited' {
        function Clear-Mine { [CmdletBinding(SupportsShouldProcess)] param() Clear-MessageQueue -Channel 'Q' -Force }
        Subscribe-ModuleMessage -Channel 'Q' -Handler { } | Out-Null
        Stop-MessageProcessor | Out-Null
        Publish-ModuleMessage -Channel 'Q' -MessageType 'T' | Out-Null
        Clear-Mine -WhatIf
        (Get-MessageChannels -Name 'Q').QueueLength | Should -Be 1
    }

    It 'asks under -Force when -Confirm is given, as PowerShell''s own cmdlets do' {
        Subscribe-ModuleMessage -Channel 'Q' -Handler { } | Out-Null
        Stop-MessageProcessor | Out-Null
        Publish-ModuleMessage -Channel 'Q' -MessageType 'T' | Out-Null
        # A runspace without a host cannot ask: the question shows as its failure to prompt.
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript("Import-Module '$env:MC_MODULE_PSD1'; Clear-MessageQueue -Channel 'Q' -Force -Confirm")
            $ps.Invoke() | Should -BeNullOrEmpty
            @($ps.Streams.Error)[0].FullyQualifiedErrorId | Should -BeLike 'HostFunctionNotImplemented,*'
        } finally { $ps.Dispose() }
        (Get-MessageChannels -Name 'Q').QueueLength | Should -Be 1
    }

    It 'stays paused with Start-MessageProcessor -WhatIf' {
        Stop-MessageProcessor | Out-Null
        Start-MessageProcessor -WhatIf | Should -BeNullOrEmpty
        (Get-CommunicationMetrics).MessageBus.ProcessorRunning | Should -BeFalse
        Start-MessageProcessor | Out-Null
    }

    It 'keeps the queue with Clear-MessageQueue -WhatIf' {
        Subscribe-ModuleMessage -Channel 'Q' -Handler { } | Out-Null
        Stop-MessageProcessor | Out-Null
        Publish-ModuleMessage -Channel 'Q' -MessageType 'T' | Out-Null
        Clear-MessageQueue -Channel 'Q' -Force -WhatIf
        (Get-MessageChannels -Name 'Q').QueueLength | Should -Be 1
    }

    It 'reports a misspelled channel as ChannelNotFound instead of clearing nothing' {
        { Clear-MessageQueue -Channel 'Qq' -Force -ErrorAction Stop } |
            Should -Throw -ErrorId 'ChannelNotFound,ModuleCommunication.Commands.ClearMessageQueueCommand'
        (Clear-MessageQueue -Channel 'Nothing*' -Force).ClearedCount | Should -Be 0
    }

    It 'refuses -Channel $null as PowerShell refuses a null argument, keeping the queue' {
        Subscribe-ModuleMessage -Channel 'Q' -Handler { } | Out-Null
        Stop-MessageProcessor | Out-Null
        Publish-ModuleMessage -Channel 'Q' -MessageType 'T' | Out-Null
        { Clear-MessageQueue -Channel $null -Force -ErrorAction Stop } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,ModuleCommunication.Commands.ClearMessageQueueCommand'
        (Get-MessageChannels -Name 'Q').QueueLength | Should -Be 1
    }
}

Describe 'Start-/Stop-MessageProcessor and Wait-ModuleMessage' {
    BeforeEach {
        Reset-Bus
        New-MessageChannel -Name 'P' | Out-Null
        $script:handled = 0
    }
    AfterAll { Reset-Bus }

    It 'counts the messages handlers have taken but not finished when Stop -Timeout gives up' {
        $sub = Subscribe-ModuleMessage -Channel 'P' -Handler { [Threading.Thread]::Sleep(100) }
        Stop-MessageProcessor | Out-Null
        1..30 | Publish-ModuleMessage -Channel 'P' -MessageType 'T' | Out-Null
        Start-MessageProcessor | Out-Null
        $status = Stop-MessageProcessor -Timeout 0.5 -WarningVariable warned -WarningAction SilentlyContinue
        $status.Drained | Should -BeFalse
        $status.QueueLength + $status.InFlight | Should -BeGreaterThan 0
        "$warned" | Should -BeLike '*taken by handlers that have not reported them done*'
        (Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId).InFlight | Should -Be $status.InFlight
        Start-MessageProcessor | Out-Null
        Wait-ModuleMessage -Timeout 30
        (Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId).InFlight | Should -Be 0
    }

    It 'keeps running handlers at checkpoints after Wait-ModuleMessage pumped handlers that publish' {
        # A pumped handler that publishes reaches checkpoints inside the drain; the drain
        # requests those brought could not run, which once left later messages unseen until
        # the next pump (a few rounds in forty).
        Subscribe-ModuleMessage -Channel 'P' -MessageType 'Chain' -Handler {
            param($m) if ($m.Data -lt 50) { $null = Publish-ModuleMessage -Channel 'P' -MessageType 'Chain' -Data ($m.Data + 1) }
        } | Out-Null
        Subscribe-ModuleMessage -Channel 'P' -MessageType 'Later' -Handler { $script:handled++ } | Out-Null
        $stalled = 0
        for ($round = 0; $round -lt 40; $round++) {
            Publish-ModuleMessage -Channel 'P' -MessageType 'Chain' -Data 1 | Out-Null
            Wait-ModuleMessage -Timeout 20
            $script:handled = 0
            1..10 | Publish-ModuleMessage -Channel 'P' -MessageType 'Later' | Out-Null
            if (-not (Wait-Until { $script:handled -eq 10 } -TimeoutSeconds 5)) { $stalled++; Wait-ModuleMessage -Timeout 5 }
        }
        $stalled | Should -Be 0
    }

    It 'pauses delivery while publishing still queues, and resumes it' {
        Subscribe-ModuleMessage -Channel 'P' -Handler { $script:handled++ } | Out-Null
        (Stop-MessageProcessor).Running | Should -BeFalse
        $id = Publish-ModuleMessage -Channel 'P' -MessageType 'T'
        Wait-ModuleMessage -MessageId $id -Timeout 0.3 -ErrorAction SilentlyContinue -ErrorVariable timedOut
        $timedOut[0].FullyQualifiedErrorId | Should -Be 'MessageDeliveryTimeout,ModuleCommunication.Commands.WaitModuleMessageCommand'
        $timedOut[0].Exception.Message | Should -BeLike '*delivery is paused (Stop-MessageProcessor)*'
        $timedOut[0].ErrorDetails.RecommendedAction | Should -BeLike '*Start-MessageProcessor*'
        $script:handled | Should -Be 0
        (Start-MessageProcessor).Running | Should -BeTrue
        Wait-ModuleMessage -MessageId $id -Timeout 10
        $script:handled | Should -Be 1
    }

    It 'drains the queues before pausing when given -Timeout' {
        Subscribe-ModuleMessage -Channel 'P' -Handler { $script:handled++ } | Out-Null
        1..20 | ForEach-Object { Publish-ModuleMessage -Channel 'P' -MessageType 'T' -Data $_ } | Out-Null
        $status = Stop-MessageProcessor -Timeout 10
        $status.Drained | Should -BeTrue
        $status.QueueLength | Should -Be 0
        $script:handled | Should -Be 20
    }

    It 'reports each message''s delivery with -PassThru' {
        Subscribe-ModuleMessage -Channel 'P' -Handler { } | Out-Null
        $status = Publish-ModuleMessage -Channel 'P' -MessageType 'T' | Wait-ModuleMessage -PassThru -Timeout 10
        $status.Delivered | Should -BeTrue
        $status.MessageId | Should -BeOfType ([guid])
    }
}

Describe 'Subscriptions' {
    BeforeEach {
        Reset-Bus
        New-MessageChannel -Name 'S' | Out-Null
    }
    AfterAll { Reset-Bus }

    It 'returns a typed subscription with its id and settings' {
        $s = Subscribe-ModuleMessage -Channel 'S' -MessageType 'T*' -Handler { } -MaxQueueSize 50 -OverflowPolicy DropNewest
        $s | Should -BeOfType ([ModuleCommunication.SubscriptionInfo])
        $s.SubscriptionId | Should -BeOfType ([guid])
        $s.Channel | Should -Be 'S'
        $s.MessageType | Should -Be 'T*'
        $s.MaxQueueSize | Should -Be 50
        $s.OverflowPolicy | Should -Be 'DropNewest'
        $s.Mode | Should -Be 'Default'
    }

    It 'takes the channel''s MaxMessages as queue size' {
        New-MessageChannel -Name 'Small' -MaxMessages 7 | Out-Null
        (Subscribe-ModuleMessage -Channel 'Small' -Handler { }).MaxQueueSize | Should -Be 7
    }

    It 'stops delivery after Unsubscribe-ModuleMessage' {
        $script:handled = 0
        $s = Subscribe-ModuleMessage -Channel 'S' -Handler { $script:handled++ }
        ($s | Unsubscribe-ModuleMessage).Success | Should -BeTrue
        Publish-ModuleMessage -Channel 'S' -MessageType 'T' | Wait-ModuleMessage -Timeout 10
        $script:handled | Should -Be 0
        Get-MessageSubscriptions | Should -BeNullOrEmpty
    }

    It 'reports an unknown subscription id' {
        { Unsubscribe-ModuleMessage -SubscriptionId ([guid]::NewGuid()) -ErrorAction Stop } |
            Should -Throw -ErrorId 'SubscriptionNotFound,ModuleCommunication.Commands.UnregisterModuleMessageHandlerCommand'
    }

    It 'lists subscriptions of one channel with -Channel' {
        New-MessageChannel -Name 'Other' | Out-Null
        $mine = Subscribe-ModuleMessage -Channel 'S' -Handler { }
        Subscribe-ModuleMessage -Channel 'Other' -Handler { } | Out-Null
        (Get-MessageSubscriptions -Channel 'S').SubscriptionId | Should -Be $mine.SubscriptionId
        (Get-MessageChannels -Name 'S' | Get-MessageSubscriptions).SubscriptionId | Should -Be $mine.SubscriptionId
        # A wildcard subscription that receives from the channel is listed for it too.
        $wild = Subscribe-ModuleMessage -Channel 'Oth*' -Handler { }
        @((Get-MessageSubscriptions -Channel 'Other').SubscriptionId) | Should -Contain $wild.SubscriptionId
        @((Get-MessageSubscriptions -Channel 'Other').SubscriptionId) | Should -HaveCount 2
    }

    It 'leaves event subscriptions out of -Channel of a message channel, so a pipeline does not remove them' {
        $mine = Subscribe-ModuleMessage -Channel 'S' -Handler { }
        $event = Subscribe-ModuleEvent -EventName 'Deploy*' -Handler { }
        (Get-MessageSubscriptions -Channel 'S').SubscriptionId | Should -Be $mine.SubscriptionId
        Get-MessageSubscriptions -Channel 'S' | Unsubscribe-ModuleMessage | Out-Null
        (Get-MessageSubscriptions).SubscriptionId | Should -Be $event.SubscriptionId
    }

    It 'is also called Register-ModuleMessageHandler / Unsubscribe-ModuleMessage' {
        (Get-Command Subscribe-ModuleMessage).ResolvedCommand.Name | Should -Be 'Register-ModuleMessageHandler'
        (Get-Command Unsubscribe-ModuleMessage).ResolvedCommand.Name | Should -Be 'Unregister-ModuleMessageHandler'
    }

    It 'reads well in a console: at 80 columns the queue and every counter show' {
        $s = Subscribe-ModuleMessage -Channel 'S' -MessageType 'T' -Handler { throw 'boom' }
        Publish-ModuleMessage -Channel 'S' -MessageType 'T' | Wait-ModuleMessage -Timeout 10
        $text = Get-MessageSubscriptions | Out-String -Width 80
        $text | Should -Match 'Id\s+Channel\s+Type\s+Queue\s+Delivered\s+Failed\s+Dropped\s+Expired'
        # Queue 0, Delivered 0, Failed 1, Dropped 0, Expired 0.
        $text | Should -Match ($s.SubscriptionId.ToString().Substring(0, 8) + '\s+S\s+T\s+0\s+0\s+1\s+0\s+0')
    }

    It 'reads well in a console: long channel and type names use the width there is' {
        New-MessageChannel -Name 'Configuration.Production.Updates' | Out-Null
        Subscribe-ModuleMessage -Channel 'Configuration.Production.Updates' -MessageType 'SettingChanged.Production' -Handler { } | Out-Null
        Get-MessageSubscriptions | Out-String -Width 120 | Should -Match 'Configuration\.Production\.Updates\s+SettingChanged\.Production\s'
        $narrow = Get-MessageSubscriptions | Out-String -Width 80
        ($narrow -split '\r?\n' | Measure-Object -Property Length -Maximum).Maximum | Should -BeLessOrEqual 80
        $narrow | Should -Match 'Expired'
    }
}

Describe 'Configuration and metrics' {
    BeforeEach { Reset-Bus }
    AfterAll {
        Set-CommunicationConfiguration -MaxMessageQueueSize 10000 -ProcessorInterval 100 -DefaultOverflowPolicy DropOldest
        Reset-Bus
    }

    It 'shows the nested settings in a list view by their values, not their type names' {
        $text = Get-CommunicationConfiguration | Format-List * | Out-String -Width 200
        $text | Should -Not -Match 'ModuleCommunication\.(RetryPolicy|CircuitBreakerOptions|SecuritySettings)'
        $text | Should -Match 'MaxRetries \d+, RetryDelay \d+ ms'
        $text | Should -Match 'FailureThreshold \d+, FailureRatio'
        $text | Should -Match 'RequireAuthentication (True|False)'
    }

    It 'shows the spec''s settings with their defaults' {
        $c = Get-CommunicationConfiguration
        $c | Should -BeOfType ([ModuleCommunication.CommunicationConfiguration])
        $c.MaxMessageQueueSize | Should -Be 10000
        $c.MaxEventHistory | Should -Be 1000
        $c.DefaultOverflowPolicy | Should -Be 'DropOldest'
    }

    It 'changes settings that new subscriptions then use' {
        Set-CommunicationConfiguration -MaxMessageQueueSize 20000 -DefaultOverflowPolicy DropNewest
        New-MessageChannel -Name 'C' | Out-Null
        $s = Subscribe-ModuleMessage -Channel 'C' -Handler { }
        $s.MaxQueueSize | Should -Be 20000
        $s.OverflowPolicy | Should -Be 'DropNewest'
    }

    It 'refuses NaN, infinities and non-numbers naming the setting, changing nothing' {
        { Set-CommunicationConfiguration -RetryPolicy @{ BackoffMultiplier = [double]::NaN } } | Should -Throw "RetryPolicy.BackoffMultiplier must be a number from 1 to 100; got 'NaN'."
        { Set-CommunicationConfiguration -CircuitBreaker @{ FailureRatio = [double]::PositiveInfinity } } | Should -Throw "CircuitBreaker.FailureRatio must be a number above 0 and at most 1; got '*Infinity'."
        { Set-CommunicationConfiguration -Settings @{ MaxMessageQueueSize = (Get-Date) } } | Should -Throw "MaxMessageQueueSize must be a whole number from 1 to 100000000; got '*'."
        (Get-CommunicationConfiguration).RetryPolicy.BackoffMultiplier | Should -Be 2
    }

    It 'refuses a time to live that is not positive, a -BlockTimeout of 0 and a ProcessorInterval over 60000' {
        New-MessageChannel -Name 'Ttl' | Out-Null
        { Publish-ModuleMessage -Channel 'Ttl' -MessageType 'T' -TimeToLive -5 -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidTimeToLive,*'
        { Subscribe-ModuleMessage -Channel 'Ttl' -Handler { } -OverflowPolicy Block -BlockTimeout 0 } | Should -Throw -ErrorId 'InvalidBlockTimeout,*'
        { Set-CommunicationConfiguration -Settings @{ ProcessorInterval = 100000 } } | Should -Throw "ProcessorInterval must be a whole number from 1 to 60000; got '100000'."
        Remove-MessageChannel -Name 'Ttl' -Force | Out-Null
    }

    It 'refuses a negative duration naming it, wherever a duration is taken' {
        { Wait-ModuleMessage -Timeout ([timespan]::MinValue) } | Should -Throw -ErrorId 'ParameterArgumentTransformationError,*'
        { Wait-ModuleMessage -Timeout -1 } | Should -Throw "*'-1' is a negative duration*"
        { Enable-MessageTracing -SlowThreshold -1 } | Should -Throw '*negative duration*'
        { Test-MessageChannel -Name 'X' -Timeout '-00:00:01' } | Should -Throw '*negative duration*'
    }

    It 'reads text that is a number as seconds, other text as a TimeSpan: <Call>' -ForEach @(
        @{ Call = { (Set-CircuitBreaker -OperationName S.Ok -RecoveryTimeout '5' -PassThru -WarningAction SilentlyContinue).Options.RecoveryTimeout }; Expected = [timespan]::FromSeconds(5) }
        @{ Call = { (Set-CircuitBreaker -OperationName S.Ok -RecoveryTimeout '0.5' -PassThru -WarningAction SilentlyContinue).Options.RecoveryTimeout }; Expected = [timespan]::FromSeconds(0.5) }
        @{ Call = { (Set-CircuitBreaker -OperationName S.Ok -SamplingDuration ' 1e1 ' -PassThru -WarningAction SilentlyContinue).Options.SamplingDuration }; Expected = [timespan]::FromSeconds(10) }
        @{ Call = { (Set-CircuitBreaker -OperationName S.Ok -RecoveryTimeout '00:01:30' -PassThru -WarningAction SilentlyContinue).Options.RecoveryTimeout }; Expected = [timespan]::FromSeconds(90) }
        @{ Call = { (Register-ModuleAPI -ModuleName S -APIName Ok -Handler { } -Timeout '20' -Force).DefaultTimeout }; Expected = [timespan]::FromSeconds(20) }
    ) {
        & $Call | Should -Be $Expected
        Set-CircuitBreaker -OperationName S.Ok -UseDefaults -WarningAction SilentlyContinue
        Unregister-ModuleAPI -ModuleName S -APIName Ok -Force -ErrorAction Ignore | Out-Null
    }

    It 'times a call out after -Timeout given as text in seconds, not days' {
        Register-ModuleAPI -ModuleName S -APIName Slow -Handler { Start-Sleep -Seconds 30 } -Force | Out-Null
        $watch = [Diagnostics.Stopwatch]::StartNew()
        { Invoke-ModuleAPI -Module S -Operation Slow -Timeout '1' -RetryAttempts 0 } | Should -Throw -ErrorId 'APITimeout,*'
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 10
        Unregister-ModuleAPI -ModuleName S -APIName Slow -Force | Out-Null
    }

    It 'refuses a duration beyond what the parameter takes as a binding error, in seconds: <Call>' -ForEach @(
        @{ Call = { Invoke-ModuleAPI -Module S -Operation Ok -Timeout 172800 }; Range = 'from 0 to 86400' }
        @{ Call = { Test-ModuleAPI -ModuleName S -APIName Ok -Timeout 5e6 }; Range = 'from 0 to 86400' }
        @{ Call = { Register-ModuleAPI -ModuleName S -APIName Ok -Handler { } -Timeout ([timespan]::FromDays(2)) }; Range = 'from 0 to 86400' }
        @{ Call = { Set-CircuitBreaker -OperationName S.Ok -SamplingDuration 0 }; Range = 'from 0.1 to 86400' }
        @{ Call = { Set-CircuitBreaker -OperationName S.Ok -RecoveryTimeout 100000 }; Range = 'from 0.001 to 86400' }
        @{ Call = { Set-CircuitBreaker -OperationName S.Ok -RecoveryTimeout '100000' }; Range = 'from 0.001 to 86400' }
        @{ Call = { Subscribe-ModuleMessage -Channel 'X' -Handler { } -OverflowPolicy Block -BlockTimeout 7200 }; Range = 'from 0 to 3600' }
    ) {
        $err = $Call | Should -Throw -ErrorId 'ParameterArgumentTransformationError,*' -PassThru
        $err.Exception.Message | Should -BeLike "*seconds; give a number of seconds $Range, or a TimeSpan in that range."
    }

    It 'makes the bad setting the error''s target: the value the core names, or the path it could not open' {
        $err = { Enable-CommunicationSecurity -AllowedModules 'a[' -RequireAuthentication } | Should -Throw -PassThru
        $err.TargetObject | Should -Be @('a[')
        Disable-CommunicationSecurity
        $path = Join-Path ([IO.Path]::GetTempPath()) "no-such-folder-$([guid]::NewGuid().ToString('N'))/history.jsonl"
        $err = { Set-CommunicationConfiguration -EventHistoryPath $path -MaxEventHistory 10 } | Should -Throw -PassThru
        $err.TargetObject | Should -Be $path
    }

    It 'refuses values above 2^31 with the allowed range, not a type error' {
        $before = (Get-CommunicationConfiguration).MaxMessageQueueSize
        { Set-CommunicationConfiguration -MaxMessageQueueSize 3000000000 -ErrorAction Stop } | Should -Throw '*maximum allowed range of 100000000*'
        { New-MessageChannel -Name 'Huge' -MaxMessages 3000000000 -ErrorAction Stop } | Should -Throw '*maximum allowed range of 100000000*'
        (Get-CommunicationConfiguration).MaxMessageQueueSize | Should -Be $before
    }

    It 'names a bad -Settings value as the user wrote it, with what to give instead, changing nothing' {
        $before = Get-CommunicationConfiguration
        $cases = @(
            @{ Settings = @{ EnableTracing = 'maybe' }; Message = "EnableTracing must be `$true or `$false; got 'maybe'." }
            @{ Settings = @{ EnableMetrics = 1 }; Message = "EnableMetrics must be `$true or `$false; got '1'." }
            @{ Settings = @{ DefaultOverflowPolicy = 'Sometimes' }; Message = "DefaultOverflowPolicy must be one of DropOldest, DropNewest, Reject, Block; got 'Sometimes'." }
            @{ Settings = @{ ProcessorInterval = 1.5 }; Message = "ProcessorInterval must be a whole number from 1 to 60000; got '1.5'." }
            @{ Settings = @{ MaxEventHistory = -3 }; Message = "MaxEventHistory must be a whole number from 0 to 10000000; got '-3'." }
            # Refused, not rounded or converted as .NET would: fractions of any number type, chars, enums.
            @{ Settings = @{ ProcessorInterval = [decimal]1.5 }; Message = "ProcessorInterval must be a whole number from 1 to 60000; got '1.5'." }
            @{ Settings = @{ ProcessorInterval = [char]'A' }; Message = "ProcessorInterval must be a whole number from 1 to 60000; got 'A'." }
            @{ Settings = @{ ProcessorInterval = [ConsoleColor]::Red }; Message = "ProcessorInterval must be a whole number from 1 to 60000; got 'Red'." }
            @{ Settings = @{ RetryPolicy = @{ MaxRetries = [float]2.5 } }; Message = "RetryPolicy.MaxRetries must be a whole number from 0 to 100; got '2.5'." }
            @{ Settings = @{ EventHistoryPath = 5 }; Message = "EventHistoryPath must be a file path as a string, or '' for none; got '5'." }
            @{ Settings = @{ MaxMessageQueueSize = 5; CircuitBreaker = @{ RecoveryTimeout = 100000 } }
               Message = "CircuitBreaker.RecoveryTimeout must be a number of seconds from 0.001 to 86400, or a TimeSpan; got '100000'." }
            @{ Settings = @{ Security = @{ DefaultTokenExpiration = 0 } }; Message = "Security.DefaultTokenExpiration must be a whole number from 1 to 525600; got '0'." }
        )
        foreach ($case in $cases) {
            { Set-CommunicationConfiguration -Settings $case.Settings } |
                Should -Throw -ExpectedMessage $case.Message -ErrorId 'InvalidConfigurationValue,*'
        }
        $after = Get-CommunicationConfiguration
        $after.MaxMessageQueueSize | Should -Be $before.MaxMessageQueueSize
        $after.CircuitBreaker.RecoveryTimeout | Should -Be $before.CircuitBreaker.RecoveryTimeout
    }

    It 'checks nested settings against the same ranges as the core: both ends of each are accepted' {
        $before = Get-CommunicationConfiguration
        $ends = @(
            @{ RetryPolicy = @{ MaxRetries = 0; RetryDelay = 0; BackoffMultiplier = 1; MaxDelay = 0 } }
            @{ RetryPolicy = @{ MaxRetries = 100; RetryDelay = 3600000; BackoffMultiplier = 100; MaxDelay = 3600000 } }
            @{ CircuitBreaker = @{ FailureThreshold = 1; FailureRatio = 0.001; SamplingDuration = 0.1; RecoveryTimeout = 0.001; HalfOpenProbes = 1 } }
            @{ CircuitBreaker = @{ FailureThreshold = 1000000; FailureRatio = 1; SamplingDuration = 86400; RecoveryTimeout = 86400; HalfOpenProbes = 1000 } }
            @{ Security = @{ DefaultTokenExpiration = 1 } }
            @{ Security = @{ DefaultTokenExpiration = 525600 } }
        )
        try {
            foreach ($settings in $ends) { Set-CommunicationConfiguration -Settings $settings }
            (Get-CommunicationConfiguration).CircuitBreaker.HalfOpenProbes | Should -Be 1000
        } finally {
            Set-CommunicationConfiguration -RetryPolicy @{
                MaxRetries = $before.RetryPolicy.MaxRetries; RetryDelay = $before.RetryPolicy.RetryDelay
                BackoffMultiplier = $before.RetryPolicy.BackoffMultiplier; MaxDelay = $before.RetryPolicy.MaxDelay
            } -CircuitBreaker @{
                FailureThreshold = $before.CircuitBreaker.FailureThreshold; FailureRatio = $before.CircuitBreaker.FailureRatio
                SamplingDuration = $before.CircuitBreaker.SamplingDuration; RecoveryTimeout = $before.CircuitBreaker.RecoveryTimeout
                HalfOpenProbes = $before.CircuitBreaker.HalfOpenProbes
            } -Security @{ DefaultTokenExpiration = $before.Security.DefaultTokenExpiration }
        }
    }

    It 'refuses a setting given twice in a case-sensitive -Settings hashtable, changing nothing' {
        $settings = [hashtable]::new([StringComparer]::Ordinal)
        $settings['MaxMessageQueueSize'] = 5
        $settings['maxMessageQueueSize'] = 6
        $before = (Get-CommunicationConfiguration).MaxMessageQueueSize
        { Set-CommunicationConfiguration -Settings $settings } | Should -Throw -ErrorId 'DuplicateConfigurationSetting,*'
        (Get-CommunicationConfiguration).MaxMessageQueueSize | Should -Be $before
        # The same inside a section, and a section given twice.
        $retry = [hashtable]::new([StringComparer]::Ordinal)
        $retry['MaxRetries'] = 3
        $retry['maxRetries'] = 7
        { Set-CommunicationConfiguration -RetryPolicy $retry } | Should -Throw -ExpectedMessage '*MaxRetries is given twice*'
        $sections = [hashtable]::new([StringComparer]::Ordinal)
        $sections['RetryPolicy'] = @{ MaxRetries = 2 }
        $sections['retryPolicy'] = @{ RetryDelay = 10 }
        { Set-CommunicationConfiguration -Settings $sections } | Should -Throw -ExpectedMessage '*given twice*'
    }

    It 'takes the spec''s hashtable shape and refuses unknown keys, changing nothing' {
        Set-CommunicationConfiguration -Settings @{ MaxMessageQueueSize = [int16]5000; ProcessorInterval = [decimal]50 }
        (Get-CommunicationConfiguration).ProcessorInterval | Should -Be 50
        { Set-CommunicationConfiguration -Settings @{ MaxMessageQueueSize = 1; NoSuchSetting = 1 } } |
            Should -Throw -ErrorId 'UnknownConfigurationSetting,ModuleCommunication.Commands.SetCommunicationConfigurationCommand'
        (Get-CommunicationConfiguration).MaxMessageQueueSize | Should -Be 5000
    }

    It 'counts published, delivered and queued messages' {
        New-MessageChannel -Name 'M' | Out-Null
        Subscribe-ModuleMessage -Channel 'M' -Handler { } | Out-Null
        1..3 | ForEach-Object { Publish-ModuleMessage -Channel 'M' -MessageType 'T' } | Wait-ModuleMessage -Timeout 10
        $m = Get-CommunicationMetrics -Channel 'M'
        $m.MessageBus.TotalChannels | Should -Be 1
        $m.Channels[0].Published | Should -Be 3
        $m.Channels[0].Delivered | Should -Be 3
        $m.Channels[0].QueueLength | Should -Be 0
    }
}
