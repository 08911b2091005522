BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')

    # A fresh counting period with short intervals, so health rules clear within a second.
    function Reset-Observability {
        Reset-Events
        Set-CommunicationConfiguration -EnableMetrics $true -MetricsIntervalMs 100 -MetricsHistorySize 60
        Reset-CommunicationMetrics -Force | Out-Null
    }
}

AfterAll {
    Set-CommunicationConfiguration -MetricsIntervalMs 60000
}

Describe 'Get-CommunicationMetrics' {
    BeforeEach { Reset-Observability }

    It 'counts known traffic exactly, with one latency per handled delivery' {
        New-MessageChannel -Name 'M' | Out-Null
        Subscribe-ModuleMessage -Channel 'M' -Handler { param($Message) if ($Message.Data -eq 3) { throw 'three' } } | Out-Null
        1..5 | ForEach-Object { Publish-ModuleMessage -Channel 'M' -MessageType 'T' -Data $_ } | Wait-ModuleMessage -Timeout 10
        $m = Get-CommunicationMetrics
        $m | Should -BeOfType ([ModuleCommunication.CommunicationMetrics])
        $m.MessageBus.Published | Should -Be 5
        $m.MessageBus.Delivered | Should -Be 4
        $m.MessageBus.Failed | Should -Be 1
        $m.Channels[0].Published | Should -Be 5
        $m.Subscriptions[0].Failed | Should -Be 1
        $m.Performance.DeliveryLatency.Count | Should -Be 5
        $m.Performance.DeliveryLatency.P99 | Should -BeGreaterOrEqual $m.Performance.DeliveryLatency.P50
        $m.API.SuccessRate | Should -Be 100
        $m.API.TotalCalls | Should -Be 0
    }

    It 'narrows channels, subscriptions and delivery latencies with -Channel' {
        'A', 'B' | ForEach-Object { New-MessageChannel -Name $_ | Out-Null; Subscribe-ModuleMessage -Channel $_ -Handler { } | Out-Null }
        Publish-ModuleMessage -Channel 'A' -MessageType 'T' | Wait-ModuleMessage -Timeout 10
        1..2 | ForEach-Object { Publish-ModuleMessage -Channel 'B' -MessageType 'T' } | Wait-ModuleMessage -Timeout 10
        $b = Get-CommunicationMetrics -Channel 'b'
        $b.Channels.Name | Should -Be 'B'
        @($b.Subscriptions).Count | Should -Be 1
        $b.Performance.DeliveryLatency.Count | Should -Be 2
        $b.MessageBus.Published | Should -Be 3
        $b.Channel | Should -Be 'b'
        $b | Out-String -Width 120 | Should -Match '(?m)^Channel\s+: B: 2 published, 2 delivered, 0 failed, 0 expired, 0 dropped, 0 queued\s*$'
        Get-CommunicationMetrics | Out-String -Width 120 | Should -Not -Match '(?m)^Channel\s+:'
    }

    It 'reports a plain -Channel name that no channel has as ChannelNotFound, and still writes the totals' {
        New-MessageChannel -Name 'A' | Out-Null
        $err = $null
        $m = Get-CommunicationMetrics -Channel 'Typo' -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'ChannelNotFound,ModuleCommunication.Commands.GetCommunicationMetricsCommand'
        $err[0].TargetObject | Should -Be 'Typo'
        $m.MessageBus.TotalChannels | Should -Be 1
        Get-CommunicationMetrics -Channel 'Typo*' -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
        $err | Should -BeNullOrEmpty
    }

    It 'keeps per-interval history with -IncludeHistory that adds up to the totals' {
        New-MessageChannel -Name 'H' | Out-Null
        1..3 | ForEach-Object { Publish-ModuleMessage -Channel 'H' -MessageType 'T' } | Out-Null
        Wait-Until { (Get-CommunicationMetrics -IncludeHistory).History.Count -ge 2 } | Should -BeTrue
        $m = Get-CommunicationMetrics -IncludeHistory
        $m.History[0] | Should -BeOfType ([ModuleCommunication.MetricsInterval])
        ($m.History | Measure-Object Published -Sum).Sum | Should -Be 3
        $m.History[0].End | Should -BeGreaterThan $m.History[0].Start
        (Get-CommunicationMetrics).History | Should -BeNullOrEmpty
    }

    It 'reads well in a console: one line per interval and per recent call at 80 columns' {
        New-MessageChannel -Name 'H' | Out-Null
        Subscribe-ModuleMessage -Channel 'H' -Handler { } | Out-Null
        Register-ModuleAPI -ModuleName 'InventoryManager' -APIName 'GetStockLevels' -Handler { throw 'database offline' } -Force | Out-Null
        try {
            1..3 | ForEach-Object { Publish-ModuleMessage -Channel 'H' -MessageType 'T' } | Wait-ModuleMessage -Timeout 10
            { Invoke-ModuleAPI -Module 'InventoryManager' -Operation 'GetStockLevels' -RetryAttempts 0 -ErrorAction Stop } | Should -Throw
            Wait-Until { (Get-CommunicationMetrics -IncludeHistory).History.Count -ge 2 } | Should -BeTrue
            $m = Get-CommunicationMetrics -IncludeHistory
            $lines = ($m.History | Out-String -Width 80).Trim() -split '\r?\n'
            $lines[0] | Should -Match '^Start\s+Published\s+Delivered\s+Failed\s+Expired\s+Dropped\s+APICalls\s+APIFailed\s+P99 ms$'
            # Header, rule, one line per interval: no header wraps down its column.
            $lines | Should -HaveCount ($m.History.Count + 2)
            $lines[2..($lines.Count - 1)] | ForEach-Object { $_ | Should -Match '^\d\d:\d\d:\d\d(\s+\d+){7}\s+[\d.]+$' }
            $lines = ($m.API.RecentCalls | Out-String -Width 80).Trim() -split '\r?\n'
            $lines[0] | Should -Match '^Time\s+API\s+Ms\s+Success\s+Error$'
            $lines | Should -HaveCount 3
            # The API has its own column, so the error starts with what went wrong.
            $lines[2] | Should -Match '^\d\d:\d\d:\d\d InventoryManager\.GetStockLevels\s+[\d.]+ False\s+database offline$'
        }
        finally { Unregister-ModuleAPI -ModuleName 'InventoryManager' -APIName 'GetStockLevels' -Force | Out-Null }
    }

    It 'shows TopAPIs with the average in milliseconds, rounded' {
        Register-ModuleAPI -ModuleName 'Top' -APIName 'Op' -Handler { 1 } -Force | Out-Null
        1..3 | ForEach-Object { Invoke-ModuleAPI Top Op } | Out-Null
        $text = (Get-CommunicationMetrics).API.TopAPIs | Out-String -Width 80
        $text | Should -Match 'AverageExecutionTime \(ms\)'
        $text | Should -Match 'Top\.Op\s+3\s+0\s+[\d.]+\s*$'
        $text | Should -Not -Match '\d\.\d{4,}'
        # Inside the API totals, each call and API reads as one line, not as its type name.
        $api = (Get-CommunicationMetrics).API | Out-String -Width 200
        $api | Should -Match 'TopAPIs\s+: \{Top\.Op: 3 calls, 0 failed, [\d.]+ ms on average\}'
        $api | Should -Match 'RecentCalls\s+: \{[\d:.]+ Top\.Op [\d.]+ ms succeeded'
        Unregister-ModuleAPI -ModuleName 'Top' -APIName 'Op' -Force | Out-Null
    }

    It 'runs the spec''s Performance Monitoring example as written' {
        New-MessageChannel -Name 'Configuration' | Out-Null
        $output = & {
            $metrics = Get-CommunicationMetrics
            Write-Output "Total Channels: $($metrics.MessageBus.TotalChannels)"
            Write-Output "Total APIs: $($metrics.API.TotalAPIs)"
            Write-Output "API Success Rate: $($metrics.API.SuccessRate)%"
            Write-Output "Average Execution Time: $($metrics.Performance.AverageAPIExecutionTime)ms"
            $detailed = Get-CommunicationMetrics -IncludeHistory
            $channelMetrics = Get-CommunicationMetrics -Channel "Configuration"
            $metrics.API.TopAPIs | Format-Table Name, CallCount, AverageExecutionTime | Out-String
            $metrics.API.RecentCalls | Where-Object { -not $_.Success } | Format-Table API, StartTime, Duration, Error | Out-String
            $channelMetrics.Channels.Name
        }
        $output | Should -Contain 'Total Channels: 1'
        $output | Should -Contain 'API Success Rate: 100%'
        $output | Should -Contain 'Configuration'
    }

    It 'reads well in a console: the default view is a list of one-line totals' {
        $text = Get-CommunicationMetrics | Out-String
        $text | Should -Match 'DeliveryLatency\s*:\s*p50'
        $text | Should -Not -Match 'ModuleCommunication\.'
    }

    It 'reads well in a console: the latency lines stay within 80 columns past 10,000 deliveries' {
        # Percentiles are bucket bounds (ms), as a real run reports them; fixed values, because
        # real latencies vary and so does the length of the line.
        $latency = [ModuleCommunication.LatencyPercentiles]@{ Count = 12345; Average = 7.1; P50 = 6.291456; P95 = 16.777216; P99 = 25.165824 }
        $slow = [ModuleCommunication.LatencyPercentiles]@{ Count = 1234567; Average = 900; P50 = 0.786432; P95 = 671.08864; P99 = 1342.17728 }
        $metrics = [ModuleCommunication.CommunicationMetrics]@{
            Performance = [ModuleCommunication.PerformanceMetrics]@{ DeliveryLatency = $latency; APILatency = $slow }
        }
        $lines = ($metrics | Out-String -Width 80) -split '\r?\n'
        # Each on one line: a longer value wraps onto the next.
        $lines -match '^DeliveryLatency\s*:\s*p50 6\.29, p95 16\.8, p99 25\.2 ms \(12345 deliveries\)$' | Should -HaveCount 1
        $lines -match '^APILatency\s*:\s*p50 0\.786, p95 671, p99 1342 ms \(1234567 calls\)$' | Should -HaveCount 1
        $lines = ($metrics.Performance | Out-String -Width 80) -split '\r?\n'
        $lines -match '^DeliveryLatency\s*:\s*p50 6\.29, p95 16\.8, p99 25\.2 ms \(12345 values\)$' | Should -HaveCount 1
        $lines -match '^APILatency\s*:\s*p50 0\.786, p95 671, p99 1342 ms \(1234567 values\)$' | Should -HaveCount 1
    }

    It 'reads well in a list: every nested total and each subscription, channel and interval show values, not type names' {
        New-MessageChannel -Name 'Orders' | Out-Null
        Subscribe-ModuleMessage -Channel 'Orders' -MessageType 'New' -Handler { } | Out-Null
        Subscribe-ModuleEvent -EventName 'Order*' -Handler { } | Out-Null
        Publish-ModuleMessage -Channel 'Orders' -MessageType 'New' | Wait-ModuleMessage -Timeout 10
        Start-Sleep -Milliseconds 150 # one closed interval for History
        $m = Get-CommunicationMetrics -IncludeHistory
        "$($m.MessageBus)" | Should -Be '1 published, 1 delivered, 0 failed, 0 dropped, 0 queued (1 channels, 2 subscriptions)'
        "$($m.Subscriptions)" | Should -Be 'Message Orders/New Event */Order*'
        "$($m.Channels)" | Should -Be 'Orders'
        "$($m.Events)" | Should -Be '0 published, 0 in history'
        "$($m.API)" | Should -Match '^\d+ registered, 0 calls, 100 % succeeded$'
        "$($m.Security)" | Should -Be 'disabled, 0 auth failures'
        "$($m.CircuitBreakers)" | Should -Match '^0 open, 0 half-open, \d+ closed$'
        "$($m.Performance)" | Should -Match '^delivery p50 [\d.]+, p95 [\d.]+, p99 [\d.]+ ms \(1 deliveries\); API p50 '
        "$($m.History[-1])" | Should -Match '^\d\d:\d\d:\d\d \d+ published, \d+ delivered, 0 failed, 0 dropped, \d+ API calls$'
        $text = $m | Format-List * | Out-String -Width 300
        $text | Should -Match 'Subscriptions\s+: \{Message Orders/New, Event \*/Order\*\}'
        $text | Should -Not -Match 'ModuleCommunication\.'
        $status = Get-CommunicationStatus -IncludeDetails -CheckHealth
        "$($status.Components)" | Should -Be 'MessageBus Healthy, APIRegistry Healthy, Configuration Healthy, Security Healthy, CircuitBreakers Healthy'
        "$($status.HealthChecks)" | Should -Be '3 passed, 0 failed'
        "$($status.Metrics)" | Should -Match '^\d+ published, .*; API \d+ registered'
        "$($status.Configuration)" | Should -Match '^MaxMessageQueueSize \d+, ProcessorInterval \d+ ms, '
        $status | Format-List * | Out-String -Width 300 | Should -Not -Match 'ModuleCommunication\.'
    }

    It 'reads well in a console: Performance shows latencies, not type names' {
        $text = (Get-CommunicationMetrics).Performance | Out-String -Width 80
        $text | Should -Match 'DeliveryLatency\s*:\s*p50 [\d.]+, p95 [\d.]+, p99 [\d.]+ ms \(\d+ values\)'
        $text | Should -Match 'APILatency\s*:\s*p50'
        $text | Should -Not -Match 'ModuleCommunication\.'
    }
}

