BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
}

Describe 'Publish-ModuleMessage' {
    BeforeEach {
        Reset-Bus
        New-MessageChannel -Name 'Configuration' | Out-Null
    }

    It 'returns the message id at once, as a Guid' {
        $id = Publish-ModuleMessage -Channel 'Configuration' -MessageType 'ConfigChanged' -Data @{ Module = 'LabRunner' } -SourceModule 'ConfigurationCore' -Priority 'High'
        $id | Should -BeOfType ([guid])
        $id | Should -Not -Be ([guid]::Empty)
    }

    It 'is also called Send-ModuleMessage and Submit-ModuleMessage' {
        (Get-Command Send-ModuleMessage).ResolvedCommand.Name | Should -Be 'Publish-ModuleMessage'
        (Get-Command Submit-ModuleMessage).ResolvedCommand.Name | Should -Be 'Publish-ModuleMessage'
        Send-ModuleMessage -Channel 'Configuration' -MessageType 'Changed' -Data @{ Setting = 'Value' } -Priority 'High' | Should -BeOfType ([guid])
    }

    It 'tells the user to create a missing channel' {
        { Publish-ModuleMessage -Channel 'Nowhere' -MessageType 'T' -ErrorAction Stop } |
            Should -Throw -ErrorId 'ChannelNotFound,ModuleCommunication.Commands.PublishModuleMessageCommand'
        { Publish-ModuleMessage -Channel 'Nowhere' -MessageType 'T' -ErrorAction Stop } | Should -Throw '*New-MessageChannel*'
    }

    It 'rejects an unknown priority before publishing' {
        { Publish-ModuleMessage -Channel 'Configuration' -MessageType 'T' -Priority 'Urgent' } | Should -Throw -ErrorId 'CannotConvertArgumentNoMessage*'
        (Get-MessageChannels -Name 'Configuration').Published | Should -Be 0
    }

    It 'publishes each piped value as the data of one message' {
        $got = [System.Collections.Generic.List[object]]::new()
        Subscribe-ModuleMessage -Channel 'Configuration' -Handler { param($Message) $got.Add($Message.Data) } | Out-Null
        $ids = 1..5 | Publish-ModuleMessage -Channel 'Configuration' -MessageType 'Number'
        $ids | Wait-ModuleMessage -Timeout 10
        $got | Should -Be @(1, 2, 3, 4, 5)
    }

    It 'takes only the data from a piped record, never its TTL, Priority, Channel or MessageType property' {
        New-MessageChannel -Name 'Other' | Out-Null
        $got = [System.Collections.Generic.List[object]]::new()
        Subscribe-ModuleMessage -Channel 'Configuration' -Handler { param($Message) $got.Add($Message) } | Out-Null
        $record = [pscustomobject]@{ Name = 'example.org'; TTL = 1; Priority = 'Critical'; Channel = 'Other'; MessageType = 'X'; CorrelationId = 'c'; SourceModule = 's' }
        $record | Publish-ModuleMessage -Channel 'Configuration' -MessageType 'Record' | Wait-ModuleMessage -Timeout 10
        $got.Count | Should -Be 1
        $got[0].ExpiresAt | Should -BeNullOrEmpty
        $got[0].Priority | Should -Be 'Normal'
        $got[0].MessageType | Should -Be 'Record'
        $got[0].CorrelationId | Should -BeNullOrEmpty
        $got[0].SourceModule | Should -Not -Be 's'
        $got[0].Data.Name | Should -Be 'example.org'
        $got[0].Data.TTL | Should -Be 1
        (Get-MessageChannels -Name 'Other').Published | Should -Be 0
    }

    It 'asks for -Channel and -MessageType when a piped record has them only as properties' {
        { [pscustomobject]@{ Channel = 'Configuration'; MessageType = 'T' } | Publish-ModuleMessage -ErrorAction Stop } | Should -Throw
        (Get-MessageChannels -Name 'Configuration').Published | Should -Be 0
    }
}

