<#
.SYNOPSIS
    Runs every tests/pester/*.Tests.ps1 in one pwsh process with Pester 5.7.1.

.DESCRIPTION
    Called by build/test.sh after build/build.sh. Test files import the built module with
        Import-Module $env:MC_MODULE_PSD1 -Force
    (this script sets MC_MODULE_PSD1 to the absolute path of the built manifest).

    Prints "Pester: N passed, N failed, N skipped", where failed counts failed tests plus failed
    blocks (a throwing BeforeAll) plus failed containers (a file that fails discovery), writes
    JUnit XML to artifacts/test-results/pester.xml, and exits 1 if anything failed or nothing
    passed.

.EXAMPLE
    dotnet tool run pwsh -- -NoProfile -File tests/pester/run.ps1 -Path tests/pester/Help.Tests.ps1
#>
[CmdletBinding()]
param(
    # Exact path of Pester 5.7.1's manifest; default: <NuGet global packages>/pester/5.7.1/tools/Pester.psd1.
    [string] $PesterPath,
    # The built module's manifest; default: artifacts/module/ModuleCommunication/ModuleCommunication.psd1.
    [string] $ModulePath,
    # Test files or folders; default: this folder.
    [string[]] $Path = @($PSScriptRoot),
    [string[]] $Tag,
    [string[]] $ExcludeTag,
    # Folder for pester.xml (JUnit); default: artifacts/test-results.
    [string] $OutputDirectory
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'
$root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).ProviderPath
if ([Console]::IsOutputRedirected) { $PSStyle.OutputRendering = 'PlainText' }

try {
    if (-not $PesterPath) {
        $packages = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path ([Environment]::GetFolderPath('UserProfile')) '.nuget/packages' }
        $PesterPath = Join-Path $packages 'pester/5.7.1/tools/Pester.psd1'
    }
    if (-not (Test-Path -LiteralPath $PesterPath)) {
        throw "Pester 5.7.1 not found at '$PesterPath'. Run: dotnet restore tools/tools.csproj"
    }
    if (-not $ModulePath) { $ModulePath = Join-Path $root 'artifacts/module/ModuleCommunication/ModuleCommunication.psd1' }
    if (-not (Test-Path -LiteralPath $ModulePath)) { throw "Built module not found at '$ModulePath'. Run: build/build.sh" }
    $env:MC_MODULE_PSD1 = (Resolve-Path -LiteralPath $ModulePath).ProviderPath
    if (-not $OutputDirectory) { $OutputDirectory = Join-Path $root 'artifacts/test-results' }
    $null = New-Item -ItemType Directory -Force -Path $OutputDirectory

    Import-Module -Name $PesterPath -Force
    $pester = Get-Module Pester
    if ($pester.Version -ne [version]'5.7.1') { throw "Expected Pester 5.7.1, loaded $($pester.Version) from $($pester.Path)" }

    $config = New-PesterConfiguration
    $config.Run.Path = [string[]]$Path
    $config.Run.PassThru = $true
    $config.Run.Exit = $false          # with Exit, Pester exits inside Invoke-Pester and no summary is printed
    $config.Output.Verbosity = 'Detailed'
    if ([Console]::IsOutputRedirected) { $config.Output.RenderMode = 'Plaintext' }
    if ($Tag) { $config.Filter.Tag = $Tag }
    if ($ExcludeTag) { $config.Filter.ExcludeTag = $ExcludeTag }
    $config.TestResult.Enabled = $true
    $config.TestResult.OutputFormat = 'JUnitXml'
    $config.TestResult.OutputPath = Join-Path $OutputDirectory 'pester.xml'

    Set-StrictMode -Off                # do not impose this script's strict mode on the test files
    $result = Invoke-Pester -Configuration $config
    # A path Pester cannot find is only an error record; without a result nothing ran.
    if ($null -eq $result) { throw 'Invoke-Pester ran nothing (see the errors above); check -Path.' }
    $failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
    "Pester: $($result.PassedCount) passed, $failed failed, $($result.SkippedCount) skipped"
    exit ([int]($failed -gt 0 -or $result.PassedCount -eq 0))
}
catch {
    [Console]::Error.WriteLine("tests/pester/run.ps1: $($_.Exception.Message)")
    'Pester: 0 passed, 1 failed, 0 skipped'
    exit 1
}