Describe 'Reset-CommunicationMetrics' {
    BeforeEach { Reset-Observability }

    It 'zeroes every counter and returns Success, keeping channels and queued messages' {
        New-MessageChannel -Name 'R' | Out-Null
        Subscribe-ModuleMessage -Channel 'R' -Handler { } | Out-Null
        Publish-ModuleMessage -Channel 'R' -MessageType 'T' | Wait-ModuleMessage -Timeout 10
        Stop-MessageProcessor | Out-Null
        Publish-ModuleMessage -Channel 'R' -MessageType 'T' | Out-Null
        $r = Reset-CommunicationMetrics -Force
        $r.Success | Should -BeTrue
        $m = Get-CommunicationMetrics
        $m.MessageBus.Published | Should -Be 0
        $m.MessageBus.Delivered | Should -Be 0
        $m.Channels[0].Published | Should -Be 0
        $m.Performance.DeliveryLatency.Count | Should -Be 0
        $m.MessageBus.QueueLength | Should -Be 1
        $m.Since | Should -Be $r.ResetAt
        Start-MessageProcessor | Out-Null
    }

    It 'changes nothing with -WhatIf' {
        New-MessageChannel -Name 'R' | Out-Null
        Publish-ModuleMessage -Channel 'R' -MessageType 'T' | Out-Null
        Reset-CommunicationMetrics -WhatIf
        (Get-CommunicationMetrics).MessageBus.Published | Should -Be 1
    }
}