Describe 'Default handlers run in the subscriber''s runspace' {
    BeforeEach {
        Reset-Bus
        New-MessageChannel -Name 'Configuration' | Out-Null
    }

    It 'run at checkpoints in every item of ForEach-Object -Parallel, also in a runspace reused for the next item' {
        # A reused runspace gets a new engine-event manager, without the one subscription that
        # makes checkpoints drain. Run in a job, so that a failure cannot stall the suite.
        $job = Start-Job -ScriptBlock {
            param($psd1)
            Import-Module $psd1
            New-MessageChannel -Name 'Reused' | Out-Null
            1..3 | ForEach-Object -ThrottleLimit 1 -Parallel {
                Import-Module $env:MC_MODULE_PSD1 # the job's environment: Start-Job would take $using: for itself
                $script:handled = 0
                $s = Subscribe-ModuleMessage -Channel 'Reused' -MessageType "T$_" -Handler { $script:handled++ }
                $null = Publish-ModuleMessage -Channel 'Reused' -MessageType "T$_"
                $deadline = [datetime]::UtcNow.AddSeconds(10)
                while ($script:handled -eq 0 -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 10 }
                "item ${_}: $($script:handled)"
                $s | Unsubscribe-ModuleMessage | Out-Null
            }
        } -ArgumentList $env:MC_MODULE_PSD1
        $out = $job | Wait-Job -Timeout 90 | Receive-Job
        $job | Remove-Job -Force
        $out | Should -Be @('item 1: 1', 'item 2: 1', 'item 3: 1')
    }

    It 'run in a reused ForEach-Object -Parallel runspace for an earlier item''s subscription, when the next item only publishes' {
        $job = Start-Job -ScriptBlock {
            param($psd1)
            Import-Module $psd1
            New-MessageChannel -Name 'Later' | Out-Null
            1..3 | ForEach-Object -ThrottleLimit 1 -Parallel {
                Import-Module $env:MC_MODULE_PSD1
                if ($_ -eq 1) { $null = Subscribe-ModuleMessage -Channel 'Later' -Handler { } }
                $id = Publish-ModuleMessage -Channel 'Later' -MessageType 'T'
                $deadline = [datetime]::UtcNow.AddSeconds(10)
                while ((Get-MessageSubscriptions -Channel 'Later').Delivered -lt $_ -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 10 }
                "item ${_}: $((Get-MessageSubscriptions -Channel 'Later').Delivered)"
            }
        } -ArgumentList $env:MC_MODULE_PSD1
        $out = $job | Wait-Job -Timeout 90 | Receive-Job
        $job | Remove-Job -Force
        $out | Should -Be @('item 1: 1', 'item 2: 2', 'item 3: 3')
    }

    It 'never hang ForEach-Object -Parallel when it resets a runspace for the next item (8 rounds of 24 items)' {
        # The reset ran a drain still pending in the old event manager on a pool thread, which
        # waited for the runspace being reset: about one round in four hung before the fix.
        $job = Start-Job -ScriptBlock {
            param($psd1)
            Import-Module $psd1
            New-MessageChannel -Name 'Many' | Out-Null
            foreach ($round in 1..8) {
                1..24 | ForEach-Object -ThrottleLimit 8 -Parallel {
                    Import-Module $env:MC_MODULE_PSD1
                    $null = Subscribe-ModuleMessage -Channel 'Many' -Handler { }
                    $null = Publish-ModuleMessage -Channel 'Many' -MessageType 'T'
                    [System.Threading.Thread]::Sleep((Get-Random -Maximum 60))
                }
            }
            'finished'
        } -ArgumentList $env:MC_MODULE_PSD1
        $finished = $job | Wait-Job -Timeout 120
        $out = if ($finished) { $job | Receive-Job } else { 'hung' }
        $job | Remove-Job -Force
        $out | Should -Be 'finished'
    }

    It 'stopped by Ctrl+C count their message as failed, and the rest of its batch (<Rest>) still runs, so waits end' -ForEach @(
        @{ Rest = 0 }
        @{ Rest = 2 }
    ) {
        $started = [System.Threading.ManualResetEventSlim]::new($false)
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                param($Psd1, $Started, $Rest)
                Import-Module $Psd1
                $null = Subscribe-ModuleMessage -Channel 'Configuration' -Handler {
                    param($m)
                    if ($m.MessageType -ne 'Stuck') { return }
                    $Started.Set() # this runspace's variable
                    while ($true) { Start-Sleep -Milliseconds 10 }
                }
                # One batch: the stuck message, then the rest.
                Stop-MessageProcessor | Out-Null
                $ids = @(Publish-ModuleMessage -Channel 'Configuration' -MessageType 'Stuck')
                for ($i = 0; $i -lt $Rest; $i++) { $ids += Publish-ModuleMessage -Channel 'Configuration' -MessageType 'Fine' }
                Start-MessageProcessor | Out-Null
                $ids | Wait-ModuleMessage -Timeout 60
            }).AddArgument($env:MC_MODULE_PSD1).AddArgument($started).AddArgument($Rest)
            $null = $ps.BeginInvoke()
            $started.Wait([timespan]::FromSeconds(10)) | Should -BeTrue
            Stop-LikeCtrlC $ps -TimeoutSeconds 20 | Should -BeTrue
            # Its runspace is idle now and runs no script: the stopped message must not stay in
            # flight, and the rest of the batch must still be handled there.
            Wait-ModuleMessage -Timeout 10 -ErrorAction Stop
            $info = Get-MessageSubscriptions -Channel 'Configuration'
            ($info.Failed, $info.InFlight, $info.Delivered, $info.Cleared) | Should -Be @(1, 0, $Rest, 0)
            $info.LastError | Should -BeLike 'the handler was stopped*'
        } finally {
            Start-MessageProcessor | Out-Null
            $ps.Dispose()
        }
    }

    It 'sets a $script: variable that a Start-Sleep polling loop then sees' {
        $script:seen = $null
        Subscribe-ModuleMessage -Channel 'Configuration' -MessageType 'ConfigChanged' -Handler {
            param($Message)
            $script:seen = "$($Message.Data.Module).$($Message.Data.Setting) = $($Message.Data.NewValue)"
        } | Out-Null
        Publish-ModuleMessage -Channel 'Configuration' -MessageType 'ConfigChanged' -Data @{ Module = 'LabRunner'; Setting = 'MaxJobs'; NewValue = 10 } | Out-Null
        for ($i = 0; $i -lt 50 -and $null -eq $script:seen; $i++) { Start-Sleep -Milliseconds 100 }
        $script:seen | Should -Be 'LabRunner.MaxJobs = 10'
    }

    It 'runs on the subscriber''s own thread' {
        $script:handlerThread = $null
        Subscribe-ModuleMessage -Channel 'Configuration' -Handler { $script:handlerThread = [Environment]::CurrentManagedThreadId } | Out-Null
        Publish-ModuleMessage -Channel 'Configuration' -MessageType 'T' | Wait-ModuleMessage -Timeout 10
        $script:handlerThread | Should -Be ([Environment]::CurrentManagedThreadId)
    }

    It 'reads well in a console: a handler''s $Message shows time, channel, type, priority and source at 80 columns' {
        $script:received = $null
        New-MessageChannel -Name 'Inventory.StockLevels' | Out-Null
        Subscribe-ModuleMessage -Channel 'Inventory.StockLevels' -Handler { param($Message) $script:received = $Message } | Out-Null
        Publish-ModuleMessage -Channel 'Inventory.StockLevels' -MessageType 'StockLevelChanged' -SourceModule 'WarehouseConnector' -Priority High |
            Wait-ModuleMessage -Timeout 10
        $lines = ($script:received | Out-String -Width 80).Trim() -split '\r?\n'
        $lines[0] | Should -Match '^Time\s+Channel\s+Type\s+Priority\s+Source$'
        # Header, rule, one line: nothing wraps.
        $lines | Should -HaveCount 3
        $lines[2] | Should -Match ('^' + $script:received.Timestamp.ToString('HH:mm:ss') + '\s+Inventory\.StockLevels\s+StockLevelChanged\s+High\s+WarehouseConnector$')
    }

    It 'runs the handler of an idle runspace without making the publisher wait for it' {
        # The handler holds until the test releases it: a publisher that waited for it would
        # find it done (timed out) when Publish-ModuleMessage returns.
        $gate = [System.Threading.ManualResetEventSlim]::new($false)
        $done = [System.Collections.Concurrent.ConcurrentQueue[string]]::new()
        $ps = [powershell]::Create()
        try {
            $ps.AddScript({
                param($Psd1, $Gate, $Done)
                Import-Module $Psd1
                $global:gate = $Gate
                $global:done = $Done
                Subscribe-ModuleMessage -Channel 'Configuration' -Handler {
                    $global:done.Enqueue($(if ($global:gate.Wait(10000)) { 'released' } else { 'timed out' }))
                } | Out-Null
            }).AddArgument($env:MC_MODULE_PSD1).AddArgument($gate).AddArgument($done).Invoke() | Out-Null
            Publish-ModuleMessage -Channel 'Configuration' -MessageType 'T' | Out-Null
            $done.Count | Should -Be 0
            $gate.Set()
            Wait-Until { $done.Count -eq 1 } -TimeoutSeconds 30 | Should -BeTrue
            $done.ToArray() | Should -Be @('released')
        } finally {
            $gate.Set()
            $ps.Runspace.Close()
            $ps.Dispose()
        }
    }

    It 'keeps delivering to other handlers when one throws, and counts the error on its subscription' {
        $script:good = 0
        $bad = Subscribe-ModuleMessage -Channel 'Configuration' -Handler { throw 'handler exploded' }
        $good = Subscribe-ModuleMessage -Channel 'Configuration' -Handler { $script:good++ }
        1..3 | ForEach-Object { Publish-ModuleMessage -Channel 'Configuration' -MessageType 'T' -Data $_ } | Wait-ModuleMessage -Timeout 10
        $script:good | Should -Be 3
        $badInfo = Get-MessageSubscriptions -SubscriptionId $bad.SubscriptionId
        $badInfo.Failed | Should -Be 3
        $badInfo.LastError | Should -BeLike '*handler exploded*'
        (Get-MessageSubscriptions -SubscriptionId $good.SubscriptionId).Failed | Should -Be 0
        (Get-MessageChannels -Name 'Configuration').Failed | Should -Be 3
    }

    It 'keeps a secret the handler''s error quoted out of the subscription''s LastError' {
        $sub = Subscribe-ModuleMessage -Channel 'Configuration' -Handler { param($m) throw "login failed: password=$($m.Data)" }
        Publish-ModuleMessage -Channel 'Configuration' -MessageType 'T' -Data 'hunter2' | Wait-ModuleMessage -Timeout 10
        (Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId).LastError | Should -Be 'login failed: password=***'
    }

    It 'delivers all of 10,000 messages published in a loop' {
        $script:count = 0
        $sub = Subscribe-ModuleMessage -Channel 'Configuration' -Handler { $script:count++ }
        for ($i = 0; $i -lt 10000; $i++) {
            $null = Publish-ModuleMessage -Channel 'Configuration' -MessageType 'Tick' -Data $i
        }
        Wait-ModuleMessage -Timeout 60
        $script:count | Should -Be 10000
        $info = Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId
        $info.Delivered | Should -Be 10000
        $info.Dropped | Should -Be 0
    }

    It 'lets a handler publish and subscribe without deadlock' {
        New-MessageChannel -Name 'Replies' | Out-Null
        $script:reply = $null
        $script:innerSubscription = $null
        Subscribe-ModuleMessage -Channel 'Configuration' -MessageType 'Request' -Handler {
            param($Message)
            $script:innerSubscription = Subscribe-ModuleMessage -Channel 'Replies' -Handler { param($m) $script:reply = $m.Data }
            Publish-ModuleMessage -Channel 'Replies' -MessageType 'Reply' -Data "re: $($Message.Data)" -CorrelationId $Message.Id.ToString() | Out-Null
        } | Out-Null
        Publish-ModuleMessage -Channel 'Configuration' -MessageType 'Request' -Data 'ping' | Out-Null
        Wait-Until { $null -ne $script:reply } | Should -BeTrue
        $script:reply | Should -Be 're: ping'
        $script:innerSubscription.SubscriptionId | Should -BeOfType ([guid])
    }

    It 'counts what a <Mode> handler handled before it ended its own subscription, its last message included' -ForEach @(
        @{ Mode = 'default'; Async = @{} }
        @{ Mode = '-RunAsync'; Async = @{ RunAsync = $true } }
    ) {
        # Both modes take one message first, then up to four: the third comes in a batch of four.
        $seen = [System.Collections.Concurrent.ConcurrentQueue[object]]::new()
        $self = [System.Collections.Concurrent.ConcurrentDictionary[string, guid]]::new()
        $script:seen = $seen; $script:self = $self
        if ($Async.Count) { $Async.ArgumentList = $seen, $self }
        $sub = Subscribe-ModuleMessage -Channel 'Configuration' @Async -Handler {
            param($m, $seen = $script:seen, $self = $script:self)
            $seen.Enqueue($m.Data)
            if ($seen.Count -eq 3) { Unsubscribe-ModuleMessage -SubscriptionId $self['id'] | Out-Null }
        }
        $self['id'] = $sub.SubscriptionId
        Stop-MessageProcessor | Out-Null
        $ids = 1..8 | Publish-ModuleMessage -Channel 'Configuration' -MessageType 'T'
        Start-MessageProcessor | Out-Null
        $ids | Wait-ModuleMessage -Timeout 10 | Out-Null
        $seen.ToArray() | Should -Be @(1, 2, 3)
        (Get-MessageChannels -Name 'Configuration').Delivered | Should -Be 3
    }

    It 'counts what a handler handled when another runspace ends its subscription mid-batch' {
        $seen = [System.Collections.Concurrent.ConcurrentQueue[object]]::new()
        $reached = [System.Threading.ManualResetEventSlim]::new($false)
        $gate = [System.Threading.ManualResetEventSlim]::new($false)
        $stop = [System.Threading.ManualResetEventSlim]::new($false)
        $ps = [powershell]::Create()
        try {
            $subscribed = $ps.AddScript({
                param($Psd1, $Seen, $Reached, $Gate)
                Import-Module $Psd1
                $global:seen = $Seen; $global:reached = $Reached; $global:gate = $Gate
                (Subscribe-ModuleMessage -Channel 'Configuration' -Handler {
                    param($m)
                    $global:seen.Enqueue($m.Data)
                    if ($m.Data -eq 3) { $global:reached.Set(); $null = $global:gate.Wait(10000) }
                }).SubscriptionId
            }).AddArgument($env:MC_MODULE_PSD1).AddArgument($seen).AddArgument($reached).AddArgument($gate).Invoke()
            # That runspace now runs its handlers at the checkpoints of a loop.
            $ps.Commands.Clear()
            $loop = $ps.AddScript({ param($Stop) while (-not $Stop.IsSet) { Start-Sleep -Milliseconds 5 } }).AddArgument($stop).BeginInvoke()
            $ids = 1..10 | Publish-ModuleMessage -Channel 'Configuration' -MessageType 'T'
            $reached.Wait(10000) | Should -BeTrue
            Unsubscribe-ModuleMessage -SubscriptionId $subscribed[0] | Out-Null
            $gate.Set()
            $stop.Set()
            $ps.EndInvoke($loop) | Out-Null
            $seen.ToArray() | Should -Be @(1, 2, 3)
            (Get-MessageChannels -Name 'Configuration').Delivered | Should -Be 3
        } finally {
            $gate.Set()
            $stop.Set()
            $ps.Runspace.Close()
            $ps.Dispose()
        }
    }

    It 'still runs a handler after one of its calls was stopped, as Ctrl+C stops it' {
        $started = [System.Threading.ManualResetEventSlim]::new($false)
        $ps = [powershell]::Create()
        try {
            $running = $ps.AddScript({
                param($Psd1, $Started)
                Import-Module $Psd1
                New-MessageChannel -Name 'Stopped' | Out-Null
                $global:seen = [System.Collections.Generic.List[object]]::new()
                $global:started = $Started
                Subscribe-ModuleMessage -Channel 'Stopped' -Handler {
                    param($m)
                    $global:seen.Add($m.Data)
                    if ($m.Data -eq 1) { $global:started.Set(); while ($true) { Start-Sleep -Milliseconds 10 } }
                } | Out-Null
                Publish-ModuleMessage -Channel 'Stopped' -MessageType 'T' -Data 1 | Wait-ModuleMessage -Timeout 30
            }).AddArgument($env:MC_MODULE_PSD1).AddArgument($started).BeginInvoke()
            $started.Wait(10000) | Should -BeTrue
            $ps.Stop()
            $running.IsCompleted | Should -BeTrue
            $ps.Commands.Clear()
            $seen = $ps.AddScript({
                Publish-ModuleMessage -Channel 'Stopped' -MessageType 'T' -Data 2 | Wait-ModuleMessage -Timeout 5 | Out-Null
                $global:seen
            }).Invoke()
            @($seen) | Should -Be @(1, 2)
        } finally {
            $ps.Runspace.Close()
            $ps.Dispose()
        }
        Remove-MessageChannel -Name 'Stopped' -Force | Out-Null
    }

    It 'calls the handler only for messages its filter accepts, and counts the others as filtered' {
        $script:modules = [System.Collections.Generic.List[string]]::new()
        $sub = Subscribe-ModuleMessage -Channel 'Configuration' -Handler {
            param($Message)
            $script:modules.Add($Message.Data.Module)
        } -Filter {
            param($Message)
            $Message.Data.Module -eq 'LabRunner'
        }
        'LabRunner', 'BackupTool', 'LabRunner' | ForEach-Object {
            Publish-ModuleMessage -Channel 'Configuration' -MessageType 'ConfigChanged' -Data @{ Module = $_ }
        } | Wait-ModuleMessage -Timeout 10
        $script:modules | Should -Be @('LabRunner', 'LabRunner')
        (Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId).Filtered | Should -Be 1
    }

    It 'selects by message type with -like wildcards, case-insensitively' {
        $script:types = [System.Collections.Generic.List[string]]::new()
        Subscribe-ModuleMessage -Channel 'CONFIG*' -MessageType 'config*' -Handler { param($m) $script:types.Add($m.MessageType) } | Out-Null
        'ConfigChanged', 'Other', 'ConfigRemoved' | ForEach-Object {
            Publish-ModuleMessage -Channel 'configuration' -MessageType $_
        } | Wait-ModuleMessage -Timeout 10
        $script:types | Should -Be @('ConfigChanged', 'ConfigRemoved')
    }

    It 'selects by source module' {
        $script:sources = [System.Collections.Generic.List[string]]::new()
        Subscribe-ModuleMessage -Channel 'Configuration' -SourceModule 'Lab*' -Handler { param($m) $script:sources.Add($m.SourceModule) } | Out-Null
        'LabRunner', 'BackupTool' | ForEach-Object {
            Publish-ModuleMessage -Channel 'Configuration' -MessageType 'T' -SourceModule $_
        } | Wait-ModuleMessage -Timeout 10
        $script:sources | Should -Be @('LabRunner')
    }

    It 'gives a blank channel name its error alone, without the warning for a channel not created yet' {
        $err = $null
        try { Subscribe-ModuleMessage -Channel '  ' -Handler { } -WarningVariable warnings -WarningAction SilentlyContinue } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'InvalidArgument,*'
        $warnings | Should -BeNullOrEmpty
    }

    It 'names a refused <What> in words and makes the refused value the error''s target' -ForEach @(
        @{ What = 'message type'; Call = { Subscribe-ModuleMessage -Channel 'Configuration' -MessageType 'x[' -Handler { } } }
        @{ What = 'source module'; Call = { Subscribe-ModuleMessage -Channel 'Configuration' -SourceModule 'x[' -Handler { } } }
    ) {
        $err = $null
        try { & $Call } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'InvalidArgument,*'
        $err.Exception.Message | Should -BeLike ([WildcardPattern]::Escape("invalid $What 'x[':") + '*')
        $err.TargetObject | Should -Be 'x['
    }

    It 'warns when subscribing to a channel that does not exist yet, then delivers once it does' {
        $script:late = $null
        Subscribe-ModuleMessage -Channel 'Later' -Handler { param($m) $script:late = $m.Data } -WarningVariable warnings -WarningAction SilentlyContinue | Out-Null
        $warnings | Should -BeLike '*New-MessageChannel*'
        New-MessageChannel -Name 'Later' | Out-Null
        Publish-ModuleMessage -Channel 'Later' -MessageType 'T' -Data 'arrived' | Wait-ModuleMessage -Timeout 10
        $script:late | Should -Be 'arrived'
    }
}

