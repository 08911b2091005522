# Guards for the module manifest and the MAML help made by build/New-MamlHelp.ps1.
# Run through tests/pester/run.ps1, which sets MC_MODULE_PSD1 to the built manifest.

BeforeDiscovery {
    $script:ModulePsd1 = if ($env:MC_MODULE_PSD1) { $env:MC_MODULE_PSD1 } else {
        Join-Path $PSScriptRoot '../../artifacts/module/ModuleCommunication/ModuleCommunication.psd1'
    }
    $module = Import-Module $script:ModulePsd1 -Force -PassThru
    $script:Cmdlets = @(Get-Command -Module $module.Name -CommandType Cmdlet | Sort-Object Name |
            ForEach-Object { @{ Name = $_.Name } })
}

BeforeAll {
    $script:ModulePsd1 = if ($env:MC_MODULE_PSD1) { $env:MC_MODULE_PSD1 } else {
        Join-Path $PSScriptRoot '../../artifacts/module/ModuleCommunication/ModuleCommunication.psd1'
    }
    $script:Module = Import-Module $script:ModulePsd1 -Force -PassThru
    $script:Manifest = Import-PowerShellDataFile -LiteralPath $script:ModulePsd1
    $script:CommonParameters = [System.Management.Automation.PSCmdlet]::CommonParameters +
    @([System.Management.Automation.PSCmdlet]::OptionalCommonParameters | Where-Object { $_ -notin 'WhatIf', 'Confirm' })
}

Describe 'Module manifest' {
    It 'exports at least one cmdlet' {
        @(Get-Command -Module $Module.Name -CommandType Cmdlet).Count | Should -BeGreaterThan 0
    }

    It 'lists cmdlets and aliases explicitly, without wildcards' {
        foreach ($key in 'CmdletsToExport', 'AliasesToExport', 'FunctionsToExport', 'VariablesToExport') {
            $Manifest.ContainsKey($key) | Should -BeTrue -Because "$key must be an explicit list"
            @($Manifest[$key]) -match '\*' | Should -BeNullOrEmpty -Because "$key must not use wildcards"
        }
    }

    It 'exports exactly the cmdlets that the assembly defines' {
        $assemblyPath = Join-Path $Module.ModuleBase $Manifest.RootModule
        $assembly = [AppDomain]::CurrentDomain.GetAssemblies() |
            Where-Object { -not $_.IsDynamic -and $_.Location -eq $assemblyPath } | Select-Object -First 1
        $assembly | Should -Not -BeNullOrEmpty
        $defined = @($assembly.GetExportedTypes() | Where-Object { -not $_.IsAbstract } | ForEach-Object {
                $a = [System.Attribute]::GetCustomAttribute($_, [System.Management.Automation.CmdletAttribute])
                if ($a) { "$($a.VerbName)-$($a.NounName)" }
            } | Sort-Object)
        $exported = @(Get-Command -Module $Module.Name -CommandType Cmdlet | ForEach-Object Name | Sort-Object)
        $exported | Should -Be $defined
        @($Manifest.CmdletsToExport | Sort-Object) | Should -Be $defined
    }

    It 'exports every listed alias, each pointing at an exported cmdlet' {
        foreach ($alias in @($Manifest.AliasesToExport)) {
            $command = Get-Command -Name $alias -Module $Module.Name -CommandType Alias -ErrorAction SilentlyContinue
            $command | Should -Not -BeNullOrEmpty -Because "alias '$alias' is listed in AliasesToExport"
            $command.ResolvedCommand.Module.Name | Should -Be $Module.Name
        }
    }
}