Describe 'Get-CommunicationStatus' {
    BeforeEach { Reset-Observability }
    AfterEach { Start-MessageProcessor | Out-Null }

    It 'reports an idle hub Healthy with five components, and runs the spec''s example as written' {
        $output = & {
            $status = Get-CommunicationStatus -IncludeDetails -CheckHealth
            Write-Output "Overall Health: $($status.OverallHealth)"
            Write-Output "Issues: $($status.Issues.Count)"
            Write-Output "Recommendations: $($status.Recommendations.Count)"
            $status.Components.MessageBus
            $status.Components.APIRegistry
            $status.Components.Configuration
            $status.HealthChecks.MessagingTest
            $status.HealthChecks.MetricsTest
        }
        $output | Should -Contain 'Overall Health: Healthy'
        $output | Should -Contain 'Issues: 0'
        ($output | Where-Object { $_ -is [ModuleCommunication.ComponentHealth] }).Name | Should -Be 'MessageBus', 'APIRegistry', 'Configuration'
        ($output | Where-Object { $_ -is [ModuleCommunication.TestResult] }).Success | Should -Be $true, $true
    }

    It 'does a real round trip with -CheckHealth and leaves no channel or subscription behind' {
        $s = Get-CommunicationStatus -CheckHealth
        $s.HealthChecks.MessagingTest.Success | Should -BeTrue
        $s.HealthChecks.MetricsTest.Details | Should -Match 'published \+1, delivered \+1'
        $s.HealthChecks.All.Name | Should -Be 'MessagingTest', 'MetricsTest', 'ConfigurationTest'
        Get-MessageChannels | Should -BeNullOrEmpty
        Get-MessageSubscriptions | Should -BeNullOrEmpty
    }

    It 'reads well in a console: at 80 columns long values wrap between words, not inside them' {
        Stop-MessageProcessor | Out-Null
        $status = Get-CommunicationStatus -CheckHealth -Timeout 0.2
        $text = ($status | Out-String -Width 80) + (Get-CircuitBreakerStatus | Out-String -Width 80)
        $lines = $text -split '\r?\n'
        $lines | Where-Object { $_.Length -gt 80 } | Should -BeNullOrEmpty
        # Words that PowerShell's own wrapping cut at the edge (queue / d, failure / s, Re / coveryTimeout).
        $words = $text -split '\s+'
        'queued,', 'recently', 'RecoveryTimeout', 'Start-MessageProcessor.', '(Start-MessageProcessor)' | ForEach-Object { $words | Should -Contain $_ }
        # Continuation lines start under the text they continue.
        $continued = @($lines | Where-Object { $_ -match '^\s+queued, processor stopped' })
        $continued.Count | Should -Be 1
        $continued[0].IndexOf('q') | Should -Be 44
    }

    It 'adds Metrics and Configuration with -IncludeDetails only' {
        (Get-CommunicationStatus).Metrics | Should -BeNullOrEmpty
        $d = Get-CommunicationStatus -IncludeDetails
        $d.Metrics | Should -BeOfType ([ModuleCommunication.CommunicationMetrics])
        $d.Configuration.MetricsIntervalMs | Should -Be 100
        # And shows them.
        $d | Out-String | Should -Match '(?m)^Metrics\s+: Channels\s+: \d'
        $d | Out-String | Should -Match '(?m)^Configuration\s+: MaxMessageQueueSize'
        Get-CommunicationStatus | Out-String | Should -Not -Match '(?m)^(Metrics|Configuration)\s+:'
    }

    It 'is Unhealthy when the messaging check fails on a stopped processor, and says what to do' {
        Stop-MessageProcessor | Out-Null
        $s = Get-CommunicationStatus -CheckHealth -Timeout 0.2
        $s.OverallHealth | Should -Be 'Unhealthy'
        $s.HealthChecks.MessagingTest.Success | Should -BeFalse
        $s.Issues[0].Rule | Should -Be 'MessagingTestFailed'
        $s.HealthChecks.MessagingTest.Details | Should -Match 'Start-MessageProcessor'
        Get-MessageChannels | Should -BeNullOrEmpty
    }

    It 'warns about dropped messages naming the channel, and clears once intervals pass without drops' {
        New-MessageChannel -Name 'Busy' | Out-Null
        Stop-MessageProcessor | Out-Null
        Subscribe-ModuleMessage -Channel 'Busy' -MaxQueueSize 1 -OverflowPolicy DropNewest -Handler { } | Out-Null
        1..2 | ForEach-Object { Publish-ModuleMessage -Channel 'Busy' -MessageType 'T' } | Out-Null
        Start-MessageProcessor | Out-Null
        Wait-ModuleMessage -Timeout 10
        $s = Get-CommunicationStatus
        $s.OverallHealth | Should -Be 'Warning'
        $issue = $s.Issues | Where-Object Rule -EQ 'MessagesDropped'
        $issue.Message | Should -Match 'Busy: 1'
        $issue.Recommendation | Should -Match 'MaxQueueSize'
        $s.Components.MessageBus.Status | Should -Be 'Warning'
        Wait-Until { (Get-CommunicationStatus).OverallHealth -eq 'Healthy' } | Should -BeTrue
    }

    It 'warns about a queue above 80 percent and a stopped processor, and clears both when drained' {
        New-MessageChannel -Name 'Q' | Out-Null
        Subscribe-ModuleMessage -Channel 'Q' -MaxQueueSize 10 -Handler { } | Out-Null
        Stop-MessageProcessor | Out-Null
        1..9 | ForEach-Object { Publish-ModuleMessage -Channel 'Q' -MessageType 'T' } | Out-Null
        (Get-CommunicationStatus).Issues.Rule | Sort-Object | Should -Be 'ProcessorStopped', 'QueueNearlyFull'
        # The spec's "Monitor Health" snippet, as written: the issues read as text, not type names.
        $warning = & {
            $status = Get-CommunicationStatus -CheckHealth -Timeout 0.2
            if ($status.OverallHealth -ne 'Healthy') {
                Write-Warning "Communication issues detected: $($status.Issues -join '; ')"
            }
        } 3>&1
        "$warning" | Should -Match '^Communication issues detected: '
        "$warning" | Should -Match 'ProcessorStopped: \S'
        "$warning" | Should -Match 'QueueNearlyFull: \S'
        "$warning" | Should -Not -Match 'HealthIssue'
        Start-MessageProcessor | Out-Null
        Wait-ModuleMessage -Timeout 10
        (Get-CommunicationStatus).Issues | Should -BeNullOrEmpty
    }

    It 'warns about a handler whose errors rise, with its last error, and clears when they stop' {
        New-MessageChannel -Name 'E' | Out-Null
        Subscribe-ModuleMessage -Channel 'E' -Handler { throw 'database offline' } | Out-Null
        Publish-ModuleMessage -Channel 'E' -MessageType 'T' | Wait-ModuleMessage -Timeout 10
        $issue = (Get-CommunicationStatus).Issues | Where-Object Rule -EQ 'HandlerErrorsRising'
        $issue.Message | Should -Match 'database offline'
        Wait-Until { -not ((Get-CommunicationStatus).Issues | Where-Object Rule -EQ 'HandlerErrorsRising') } | Should -BeTrue
    }

    It 'reads well in a console: issues, recommendations and components one per line' {
        $text = Get-CommunicationStatus -CheckHealth | Out-String
        $text | Should -Match 'OverallHealth\s*:\s*Healthy'
        $text | Should -Match 'MessageBus\s+Healthy'
        $text | Should -Match 'MessagingTest\s+passed'
        $text | Should -Not -Match 'ModuleCommunication\.'
    }

    It 'reads well in a console: HealthChecks and Components show outcomes, not type names' {
        $s = Get-CommunicationStatus -CheckHealth
        $checks = $s.HealthChecks | Out-String -Width 80
        $checks | Should -Match 'MessagingTest\s*:\s*Passed \([\d.]+ ms\)'
        $checks | Should -Match 'ConfigurationTest\s*:\s*Passed'
        $components = $s.Components | Out-String -Width 80
        $components | Should -Match 'MessageBus\s*:\s*Healthy: '
        "$checks$components" | Should -Not -Match 'ModuleCommunication\.'
    }
}

