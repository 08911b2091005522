BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
}

Describe 'New-MessageChannel' {
    BeforeEach { Reset-Bus }

    It 'creates a channel and returns it with its settings' {
        $c = New-MessageChannel -Name 'Configuration' -Description 'Configuration updates' -MaxMessages 1000
        $c | Should -BeOfType ([ModuleCommunication.ChannelInfo])
        $c.Name | Should -Be 'Configuration'
        $c.Description | Should -Be 'Configuration updates'
        $c.MaxMessages | Should -Be 1000
    }

    It 'refuses a second channel of the same name, whatever its case, and keeps the first' {
        New-MessageChannel -Name 'Configuration' -Description 'first' | Out-Null
        { New-MessageChannel -Name 'CONFIGURATION' -Description 'second' -ErrorAction Stop } |
            Should -Throw -ErrorId 'ChannelExists,ModuleCommunication.Commands.NewMessageChannelCommand'
        (Get-MessageChannels -Name 'configuration').Description | Should -Be 'first'
    }

    It 'rejects a name with wildcard characters, naming it' {
        { New-MessageChannel -Name 'Bad*Name' -ErrorAction Stop } | Should -Throw '*Bad`*Name*'
        Get-MessageChannels | Should -BeNullOrEmpty
    }

    It 'creates nothing with -WhatIf' {
        New-MessageChannel -Name 'Ghost' -WhatIf
        Get-MessageChannels | Should -BeNullOrEmpty
    }
}

Describe 'Get-MessageChannels' {
    BeforeAll {
        Reset-Bus
        'Config.A', 'Config.B', 'Lab' | ForEach-Object { New-MessageChannel -Name $_ | Out-Null }
    }
    AfterAll { Reset-Bus }

    It 'lists every channel sorted by name' {
        (Get-MessageChannels).Name | Should -Be @('Config.A', 'Config.B', 'Lab')
    }

    It 'filters with -like wildcards, case-insensitively' {
        (Get-MessageChannels -Name 'config*').Name | Should -Be @('Config.A', 'Config.B')
        (Get-MessageChannels -Name 'CONFIG.[a]').Name | Should -Be 'Config.A'
    }

    It 'reads as its name in text' {
        "$(Get-MessageChannels)" | Should -Be 'Config.A Config.B Lab'
        "$(Get-MessageChannels -Name Lab)" | Should -Be 'Lab'
    }

    It 'reports a missing literal name as ChannelNotFound' {
        { Get-MessageChannels -Name 'Nope' -ErrorAction Stop } |
            Should -Throw -ErrorId 'ChannelNotFound,ModuleCommunication.Commands.GetMessageChannelsCommand'
    }

    It 'offers channel names for tab completion' {
        $line = 'Publish-ModuleMessage -Channel Conf'
        $completion = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $completion.CompletionMatches.CompletionText | Should -Be @('Config.A', 'Config.B')
    }

    It 'completes a name that is not a plain word so that the completed command runs: <Name>' -ForEach @(
        @{ Name = 'a,b' }, @{ Name = 'x&y' }, @{ Name = '#hash' }, @{ Name = '@at' }, @{ Name = '{br}' }
        @{ Name = '(p);q|r' }, @{ Name = '<in>' }, @{ Name = '-dash' }, @{ Name = "it's" }, @{ Name = '1.50' }
    ) {
        New-MessageChannel -Name $Name | Out-Null
        $text = Get-CompletionText 'Get-MessageChannels -Name ' $Name
        (Invoke-Expression "Get-MessageChannels -Name $text").Name | Should -BeExactly $Name -Because $text
        $text = Get-CompletionText 'Remove-MessageChannel -Name ' $Name
        (Invoke-Expression "Remove-MessageChannel -Name $text -Force").Name | Should -BeExactly $Name -Because $text
        Get-MessageChannels -Name $Name -ErrorAction Ignore | Should -BeNullOrEmpty
    }

    It 'reads well in a console: at 80 columns every counter shows, a failure among them' {
        Subscribe-ModuleMessage -Channel 'Lab' -Handler { throw 'boom' } | Out-Null
        Publish-ModuleMessage -Channel 'Lab' -MessageType 'T' | Wait-ModuleMessage -Timeout 10
        $text = Get-MessageChannels -Name 'Lab' | Out-String -Width 80
        $text | Should -Match 'Subs\s+Published\s+Delivered\s+Queue\s+Failed\s+Dropped\s+Expired\s+Name'
        # Subs 1, Published 1, Delivered 0, Queue 0, Failed 1, Dropped 0, Expired 0.
        $text | Should -Match '1\s+1\s+0\s+0\s+1\s+0\s+0\s+Lab'
    }

    It 'reads well in a console: a long name takes what the width leaves, cut only at 80 columns' {
        $name = 'Configuration.Production.Updates'
        New-MessageChannel -Name $name | Out-Null
        Get-MessageChannels -Name $name | Out-String -Width 120 | Should -Match ([regex]::Escape($name))
        $narrow = Get-MessageChannels -Name $name | Out-String -Width 80
        $narrow | Should -Match 'Configuration\.Production\.…'
        ($narrow -split '\r?\n' | Measure-Object -Property Length -Maximum).Maximum | Should -BeLessOrEqual 80
    }
}