Describe 'Module folder' {
    It 'says which native library could not be loaded, and why, when the one in the module folder is broken' {
        # A copy of the module whose native library is not a library (as one built for another
        # OS or processor would be), imported in a fresh process: the native core loads once.
        $copy = Join-Path ([IO.Path]::GetTempPath()) ("mc-broken-" + [guid]::NewGuid().ToString('N'))
        try {
            Copy-Item -LiteralPath $Module.ModuleBase -Destination $copy -Recurse
            $native = Get-ChildItem -LiteralPath $copy -File | Where-Object Name -Match 'module_communication\.(so|dylib|dll)$'
            Set-Content -LiteralPath $native.FullName -Value 'not a library'
            $pwsh = if ([IO.Path]::GetFileNameWithoutExtension([Environment]::ProcessPath) -eq 'dotnet') {
                @([Environment]::ProcessPath, [Reflection.Assembly]::GetEntryAssembly().Location)
            } else { @([Environment]::ProcessPath) }
            $script = "Import-Module '$copy/ModuleCommunication.psd1'; try { Get-MessageChannels } catch { `$_.Exception.ToString() }"
            $saved = $env:MODULECOMMUNICATION_NATIVE_PATH
            $env:MODULECOMMUNICATION_NATIVE_PATH = $null
            try {
                $output = & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive -Command $script 2>&1 | Out-String
            } finally { $env:MODULECOMMUNICATION_NATIVE_PATH = $saved }
            $output | Should -Match ([regex]::Escape($native.FullName))
            $output | Should -Match 'could not be loaded'
            $output | Should -Match 'build/build.sh'
        } finally {
            Remove-Item -LiteralPath $copy -Recurse -Force -ErrorAction SilentlyContinue
        }
    }
}

Describe 'Help for <Name>' -ForEach $Cmdlets {
    BeforeDiscovery {
        $commonParameters = [System.Management.Automation.PSCmdlet]::CommonParameters +
        @([System.Management.Automation.PSCmdlet]::OptionalCommonParameters | Where-Object { $_ -notin 'WhatIf', 'Confirm' })
        $parameters = @((Get-Command $Name).Parameters.Keys | Where-Object { $_ -notin $commonParameters } | Sort-Object |
                ForEach-Object { @{ Parameter = $_ } })
    }

    BeforeAll {
        $help = Get-Help -Name $Name -Full
    }

    It 'has a synopsis that is not the syntax stub' {
        "$($help.Synopsis)".Trim() | Should -Not -BeNullOrEmpty
        # Without a MAML entry, Get-Help makes the synopsis from the syntax, which starts with the name.
        "$($help.Synopsis)".Trim() | Should -Not -BeLike "$Name*" -Because "help must come from powershell/help/$Name.md"
    }

    It 'has a description' {
        (@($help.PSObject.Properties['description']?.Value | ForEach-Object { $_.Text }) -join '').Trim() |
            Should -Not -BeNullOrEmpty
    }

    It 'has at least one example with code' {
        $examples = @($help.PSObject.Properties['examples']?.Value?.example | Where-Object { $_ })
        $examples.Count | Should -BeGreaterOrEqual 1
        foreach ($example in $examples) { "$($example.code)".Trim() | Should -Not -BeNullOrEmpty }
    }

    It 'describes every type it takes from the pipeline, with the markdown''s INPUTS text where it has one' {
        $inputs = @($help.PSObject.Properties['inputTypes']?.Value?.inputType | Where-Object { "$($_.type.name)" -ne 'None' })
        $described = @($inputs | ForEach-Object { (@($_.description | ForEach-Object { $_.Text }) -join ' ').Trim() })
        foreach ($text in $described) { $text | Should -Not -BeNullOrEmpty }
        # The builder falls back to naming the parameters; a markdown entry must win over that.
        $markdown = Get-Content -Raw -LiteralPath (Join-Path $PSScriptRoot "../../powershell/help/$Name.md")
        if ($markdown -match '(?ms)^## INPUTS\s*(.*?)^## ') {
            foreach ($entry in [regex]::Matches($Matches[1], '(?m)^### .+\r?\n(.+)$')) {
                $described | Should -Contain $entry.Groups[1].Value.Trim() -Because "powershell/help/$Name.md describes an input type"
            }
        }
    }

    It 'describes parameter -<Parameter>' -ForEach $parameters {
        $entry = @($help.PSObject.Properties['parameters']?.Value?.parameter | Where-Object { $_.name -eq $Parameter })
        $entry.Count | Should -Be 1 -Because "-$Parameter must appear in the help"
        (@($entry[0].PSObject.Properties['description']?.Value | ForEach-Object { $_.Text }) -join '').Trim() |
            Should -Not -BeNullOrEmpty
    }
}