Describe 'Test-MessageChannel' {
    BeforeEach { Reset-Observability }
    AfterEach { Start-MessageProcessor | Out-Null }

    It 'does a real round trip through an existing channel, and runs the spec''s example as written' {
        New-MessageChannel -Name 'Configuration' | Out-Null
        $channelTest = Test-MessageChannel -Name "Configuration" -Timeout 10
        if (-not $channelTest.Success) {
            Write-Error "Channel test failed: $($channelTest.Errors -join '; ')"
        }
        $channelTest.Success | Should -BeTrue
        $channelTest.Channel | Should -Be 'Configuration'
        $channelTest.Errors | Should -BeNullOrEmpty
        $channelTest.Duration | Should -BeOfType ([TimeSpan])
        (Get-CommunicationMetrics -Channel 'Configuration').Channels[0].Published | Should -Be 1
        Get-MessageSubscriptions | Should -BeNullOrEmpty
    }

    It 'reports a missing channel as a failure without throwing, saying what to do' {
        $r = Test-MessageChannel -Name 'Nowhere' -ErrorAction Stop
        $r.Success | Should -BeFalse
        $r.Channel | Should -Be 'Nowhere'
        $r.Errors | Should -Match 'New-MessageChannel'
        # A pattern cannot be created: the advice is to look the name up instead.
        (Test-MessageChannel -Name 'Now*').Errors | Should -BeLike '*not a pattern*Get-MessageChannels*'
    }

    It 'fails on a stopped processor, naming Start-MessageProcessor' {
        New-MessageChannel -Name 'Paused' | Out-Null
        Stop-MessageProcessor | Out-Null
        $r = Test-MessageChannel -Name 'Paused' -Timeout 0.1
        $r.Success | Should -BeFalse
        $r.Errors | Should -Match 'Start-MessageProcessor'
    }

    It 'tests every channel from the pipeline' {
        'P1', 'P2' | ForEach-Object { New-MessageChannel -Name $_ | Out-Null }
        $r = Get-MessageChannels | Test-MessageChannel
        $r.Channel | Should -Be 'P1', 'P2'
        $r.Success | Should -Be $true, $true
    }

    It 'reaches subscribers of every message type, but not those filtering by type' {
        New-MessageChannel -Name 'Shared' | Out-Null
        $script:all = 0; $script:typed = 0
        Subscribe-ModuleMessage -Channel 'Shared' -Handler { $script:all++ } | Out-Null
        Subscribe-ModuleMessage -Channel 'Shared' -MessageType 'Config*' -Handler { $script:typed++ } | Out-Null
        (Test-MessageChannel -Name 'Shared').Success | Should -BeTrue
        Wait-ModuleMessage -Timeout 10
        $script:all | Should -Be 1
        $script:typed | Should -Be 0
    }
}