Describe 'Remove-MessageChannel' {
    BeforeEach { Reset-Bus }

    It 'removes a channel and reports success' {
        New-MessageChannel -Name 'Temp' | Out-Null
        $r = Remove-MessageChannel -Name 'temp'
        $r.Success | Should -BeTrue
        $r.Name | Should -Be 'Temp'
        Get-MessageChannels | Should -BeNullOrEmpty
    }

    It 'keeps the channel with -WhatIf' {
        New-MessageChannel -Name 'Temp' | Out-Null
        Remove-MessageChannel -Name 'Temp' -WhatIf
        (Get-MessageChannels).Name | Should -Be 'Temp'
    }

    It 'refuses to discard <Count> queued message(s) without -Force, and discards them with it' -ForEach @(
        @{ Count = 1 }
        @{ Count = 3 }
    ) {
        New-MessageChannel -Name 'Busy' | Out-Null
        Stop-MessageProcessor | Out-Null
        $sub = Subscribe-ModuleMessage -Channel 'Busy' -Handler { }
        1..$Count | ForEach-Object { Publish-ModuleMessage -Channel 'Busy' -MessageType 'T' -Data $_ } | Out-Null
        { Remove-MessageChannel -Name 'Busy' -ErrorAction Stop } |
            Should -Throw -ErrorId 'ChannelHasQueuedMessages,ModuleCommunication.Commands.RemoveMessageChannelCommand'
        (Get-MessageChannels -Name 'Busy').QueueLength | Should -Be $Count
        (Remove-MessageChannel -Name 'Busy' -Force).ClearedCount | Should -Be $Count
        (Get-MessageSubscriptions -SubscriptionId $sub.SubscriptionId).QueueLength | Should -Be 0
    }

    It 'reports a missing channel as ChannelNotFound' {
        { Remove-MessageChannel -Name 'Nope' -ErrorAction Stop } |
            Should -Throw -ErrorId 'ChannelNotFound,ModuleCommunication.Commands.RemoveMessageChannelCommand'
    }

    It 'says that -Name is no pattern, and how to remove what one matches' {
        New-MessageChannel -Name 'Pattern.One' | Out-Null
        $err = $null
        Remove-MessageChannel -Name 'Pattern.*' -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'ChannelNotFound,ModuleCommunication.Commands.RemoveMessageChannelCommand'
        $err[0].Exception.Message | Should -BeLike '*-Name takes one exact name, not a wildcard pattern*'
        $err[0].ErrorDetails.RecommendedAction | Should -BeLike "*Get-MessageChannels -Name 'Pattern.*' | Remove-MessageChannel*"
        (Get-MessageChannels -Name 'Pattern.One').Name | Should -Be 'Pattern.One'
    }

    It 'refuses a reserved name as New-MessageChannel does' {
        { Remove-MessageChannel -Name '__ModuleCommunication.x' -Force -ErrorAction Stop } |
            Should -Throw -ErrorId 'ReservedChannelName,ModuleCommunication.Commands.RemoveMessageChannelCommand'
    }

    It 'refuses a name with a NUL character instead of removing the channel named by its first part' {
        New-MessageChannel -Name 'Orders' | Out-Null
        { Remove-MessageChannel -Name "Orders`0Archive" -Force -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidArgument,ModuleCommunication.Commands.RemoveMessageChannelCommand'
        { Remove-MessageChannel -Name "Orders`0Archive" -Force -ErrorAction Stop } | Should -Throw '*Orders``0Archive*NUL*'
        (Get-MessageChannels).Name | Should -Be 'Orders'
    }

    It 'refuses a name with a lone UTF-16 surrogate, which has no UTF-8 form' {
        { New-MessageChannel -Name ('s' + [char]0xD800) -ErrorAction Stop } | Should -Throw '*surrogate*'
        Get-MessageChannels | Should -BeNullOrEmpty
    }
}