Describe '-RunAsync handlers' {
    BeforeEach {
        Reset-Bus
        New-MessageChannel -Name 'Work' | Out-Null
    }

    It 'let pwsh exit while one waits in a .NET call (pwsh closes every runspace, the pool''s too)' {
        $child = Invoke-ChildPwsh -TimeoutSeconds 60 -Script @'
Import-Module $env:MC_MODULE_PSD1
New-MessageChannel -Name 'Slow' | Out-Null
$null = Subscribe-ModuleMessage -Channel 'Slow' -RunAsync -Handler { param($m) [System.Threading.Thread]::Sleep(600000) }
$null = Publish-ModuleMessage -Channel 'Slow' -MessageType 'T'
$deadline = [datetime]::UtcNow.AddSeconds(30)
while ((Get-MessageSubscriptions -Channel 'Slow').InFlight -eq 0 -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
'handler started'
exit 3
'@
        $child.Output | Should -BeLike '*handler started*'
        $child.Exited | Should -BeTrue -Because 'a handler blocked in Thread.Sleep must not keep pwsh from exiting'
        $child.ExitCode | Should -Be 3
    }

    It 'let pwsh exit while their batches keep asking the pool for runspaces' {
        # pwsh disposes the runspaces open when it starts exiting, in the order they were
        # created: the pool's, then $owner, whose subscriptions go on taking batches until then.
        # A batch got a runspace the pool created after pwsh's list was taken, which nothing
        # closed and whose thread kept the process alive for ever.
        $child = Invoke-ChildPwsh -TimeoutSeconds 60 -Script @'
Import-Module $env:MC_MODULE_PSD1
New-MessageChannel -Name 'Warm' | Out-Null
New-MessageChannel -Name 'Hot' | Out-Null
$warm = 1..4 | ForEach-Object { Subscribe-ModuleMessage -Channel 'Warm' -RunAsync -Handler { Start-Sleep -Milliseconds 1500 } }
1..8 | ForEach-Object { Publish-ModuleMessage -Channel 'Warm' -MessageType T -Data $_ } | Out-Null
Start-Sleep -Seconds 3
$warm | Unsubscribe-ModuleMessage | Out-Null
$owner = [powershell]::Create()
$null = $owner.AddScript({
    param($Psd1)
    Import-Module $Psd1
    1..4 | ForEach-Object { $null = Subscribe-ModuleMessage -Channel 'Hot' -RunAsync -Handler { Publish-ModuleMessage -Channel 'Hot' -MessageType T | Out-Null } }
    1..40 | ForEach-Object { Publish-ModuleMessage -Channel 'Hot' -MessageType T } | Out-Null
}).AddArgument($env:MC_MODULE_PSD1).Invoke()
Start-Sleep -Seconds 2
if ((Get-MessageSubscriptions -Channel 'Hot' | Measure-Object -Sum Delivered).Sum -gt 0) { 'handlers running' }
exit 3
'@
        $child.Output | Should -BeLike '*handlers running*'
        $child.Exited | Should -BeTrue -Because 'batches waiting for a pool runspace must not keep pwsh from exiting'
        $child.ExitCode | Should -Be 3
        $child.Output | Should -Not -BeLike '*Unhandled exception*'
    }

    It 'end, like default handlers, when the runspace that subscribed closes' {
        $ps = [powershell]::Create()
        try {
            $ids = $ps.AddScript({
                param($Psd1)
                Import-Module $Psd1
                (Subscribe-ModuleMessage -Channel 'Work' -Handler { }).SubscriptionId
                (Subscribe-ModuleMessage -Channel 'Work' -RunAsync -Handler { }).SubscriptionId
                (Subscribe-ModuleEvent -EventName 'Job*' -RunAsync -Handler { }).SubscriptionId
            }).AddArgument($env:MC_MODULE_PSD1).Invoke()
            $ids | Should -HaveCount 3
            @(Get-MessageSubscriptions | Where-Object SubscriptionId -in $ids) | Should -HaveCount 3
        } finally {
            $ps.Runspace.Close()
            $ps.Dispose()
        }
        Wait-Until { @(Get-MessageSubscriptions | Where-Object SubscriptionId -in $ids).Count -eq 0 } -TimeoutSeconds 10 |
            Should -BeTrue
    }

    It 'that never return are stopped when the runspace that subscribed closes, so closing it does not hang' {
        $started = [System.Threading.ManualResetEventSlim]::new($false)
        $stopped = [System.Threading.ManualResetEventSlim]::new($false)
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                param($Psd1, $started, $stopped)
                Import-Module $Psd1
                Subscribe-ModuleMessage -Channel 'Work' -RunAsync -ArgumentList $started, $stopped -Handler {
                    param($m, $started, $stopped)
                    try { $started.Set(); while ($true) { } } finally { $stopped.Set() }
                } | Out-Null
                Publish-ModuleMessage -Channel 'Work' -MessageType 'Stuck' | Out-Null
            }).AddArgument($env:MC_MODULE_PSD1).AddArgument($started).AddArgument($stopped).Invoke()
            $started.Wait([timespan]::FromSeconds(10)) | Should -BeTrue
            $ps.Runspace.CloseAsync()
            Wait-Until { $ps.Runspace.RunspaceStateInfo.State -eq 'Closed' } -TimeoutSeconds 20 |
                Should -BeTrue -Because 'closing must not wait for a handler that never returns'
            $stopped.Wait([timespan]::FromSeconds(10)) | Should -BeTrue -Because 'the handler is stopped'
        } finally {
            $ps.Dispose()
        }
    }

    It 'that never return are stopped by Ctrl+C on Unsubscribe-ModuleMessage, which then returns' {
        $started = [System.Threading.ManualResetEventSlim]::new($false)
        $stopped = [System.Threading.ManualResetEventSlim]::new($false)
        $sub = Subscribe-ModuleMessage -Channel 'Work' -RunAsync -ArgumentList $started, $stopped -Handler {
            param($m, $started, $stopped)
            try { $started.Set(); while ($true) { } } finally { $stopped.Set() }
        }
        Publish-ModuleMessage -Channel 'Work' -MessageType 'Stuck' | Out-Null
        $started.Wait([timespan]::FromSeconds(10)) | Should -BeTrue
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                param($Psd1, $Id)
                Import-Module $Psd1
                Unsubscribe-ModuleMessage -SubscriptionId $Id
            }).AddArgument($env:MC_MODULE_PSD1).AddArgument($sub.SubscriptionId)
            $running = $ps.BeginInvoke()
            # Unsubscribing has begun once the subscription is no longer listed as a -RunAsync one.
            Wait-Until { (Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId -ErrorAction Ignore).Mode -ne 'RunAsync' } -TimeoutSeconds 10 |
                Should -BeTrue
            Stop-LikeCtrlC $ps -TimeoutSeconds 20 |
                Should -BeTrue -Because 'Ctrl+C must end the wait'
            $stopped.Wait([timespan]::FromSeconds(10)) | Should -BeTrue -Because 'the handler is stopped'
        } finally {
            $ps.Dispose()
        }
    }

    It 'run while the subscriber''s thread is blocked in [Threading.Thread]::Sleep' {
        $log = [System.Collections.Concurrent.ConcurrentQueue[datetime]]::new()
        Subscribe-ModuleMessage -Channel 'Work' -RunAsync -ArgumentList (, $log) -Handler {
            param($Message, $log)
            $log.Enqueue([datetime]::UtcNow)
        } | Out-Null
        Publish-ModuleMessage -Channel 'Work' -MessageType 'Job' | Out-Null
        $blockedUntil = [datetime]::UtcNow.AddMilliseconds(2000)
        [Threading.Thread]::Sleep(2000)
        $log.Count | Should -Be 1
        $handledAt = [datetime]::MinValue
        $log.TryPeek([ref] $handledAt) | Should -BeTrue
        $handledAt | Should -BeLessThan $blockedUntil
    }

    It 'run on another thread, in order, and count failures' {
        $seen = [System.Collections.Concurrent.ConcurrentQueue[object]]::new()
        $sub = Subscribe-ModuleMessage -Channel 'Work' -RunAsync -ArgumentList (, $seen) -Handler {
            param($Message, $seen)
            if ($Message.Data -eq 3) { throw 'three is bad' }
            $seen.Enqueue(@($Message.Data, [Environment]::CurrentManagedThreadId))
        }
        1..5 | ForEach-Object { Publish-ModuleMessage -Channel 'Work' -MessageType 'Job' -Data $_ } | Wait-ModuleMessage -Timeout 30
        $items = $seen.ToArray()
        ($items | ForEach-Object { $_[0] }) | Should -Be @(1, 2, 4, 5)
        $items | ForEach-Object { $_[1] | Should -Not -Be ([Environment]::CurrentManagedThreadId) }
        $info = Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId
        $info.Mode | Should -Be 'RunAsync'
        $info.Failed | Should -Be 1
        $info.LastError | Should -BeLike '*three is bad*'
    }

    It 'run the filter in the pool too, with the -ArgumentList after the message, and count what it skips' {
        $seen = [System.Collections.Concurrent.ConcurrentQueue[object]]::new()
        $sub = Subscribe-ModuleMessage -Channel 'Work' -RunAsync -ArgumentList $seen, 3 -Filter {
            param($Message, $seen, $min)
            $Message.Data -ge $min
        } -Handler {
            param($Message, $seen)
            $seen.Enqueue($Message.Data)
        }
        1..5 | Publish-ModuleMessage -Channel 'Work' -MessageType 'Job' | Wait-ModuleMessage -Timeout 30
        $seen.ToArray() | Should -Be @(3, 4, 5)
        $info = Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId
        ($info.Delivered, $info.Filtered, $info.Failed) | Should -Be @(3, 2, 0)
    }

    It 'may unsubscribe each other at the same time' {
        $both = [System.Threading.Barrier]::new(2)
        $ids = [System.Collections.Concurrent.ConcurrentDictionary[int, guid]]::new()
        $done = [System.Collections.Concurrent.ConcurrentQueue[string]]::new()
        $handler = {
            param($Message, $me, $both, $ids, $done)
            # Both handlers are running now: waiting for each other's batch would never end.
            $null = $both.SignalAndWait(10000)
            Unregister-ModuleMessageHandler -SubscriptionId $ids[1 - $me] | Out-Null
            $done.Enqueue("$me")
        }
        foreach ($me in 0, 1) {
            $s = Subscribe-ModuleMessage -Channel 'Work' -RunAsync -Handler $handler -ArgumentList $me, $both, $ids, $done
            $ids[$me] = $s.SubscriptionId
        }
        Publish-ModuleMessage -Channel 'Work' -MessageType 'Job' | Out-Null
        Wait-Until { $done.Count -eq 2 } -TimeoutSeconds 15 | Should -BeTrue
        Get-MessageSubscriptions | Should -BeNullOrEmpty
        # Each handler ran for its copy, so each copy is a delivery, also the one whose removal
        # could not wait for its batch (it was waiting for the other's).
        $work = Get-MessageChannels -Name 'Work'
        Wait-Until { $work = Get-MessageChannels -Name 'Work'; $work.Delivered + $work.Cleared -eq 2 } -TimeoutSeconds 15 | Should -BeTrue
        $work = Get-MessageChannels -Name 'Work'
        $work.Delivered | Should -Be 2
        $work.Cleared | Should -Be 0
    }

    It 'count a handler still blocked in a .NET call when the subscribing runspace closes as a delivery' {
        $started = [System.Threading.ManualResetEventSlim]::new($false)
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                param($Psd1, $started)
                Import-Module $Psd1
                Subscribe-ModuleMessage -Channel 'Work' -RunAsync -ArgumentList $started -Handler {
                    param($m, $started)
                    $started.Set()
                    [System.Threading.Thread]::Sleep(5000) # longer than the close waits (2 s)
                } | Out-Null
                1..3 | Publish-ModuleMessage -Channel 'Work' -MessageType 'Job' | Out-Null
            }).AddArgument($env:MC_MODULE_PSD1).AddArgument($started).Invoke()
            $started.Wait([timespan]::FromSeconds(10)) | Should -BeTrue
            $ps.Runspace.CloseAsync()
            Wait-Until { $ps.Runspace.RunspaceStateInfo.State -eq 'Closed' } -TimeoutSeconds 20 | Should -BeTrue
            $work = Get-MessageChannels -Name 'Work'
            $work.Delivered | Should -Be 1 -Because 'the handler was called for the first message'
            $work.Cleared | Should -Be 2
        } finally {
            $ps.Dispose()
        }
    }

    It 'waits, when one ends another''s subscription, for that one''s running handler' {
        $bRunning = [System.Threading.ManualResetEventSlim]::new($false)
        $state = [System.Collections.Concurrent.ConcurrentDictionary[string, object]]::new()
        $b = Subscribe-ModuleMessage -Channel 'Work' -MessageType 'B' -RunAsync -ArgumentList $bRunning, $state -Handler {
            param($Message, $bRunning, $state)
            $bRunning.Set()
            [Threading.Thread]::Sleep(300)
            $state['BFinished'] = $true
        }
        Subscribe-ModuleMessage -Channel 'Work' -MessageType 'A' -RunAsync -ArgumentList $bRunning, $state, $b.SubscriptionId -Handler {
            param($Message, $bRunning, $state, $bId)
            $null = $bRunning.Wait(10000)
            Unregister-ModuleMessageHandler -SubscriptionId $bId | Out-Null
            $state['BFinishedWhenUnregistered'] = [bool]$state['BFinished']
        } | Out-Null
        Publish-ModuleMessage -Channel 'Work' -MessageType 'B' | Out-Null
        Publish-ModuleMessage -Channel 'Work' -MessageType 'A' | Out-Null
        Wait-Until { $state.ContainsKey('BFinishedWhenUnregistered') } -TimeoutSeconds 15 | Should -BeTrue
        $state['BFinishedWhenUnregistered'] | Should -BeTrue
    }

    It 'counts what a running batch handled when its subscription is removed meanwhile' {
        $seen = [System.Collections.Concurrent.ConcurrentQueue[object]]::new()
        Stop-MessageProcessor | Out-Null
        $sub = Subscribe-ModuleMessage -Channel 'Work' -RunAsync -ArgumentList (, $seen) -Handler {
            param($Message, $seen)
            $seen.Enqueue($Message.Data)
            [Threading.Thread]::Sleep(100)
        }
        1..10 | Publish-ModuleMessage -Channel 'Work' -MessageType 'Job' | Out-Null
        Start-MessageProcessor | Out-Null
        Wait-Until { $seen.Count -ge 3 } -TimeoutSeconds 15 | Should -BeTrue
        $sub | Unsubscribe-ModuleMessage | Out-Null
        $handled = $seen.Count
        $handled | Should -BeGreaterOrEqual 3
        (Get-MessageChannels -Name 'Work').Delivered | Should -Be $handled
    }

    It 'fails only the message whose handler used <Statement>, and says so' -ForEach @(
        @{ Statement = 'break' }, @{ Statement = 'continue' }, @{ Statement = 'exit' }
    ) {
        $seen = [System.Collections.Concurrent.ConcurrentQueue[object]]::new()
        Stop-MessageProcessor | Out-Null
        # The first batch of a subscription is one message: the statement comes in the second.
        $sub = Subscribe-ModuleMessage -Channel 'Work' -RunAsync -ArgumentList (, $seen) -Handler ([scriptblock]::Create(@"
            param(`$Message, `$seen)
            `$seen.Enqueue(`$Message.Data)
            if (`$Message.Data -eq 2) { $Statement }
"@))
        1..5 | Publish-ModuleMessage -Channel 'Work' -MessageType 'Job' | Out-Null
        Start-MessageProcessor | Out-Null
        Wait-ModuleMessage -Timeout 30
        $seen.ToArray() | Should -Be @(1, 2, 3, 4, 5)
        $info = Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId
        ($info.Delivered, $info.Failed) | Should -Be @(4, 1)
        $info.LastError | Should -BeLike '*break, continue or exit*use return*'
    }

    It 'says what a default handler''s break did' {
        $sub = Subscribe-ModuleMessage -Channel 'Work' -Handler { break }
        Publish-ModuleMessage -Channel 'Work' -MessageType 'Job' | Wait-ModuleMessage -Timeout 10
        (Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId).LastError | Should -BeLike '*break, continue or exit*'
    }

    It 'refuses -ArgumentList without -RunAsync' {
        { Subscribe-ModuleMessage -Channel 'Work' -Handler { } -ArgumentList 1 } |
            Should -Throw -ErrorId 'ArgumentListNeedsRunAsync,ModuleCommunication.Commands.RegisterModuleMessageHandlerCommand'
    }

    It 'warns of a -BlockTimeout that no Block policy uses, and not when Block is chosen' {
        Subscribe-ModuleMessage -Channel 'Work' -Handler { } -BlockTimeout 5 -WarningVariable warnings -WarningAction SilentlyContinue | Out-Null
        $warnings | Should -BeLike '*-BlockTimeout has no effect*-OverflowPolicy Block*'
        Subscribe-ModuleMessage -Channel 'Work' -Handler { } -BlockTimeout 5 -OverflowPolicy Block -WarningVariable warnings -WarningAction SilentlyContinue | Out-Null
        $warnings | Should -BeNullOrEmpty
    }

    It 'takes -ArgumentList $null as no values, with or without -RunAsync' {
        $default = Subscribe-ModuleMessage -Channel 'Work' -Handler { } -ArgumentList $null
        $async = Subscribe-ModuleMessage -Channel 'Work' -Handler { } -ArgumentList $null -RunAsync
        Get-MessageSubscriptions -SubscriptionId $default.SubscriptionId | Should -Not -BeNullOrEmpty
        Get-MessageSubscriptions -SubscriptionId $async.SubscriptionId | Should -Not -BeNullOrEmpty
    }

    It 'reports an id no subscription has as SubscriptionNotFound, instead of listing nothing' {
        $sub = Subscribe-ModuleMessage -Channel 'Work' -Handler { }
        $sub | Unsubscribe-ModuleMessage | Out-Null
        { Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId -ErrorAction Stop } |
            Should -Throw -ErrorId 'SubscriptionNotFound,ModuleCommunication.Commands.GetMessageSubscriptionsCommand'
    }
}

Describe 'Data arrives as it was published' {
    BeforeAll {
        Reset-Bus
        New-MessageChannel -Name 'Data' | Out-Null
        $script:received = $null
        Subscribe-ModuleMessage -Channel 'Data' -Handler { param($m) $script:received = $m.Data } | Out-Null
        $script:when = [datetime]::new(2026, 11, 27, 6, 30, 15, 123, [DateTimeKind]::Utc)
        $script:sent = @{
            Nested  = @{ Level2 = @{ Level3 = 'deep' } }
            Int     = 42
            Long    = 5000000000
            Double  = 2.5
            Whole   = 3.0
            Bool    = $true
            Array   = @(1, 'two', 3.5, @(4, 5))
            Text    = 'Grüße, 日本語 ✓'
            When    = $script:when
            Nothing = $null
        }
        Publish-ModuleMessage -Channel 'Data' -MessageType 'Fidelity' -Data $script:sent | Wait-ModuleMessage -Timeout 10
    }
    AfterAll { Reset-Bus }

    It 'keeps nested hashtables as hashtables' {
        $script:received | Should -BeOfType ([hashtable])
        $script:received.Nested.Level2 | Should -BeOfType ([hashtable])
        $script:received.Nested.Level2.Level3 | Should -Be 'deep'
    }
    It 'keeps integers, longs and doubles apart' {
        $script:received.Int | Should -BeOfType ([int])
        $script:received.Int | Should -Be 42
        $script:received.Long | Should -BeOfType ([long])
        $script:received.Double | Should -BeOfType ([double])
        $script:received.Whole | Should -BeOfType ([double])
        $script:received.Whole | Should -Be 3.0
    }
    It 'keeps booleans and nulls' {
        $script:received.Bool | Should -BeTrue
        $script:received.Bool | Should -BeOfType ([bool])
        $script:received.ContainsKey('Nothing') | Should -BeTrue
        $script:received.Nothing | Should -BeNullOrEmpty
    }
    It 'keeps arrays, including nested ones' {
        $script:received.Array.Count | Should -Be 4
        $script:received.Array[1] | Should -Be 'two'
        $script:received.Array[3] | Should -Be @(4, 5)
    }
    It 'keeps non-ASCII text' {
        $script:received.Text | Should -BeExactly 'Grüße, 日本語 ✓'
    }
    It 'keeps DateTime as DateTime, to the millisecond and kind' {
        $script:received.When | Should -BeOfType ([datetime])
        $script:received.When | Should -Be $script:when
        $script:received.When.Kind | Should -Be 'Utc'
    }
    It 'decodes Data once per message: every read gives the same object, so changes to it stay' {
        $script:kept = $null
        $sub = Subscribe-ModuleMessage -Channel 'Data' -MessageType 'Once' -Handler { param($m) $script:kept = $m }
        try {
            Publish-ModuleMessage -Channel 'Data' -MessageType 'Once' -Data @{ Count = 1 } | Wait-ModuleMessage -Timeout 10
            $script:kept.Data.Count = 2
            $script:kept.Data.Count | Should -Be 2
            [object]::ReferenceEquals($script:kept.Data, $script:kept.Data) | Should -BeTrue
        } finally {
            $sub | Unsubscribe-ModuleMessage | Out-Null
        }
    }
}

Describe 'Data nested the full 64 levels the publisher accepts' {
    BeforeAll {
        # 64 levels of hashtables: $d.Child.Child ... .Leaf (the publisher refuses a 65th).
        function New-Deep {
            $root = @{}; $node = $root
            for ($i = 1; $i -lt 64; $i++) { $next = @{}; $node.Child = $next; $node = $next }
            $node.Leaf = 'bottom'
            $root
        }
        function Get-Leaf($Data) {
            $node = $Data
            for ($i = 1; $i -lt 64; $i++) { $node = $node.Child }
            $node.Leaf
        }
    }
    BeforeEach {
        Reset-Bus
        New-MessageChannel -Name 'Deep' | Out-Null
    }

    It 'reaches a default handler, and the messages around it are delivered too' {
        $script:leaves = [System.Collections.Generic.List[object]]::new()
        Subscribe-ModuleMessage -Channel 'Deep' -Handler { param($m) $script:leaves.Add($(if ($m.MessageType -eq 'Deep') { Get-Leaf $m.Data } else { $m.MessageType })) } | Out-Null
        'Before', 'Deep', 'After' | ForEach-Object {
            Publish-ModuleMessage -Channel 'Deep' -MessageType $_ -Data $(if ($_ -eq 'Deep') { New-Deep })
        } | Wait-ModuleMessage -Timeout 10
        $script:leaves | Should -Be 'Before', 'bottom', 'After'
    }

    It 'reaches a -RunAsync handler without harming the process' {
        $seen = [System.Collections.Concurrent.ConcurrentQueue[object]]::new()
        Subscribe-ModuleMessage -Channel 'Deep' -RunAsync -ArgumentList (, $seen) -Handler {
            param($m, $seen)
            $node = $m.Data
            for ($i = 1; $i -lt 64; $i++) { $node = $node.Child }
            $seen.Enqueue($node.Leaf)
        } | Out-Null
        Publish-ModuleMessage -Channel 'Deep' -MessageType 'Deep' -Data (New-Deep) | Wait-ModuleMessage -Timeout 30
        $seen.ToArray() | Should -Be 'bottom'
    }

    It 'is kept in the event history, which stays readable and clearable' {
        Publish-ModuleEvent -EventName 'Deep.Event' -EventData (New-Deep) | Out-Null
        Get-Leaf (Get-ModuleEvents -EventName 'Deep.Event').Data | Should -Be 'bottom'
        Clear-EventHistory -EventName 'Deep.Event' -Force
        Get-ModuleEvents -EventName 'Deep.Event' | Should -BeNullOrEmpty
    }
}