Describe 'Test-ModuleCommunication' {
    BeforeEach { Reset-Observability }
    AfterEach { Start-MessageProcessor | Out-Null }

    It 'passes every Basic check on a healthy hub and leaves nothing behind, unseen by user subscribers' {
        New-MessageChannel -Name 'UserChannel' | Out-Null
        $script:seen = 0
        Subscribe-ModuleMessage -Channel '*' -Handler { $script:seen++ } | Out-Null
        Subscribe-ModuleEvent -EventName '*' -Handler { $script:seen++ } | Out-Null
        $historyBefore = @(Get-ModuleEvents).Count
        $r = Test-ModuleCommunication -TestType Basic
        $r | Should -BeOfType ([ModuleCommunication.CommunicationTestResult])
        $r.Tests.Name | Should -Be 'ChannelLifecycle', 'PublishSubscribe', 'PriorityOrder', 'TimeToLive', 'Filter',
            'QueueOverflow', 'Events', 'Metrics', 'HealthCheck'
        ($r.Tests | Where-Object { -not $_.Success } | ForEach-Object { "$($_.Name): $($_.Details)" }) | Should -BeNullOrEmpty
        $r.PassRate | Should -Be 100
        Wait-ModuleMessage -Timeout 10
        $script:seen | Should -Be 0
        (Get-MessageChannels).Name | Should -Be 'UserChannel'
        @(Get-MessageSubscriptions).Count | Should -Be 2
        @(Get-ModuleEvents).Count | Should -Be $historyBefore
        (Get-CommunicationStatus).OverallHealth | Should -Be 'Healthy'
    }

    It 'reports failures on a deliberately broken setup (stopped processor) and still cleans up' {
        Stop-MessageProcessor | Out-Null
        $r = Test-ModuleCommunication -TestType Basic
        $r.PassRate | Should -BeLessThan 100
        $failed = $r.Tests | Where-Object Name -EQ 'PublishSubscribe'
        $failed.Success | Should -BeFalse
        $failed.Details | Should -Match 'Start-MessageProcessor'
        ($r.Tests | Where-Object Name -EQ 'ChannelLifecycle').Success | Should -BeTrue
        Get-MessageChannels | Should -BeNullOrEmpty
        Get-MessageSubscriptions | Should -BeNullOrEmpty
    }

    It 'runs a stress test with concurrent publishers: nothing lost, order kept, latencies recorded' {
        $r = Test-ModuleCommunication -TestType Stress -Duration 1 -Concurrency 3
        $r.Tests.Name | Should -Be 'StressThroughput', 'StressOrdering', 'StressLatency'
        ($r.Tests | Where-Object { -not $_.Success } | ForEach-Object { "$($_.Name): $($_.Details)" }) | Should -BeNullOrEmpty
        $r.Tests[0].Details | Should -Match '3 publishers sent [\d,]+ messages'
        Get-MessageChannels | Should -BeNullOrEmpty
        Get-MessageSubscriptions | Should -BeNullOrEmpty
    }

    It 'runs the Full suite: Basic, the extra checks and a short stress run' {
        $r = Test-ModuleCommunication -TestType Full -Duration 1
        $r.Tests.Name | Should -Contain 'RunAsyncHandler'
        $r.Tests.Name | Should -Contain 'EventReplay'
        $r.Tests.Name | Should -Contain 'StressThroughput'
        ($r.Tests | Where-Object { -not $_.Success } | ForEach-Object { "$($_.Name): $($_.Details)" }) | Should -BeNullOrEmpty
        $r.PassRate | Should -Be 100
        Get-MessageSubscriptions | Should -BeNullOrEmpty
    }

    It 'passes with a history of <Kept> event(s) and a history file, and leaves no self-test event in the file' -ForEach @(
        @{ Kept = 0 }, @{ Kept = 1 }
    ) {
        $path = Join-Path $TestDrive "history-$Kept.jsonl"
        try {
            Set-CommunicationConfiguration -EventHistoryPath $path -MaxEventHistory $Kept
            Publish-ModuleEvent -EventName 'UserEvent' | Out-Null
            $r = Test-ModuleCommunication -TestType Full -Duration 1
            ($r.Tests | Where-Object { -not $_.Success } | ForEach-Object { "$($_.Name): $($_.Details)" }) | Should -BeNullOrEmpty
            ($r.Tests | Where-Object Name -EQ 'Events').Details | Should -Match $(if ($Kept) { 'into the history' } else { 'no history is kept' })
            $lines = @(Get-Content $path)
            $lines | Should -HaveCount 1
            $lines[0] | Should -Match '"name":"UserEvent"'
        } finally {
            Set-CommunicationConfiguration -EventHistoryPath '' -MaxEventHistory 1000
        }
    }

    It 'runs the spec''s Testing examples (with a short stress duration)' {
        $output = & {
            $results = Test-ModuleCommunication -TestType Basic
            $results.Tests | Format-Table Name, Success, Details -AutoSize | Out-String
            Write-Output "Pass Rate: $($results.PassRate)%"
            $basicTests = Test-ModuleCommunication -TestType Basic
            Write-Output "Basic Tests Pass Rate: $($basicTests.PassRate)%"
            $stressTests = Test-ModuleCommunication -TestType Stress -Duration 1 -Concurrency 20
            Write-Output "Stress Tests Pass Rate: $($stressTests.PassRate)%"
        }
        $output | Should -Contain 'Pass Rate: 100%'
        $output | Should -Contain 'Basic Tests Pass Rate: 100%'
        $output | Should -Contain 'Stress Tests Pass Rate: 100%'
    }

    It 'refuses a -Duration of <Duration>, out of the documented 1 second to 1 hour, with a clear error' -ForEach @(
        @{ Duration = 0 }, @{ Duration = 0.5 }, @{ Duration = 3601 }
    ) {
        { Test-ModuleCommunication -TestType Stress -Duration $Duration -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidDuration,ModuleCommunication.Commands.TestModuleCommunicationCommand' -ExpectedMessage '*at least 1 second and at most 1 hour*'
    }
}
