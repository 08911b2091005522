<#
.SYNOPSIS
    Writes MAML help (en-US/<Assembly>.dll-Help.xml) for every cmdlet of a built binary module.

.DESCRIPTION
    Imports the built module and, for each exported cmdlet, combines
      - prose from powershell/help/<Verb-Noun>.md (platyPS markdown shape), and
      - syntax, parameter sets, types, position, mandatory, pipeline input, aliases, wildcard
        support, ValidateSet/enum values and [OutputType] from the cmdlet's metadata (Get-Command),
    so the syntax in the help can never drift from the code. platyPS is not needed.

    Markdown shape (sections other than these are ignored, e.g. ## SYNTAX, which comes from code):
        # Verb-Noun
        ## SYNOPSIS            one paragraph, required
        ## DESCRIPTION         paragraphs
        ## EXAMPLES            one or more "### Example N: title", each with a fenced code block
                               and text (text before and after the code becomes the remarks)
        ## PARAMETERS          "### -Name" + text for every parameter except the common ones; an
                               optional ```yaml block may give "Default value: ...". -WhatIf and
                               -Confirm get the standard text unless documented.
        ## INPUTS / ## OUTPUTS optional "### TypeName" + text describing a type from the metadata
        ## NOTES               optional paragraphs
        ## RELATED LINKS       optional lines "[text](uri)"

    A cmdlet without a markdown file, an empty synopsis, no example, an undocumented or a
    no-longer-existing parameter are errors: all of them are listed, the help file is still
    written for what could be generated, and the script exits 1.

.EXAMPLE
    pwsh -NoProfile -File build/New-MamlHelp.ps1 -ModulePath artifacts/module/ModuleCommunication -HelpSource powershell/help
#>
[CmdletBinding()]
param(
    # The module folder or its .psd1.
    [Parameter(Mandatory)]
    [string] $ModulePath,

    # Folder holding <Verb-Noun>.md files.
    [Parameter(Mandatory)]
    [string] $HelpSource,

    # Output file; default: <module folder>/en-US/<RootModule file name>-Help.xml.
    [string] $OutputPath
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'
if ([Console]::IsOutputRedirected -or [Console]::IsErrorRedirected) { $PSStyle.OutputRendering = 'PlainText' }

$script:Problems = [System.Collections.Generic.List[string]]::new()
function Add-Problem([string] $Message) { $script:Problems.Add($Message) }

$standardParameterText = @{
    WhatIf  = 'Shows what would happen if the cmdlet runs. The cmdlet is not run.'
    Confirm = 'Prompts you for confirmation before running the cmdlet.'
}
$commonParameters = [System.Collections.Generic.HashSet[string]]::new([string[]]@(
        [System.Management.Automation.PSCmdlet]::CommonParameters), [StringComparer]::OrdinalIgnoreCase)
$optionalCommonParameters = [System.Collections.Generic.HashSet[string]]::new([string[]]@(
        [System.Management.Automation.PSCmdlet]::OptionalCommonParameters), [StringComparer]::OrdinalIgnoreCase)
# WhatIf/Confirm are documented like ordinary parameters (platyPS does the same); UseTransaction is not.
[void] $optionalCommonParameters.Remove('WhatIf')
[void] $optionalCommonParameters.Remove('Confirm')

function Test-CommonParameter([string] $Name) {
    $commonParameters.Contains($Name) -or $optionalCommonParameters.Contains($Name)
}

#region Markdown
function ConvertTo-Paragraph {
    # Blank-line separated paragraphs. Soft-wrapped lines are joined with a space; list items and
    # fenced code keep their line breaks.
    param([string[]] $Lines)
    $paragraphs = [System.Collections.Generic.List[string]]::new()
    $current = [System.Collections.Generic.List[string]]::new()
    $inFence = $false
    $flush = {
        if ($current.Count -gt 0) {
            $isList = @($current | Where-Object { $_ -match '^\s*([-*+]|\d+[.)])\s' }).Count -gt 0
            $text = if ($isList) { ($current -join "`n") } else { (($current | ForEach-Object { $_.Trim() }) -join ' ') }
            $text = $text -replace '\*\*(.+?)\*\*', '$1'
            if ($text.Trim()) { $paragraphs.Add($text.TrimEnd()) }
            $current.Clear()
        }
    }
    foreach ($line in $Lines) {
        if ($line -match '^\s*(```|~~~)') {
            if ($inFence) { $inFence = $false; $paragraphs.Add(($current -join "`n")); $current.Clear() }
            else { & $flush; $inFence = $true }
            continue
        }
        if ($inFence) { $current.Add($line); continue }
        if ($line.Trim() -eq '') { & $flush } else { $current.Add($line) }
    }
    & $flush
    , $paragraphs.ToArray()
}

function Split-Section {
    # Splits lines at headings of the given level; returns ordered @{ heading = lines[] }.
    param([string[]] $Lines, [int] $Level)
    $sections = [ordered]@{}
    $name = $null
    $body = [System.Collections.Generic.List[string]]::new()
    $inFence = $false
    $prefix = '#' * $Level
    foreach ($line in $Lines) {
        if ($line -match '^\s*(```|~~~)') { $inFence = -not $inFence }
        if (-not $inFence -and $line -match "^$prefix\s+(.+?)\s*#*\s*$" -and $line -notmatch "^$prefix#") {
            if ($null -ne $name) { $sections[$name] = $body.ToArray() }
            $name = $Matches[1].Trim()
            $body = [System.Collections.Generic.List[string]]::new()
            if ($sections.Contains($name)) { $name = "$name`u{0}$($sections.Count)" }
            continue
        }
        if ($null -ne $name) { $body.Add($line) }
    }
    if ($null -ne $name) { $sections[$name] = $body.ToArray() }
    $sections
}

function Read-HelpMarkdown {
    param([string] $Path, [string] $CommandName)
    $lines = [System.IO.File]::ReadAllLines($Path)
    # platyPS front matter.
    if ($lines.Count -gt 0 -and $lines[0].Trim() -eq '---') {
        $end = [Array]::FindIndex($lines, 1, [Predicate[string]] { param($l) $l.Trim() -eq '---' })
        if ($end -gt 0) { $lines = $lines[($end + 1)..($lines.Count - 1)] }
    }
    $title = $lines | Where-Object { $_ -match '^#\s+(\S.*)$' } | Select-Object -First 1
    if ($title -and ($title -replace '^#\s+', '').Trim() -ne $CommandName) {
        Add-Problem "${Path}: the title '$($title.Trim())' does not name $CommandName"
    }

    $doc = @{
        Synopsis = ''; Description = @(); Examples = @(); Parameters = @{}; Inputs = @{}; Outputs = @{}
        Notes = @(); Links = @()
    }
    $sections = Split-Section -Lines $lines -Level 2
    foreach ($key in $sections.Keys) {
        $body = $sections[$key]
        switch -Regex (($key -split "`u{0}")[0].ToUpperInvariant()) {
            '^SYNOPSIS$' { $doc.Synopsis = (ConvertTo-Paragraph $body) -join ' ' }
            '^DESCRIPTION$' { $doc.Description = ConvertTo-Paragraph $body }
            '^NOTES$' { $doc.Notes = ConvertTo-Paragraph $body }
            '^EXAMPLES$' {
                $examples = Split-Section -Lines $body -Level 3
                $doc.Examples = @(foreach ($exampleTitle in $examples.Keys) {
                        $code = [System.Collections.Generic.List[string]]::new()
                        $text = [System.Collections.Generic.List[string]]::new()
                        $inFence = $false
                        $block = [System.Collections.Generic.List[string]]::new()
                        foreach ($line in $examples[$exampleTitle]) {
                            if ($line -match '^\s*(```|~~~)') {
                                if ($inFence) { $code.Add(($block -join "`n")); $block.Clear() }
                                $inFence = -not $inFence
                                continue
                            }
                            if ($inFence) { $block.Add($line) } else { $text.Add($line) }
                        }
                        [pscustomobject]@{
                            Title   = ($exampleTitle -split "`u{0}")[0]
                            Code    = ($code -join "`n`n")
                            Remarks = ConvertTo-Paragraph $text.ToArray()
                        }
                    })
            }
            '^PARAMETERS$' {
                $parameters = Split-Section -Lines $body -Level 3
                foreach ($parameterHeading in $parameters.Keys) {
                    $heading = ($parameterHeading -split "`u{0}")[0]
                    if ($heading -eq 'CommonParameters') { continue }
                    if ($heading -notmatch '^-(\w+)$') {
                        Add-Problem "${Path}: parameter heading '### $heading' must be '### -Name'"
                        continue
                    }
                    $parameterName = $Matches[1]
                    $text = [System.Collections.Generic.List[string]]::new()
                    $default = $null
                    $inYaml = $false
                    foreach ($line in $parameters[$parameterHeading]) {
                        if ($line -match '^\s*```\s*yaml\s*$') { $inYaml = $true; continue }
                        if ($inYaml) {
                            if ($line -match '^\s*```') { $inYaml = $false }
                            elseif ($line -match '^\s*Default value:\s*(.*?)\s*$') { $default = $Matches[1] }
                            continue
                        }
                        $text.Add($line)
                    }
                    $doc.Parameters[$parameterName] = [pscustomobject]@{
                        Text = ConvertTo-Paragraph $text.ToArray(); Default = $default
                    }
                }
            }
            '^(INPUTS|OUTPUTS)$' {
                $target = if ($Matches[1] -eq 'INPUTS') { $doc.Inputs } else { $doc.Outputs }
                $types = Split-Section -Lines $body -Level 3
                foreach ($t in $types.Keys) { $target[($t -split "`u{0}")[0]] = ConvertTo-Paragraph $types[$t] }
            }
            '^RELATED LINKS$' {
                $doc.Links = @(foreach ($line in $body) {
                        if ($line -match '\[([^\]]+)\]\(([^)]*)\)') {
                            $linkText = $Matches[1]; $uri = $Matches[2]
                            [pscustomobject]@{ Text = $linkText; Uri = $(if ($uri -match '^https?://') { $uri } else { '' }) }
                        }
                        elseif ($line.Trim() -match '^[-*]?\s*(\S.*)$') {
                            [pscustomobject]@{ Text = $Matches[1]; Uri = '' }
                        }
                    })
            }
        }
    }
    $doc
}
#endregion

#region Metadata helpers
function Get-TypeDisplayName([type] $Type, [switch] $Full) {
    if ($Type.IsArray) { return (Get-TypeDisplayName $Type.GetElementType() -Full:$Full) + '[]' }
    if ($Type.IsGenericType) {
        $base = ($(if ($Full) { $Type.GetGenericTypeDefinition().FullName } else { $Type.Name })) -replace '`\d+$', ''
        $arguments = $Type.GetGenericArguments() | ForEach-Object { Get-TypeDisplayName $_ -Full:$Full }
        return "$base[$($arguments -join ', ')]"
    }
    if ($Full -and $Type.FullName) { $Type.FullName } else { $Type.Name }
}

function Get-PipelineText($SetMetadata) {
    $kinds = @()
    if (@($SetMetadata | Where-Object ValueFromPipelineByPropertyName).Count) { $kinds += 'ByPropertyName' }
    if (@($SetMetadata | Where-Object ValueFromPipeline).Count) { $kinds += 'ByValue' }
    if ($kinds) { "True ($($kinds -join ', '))" } else { 'False' }
}

function Get-ParameterValueChoice([System.Management.Automation.ParameterMetadata] $Parameter) {
    $set = $Parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] } | Select-Object -First 1
    if ($set) { return @($set.ValidValues) }
    $t = $Parameter.ParameterType
    if ($t.IsArray) { $t = $t.GetElementType() }
    $underlying = [Nullable]::GetUnderlyingType($t)
    if ($underlying) { $t = $underlying }
    if ($t.IsEnum) { return [Enum]::GetNames($t) }
    @()
}
#endregion

#region MAML writer
$nsMaml = 'http://schemas.microsoft.com/maml/2004/10'
$nsCommand = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
$nsDev = 'http://schemas.microsoft.com/maml/dev/2004/10'

function Write-Para([System.Xml.XmlWriter] $W, [string[]] $Paragraphs) {
    $W.WriteStartElement('maml', 'description', $nsMaml)
    if (-not $Paragraphs) { $Paragraphs = @('') }
    foreach ($p in $Paragraphs) { $W.WriteElementString('maml', 'para', $nsMaml, $p) }
    $W.WriteEndElement()
}

function Write-TypeElement([System.Xml.XmlWriter] $W, [string] $Name) {
    $W.WriteStartElement('dev', 'type', $nsDev)
    $W.WriteElementString('maml', 'name', $nsMaml, $Name)
    $W.WriteElementString('maml', 'uri', $nsMaml, '')
    $W.WriteEndElement()
}

function Write-Parameter {
    param(
        [System.Xml.XmlWriter] $W,
        [System.Management.Automation.ParameterMetadata] $Parameter,
        [object[]] $SetMetadata,   # ParameterSetMetadata of the sets this entry covers
        [string[]] $Description,
        [string] $Default,
        [switch] $InSyntax
    )
    $positions = @($SetMetadata | ForEach-Object { $_.Position } | Where-Object { $_ -ge 0 } | Sort-Object -Unique)
    $position = if ($positions.Count -ge 1 -and @($SetMetadata | Where-Object { $_.Position -lt 0 }).Count -eq 0 -and $positions.Count -eq 1) { "$($positions[0])" } else { 'named' }
    $required = @($SetMetadata | Where-Object { -not $_.IsMandatory }).Count -eq 0
    $isSwitch = $Parameter.SwitchParameter
    $globbing = @($Parameter.Attributes | Where-Object { $_.GetType().Name -eq 'SupportsWildcardsAttribute' }).Count -gt 0

    $W.WriteStartElement('command', 'parameter', $nsCommand)
    $W.WriteAttributeString('required', $required.ToString().ToLowerInvariant())
    $W.WriteAttributeString('variableLength', 'true')
    $W.WriteAttributeString('globbing', $globbing.ToString().ToLowerInvariant())
    $W.WriteAttributeString('pipelineInput', (Get-PipelineText $SetMetadata))
    $W.WriteAttributeString('position', $position)
    $W.WriteAttributeString('aliases', $(if ($Parameter.Aliases.Count) { $Parameter.Aliases -join ', ' } else { 'none' }))
    $W.WriteElementString('maml', 'name', $nsMaml, $Parameter.Name)
    Write-Para $W $Description
    $choices = @(Get-ParameterValueChoice $Parameter)
    if ($InSyntax -and $choices.Count -gt 0) {
        $W.WriteStartElement('command', 'parameterValueGroup', $nsCommand)
        foreach ($c in $choices) {
            $W.WriteStartElement('command', 'parameterValue', $nsCommand)
            $W.WriteAttributeString('required', 'false')
            $W.WriteAttributeString('command', 'variableLength', $nsCommand, 'false')
            $W.WriteString($c)
            $W.WriteEndElement()
        }
        $W.WriteEndElement()
    }
    if (-not $isSwitch) {
        $W.WriteStartElement('command', 'parameterValue', $nsCommand)
        $W.WriteAttributeString('required', 'true')
        $W.WriteAttributeString('variableLength', 'false')
        $W.WriteString((Get-TypeDisplayName $Parameter.ParameterType))
        $W.WriteEndElement()
    }
    Write-TypeElement $W (Get-TypeDisplayName $Parameter.ParameterType -Full)
    $W.WriteElementString('dev', 'defaultValue', $nsDev, $(if ($Default) { $Default } elseif ($isSwitch) { 'False' } else { 'None' }))
    $W.WriteEndElement()
}

function Write-Command {
    param([System.Xml.XmlWriter] $W, [System.Management.Automation.CmdletInfo] $Command, [hashtable] $Doc)

    $documented = @{}
    foreach ($name in $Command.Parameters.Keys) {
        if (Test-CommonParameter $name) { continue }
        $entry = $null
        foreach ($key in $Doc.Parameters.Keys) { if ($key -ieq $name) { $entry = $Doc.Parameters[$key] } }
        $text = if ($entry -and $entry.Text) { $entry.Text } elseif ($standardParameterText.ContainsKey($name)) { , $standardParameterText[$name] } else { @() }
        $documented[$name] = [pscustomobject]@{ Text = $text; Default = $(if ($entry) { $entry.Default }) }
    }

    $W.WriteStartElement('command', 'command', $nsCommand)
    $W.WriteAttributeString('xmlns', 'maml', $null, $nsMaml)
    $W.WriteAttributeString('xmlns', 'command', $null, $nsCommand)
    $W.WriteAttributeString('xmlns', 'dev', $null, $nsDev)

    $W.WriteStartElement('command', 'details', $nsCommand)
    $W.WriteElementString('command', 'name', $nsCommand, $Command.Name)
    $W.WriteElementString('command', 'verb', $nsCommand, $Command.Verb)
    $W.WriteElementString('command', 'noun', $nsCommand, $Command.Noun)
    Write-Para $W @($Doc.Synopsis)
    $W.WriteEndElement()

    Write-Para $W $Doc.Description

    # Syntax: one item per parameter set, common parameters left out (Get-Help adds [<CommonParameters>]).
    $W.WriteStartElement('command', 'syntax', $nsCommand)
    $sets = @($Command.ParameterSets | Sort-Object { -not $_.IsDefault })
    foreach ($set in $sets) {
        $W.WriteStartElement('command', 'syntaxItem', $nsCommand)
        $W.WriteElementString('maml', 'name', $nsMaml, $Command.Name)
        $inSet = @($set.Parameters | Where-Object { -not (Test-CommonParameter $_.Name) })
        $ordered = @($inSet | Where-Object { $_.Position -ge 0 } | Sort-Object Position) +
        @($inSet | Where-Object { $_.Position -lt 0 -and $_.IsMandatory }) +
        @($inSet | Where-Object { $_.Position -lt 0 -and -not $_.IsMandatory })
        foreach ($p in $ordered) {
            $metadata = $Command.Parameters[$p.Name]
            $setMetadata = @($metadata.ParameterSets[$set.Name])
            if (-not $setMetadata[0]) { $setMetadata = @($metadata.ParameterSets['__AllParameterSets']) }
            Write-Parameter -W $W -Parameter $metadata -SetMetadata $setMetadata -Description $documented[$p.Name].Text -Default $documented[$p.Name].Default -InSyntax
        }
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'parameters', $nsCommand)
    foreach ($name in ($documented.Keys | Sort-Object)) {
        $metadata = $Command.Parameters[$name]
        Write-Parameter -W $W -Parameter $metadata -SetMetadata @($metadata.ParameterSets.Values) -Description $documented[$name].Text -Default $documented[$name].Default
    }
    $W.WriteEndElement()

    # Inputs: the types of the parameters that take pipeline input, each described by the markdown's
    # INPUTS entry for it, else by the parameters that take it ("-Channel (by property name)").
    $W.WriteStartElement('command', 'inputTypes', $nsCommand)
    $pipelineParameters = @($Command.Parameters.Values | Where-Object {
            -not (Test-CommonParameter $_.Name) -and @($_.ParameterSets.Values | Where-Object { $_.ValueFromPipeline -or $_.ValueFromPipelineByPropertyName }).Count
        })
    $inputTypes = @($pipelineParameters | Group-Object { Get-TypeDisplayName $_.ParameterType -Full } | Sort-Object Name)
    if (-not $inputTypes) { $W.WriteStartElement('command', 'inputType', $nsCommand); Write-TypeElement $W 'None'; Write-Para $W @(); $W.WriteEndElement() }
    foreach ($group in $inputTypes) {
        $t = $group.Name
        $W.WriteStartElement('command', 'inputType', $nsCommand)
        Write-TypeElement $W $t
        # An array parameter binds one element per piped object, so the markdown names the element type.
        $element = $t -replace '\[\]$', ''
        $text = @($Doc.Inputs.GetEnumerator() | Where-Object { $_.Key -in $t, $element -or $element.EndsWith(".$($_.Key)") } | ForEach-Object { $_.Value })
        if (-not $text) {
            $text = @(($group.Group | Sort-Object Name | ForEach-Object {
                        $sets = @($_.ParameterSets.Values)
                        $ways = @(if (@($sets | Where-Object ValueFromPipeline).Count) { 'by value' }
                            if (@($sets | Where-Object ValueFromPipelineByPropertyName).Count) { 'by property name' })
                        "-$($_.Name) ($($ways -join ', '))"
                    }) -join '; ')
        }
        Write-Para $W $text
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    # Outputs: [OutputType] of the cmdlet.
    $W.WriteStartElement('command', 'returnValues', $nsCommand)
    $outputTypes = @($Command.OutputType | ForEach-Object { if ($_.Type) { Get-TypeDisplayName $_.Type -Full } else { $_.Name } } | Sort-Object -Unique)
    if (-not $outputTypes) { $outputTypes = @('None') }
    foreach ($t in $outputTypes) {
        $W.WriteStartElement('command', 'returnValue', $nsCommand)
        Write-TypeElement $W $t
        Write-Para $W @($Doc.Outputs.GetEnumerator() | Where-Object { $_.Key -eq $t -or $t.EndsWith(".$($_.Key)") } | ForEach-Object { $_.Value })
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    if ($Doc.Notes) {
        $W.WriteStartElement('maml', 'alertSet', $nsMaml)
        $W.WriteStartElement('maml', 'alert', $nsMaml)
        foreach ($p in $Doc.Notes) { $W.WriteElementString('maml', 'para', $nsMaml, $p) }
        $W.WriteEndElement()
        $W.WriteEndElement()
    }

    $W.WriteStartElement('command', 'examples', $nsCommand)
    foreach ($example in $Doc.Examples) {
        $W.WriteStartElement('command', 'example', $nsCommand)
        $dashes = '-' * [Math]::Max(3, [int]((64 - $example.Title.Length) / 2))
        $W.WriteElementString('maml', 'title', $nsMaml, "$dashes $($example.Title) $dashes")
        $W.WriteElementString('dev', 'code', $nsDev, $example.Code)
        $W.WriteStartElement('dev', 'remarks', $nsDev)
        foreach ($p in $example.Remarks) { $W.WriteElementString('maml', 'para', $nsMaml, $p) }
        $W.WriteEndElement()
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'relatedLinks', $nsCommand)
    foreach ($link in $Doc.Links) {
        $W.WriteStartElement('maml', 'navigationLink', $nsMaml)
        $W.WriteElementString('maml', 'linkText', $nsMaml, $link.Text)
        $W.WriteElementString('maml', 'uri', $nsMaml, $link.Uri)
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteEndElement() # command:command
}
#endregion

#region Main
function Get-DisplayPath([string] $Path) {
    $relative = [System.IO.Path]::GetRelativePath((Get-Location).ProviderPath, $Path)
    if ($relative.StartsWith('..')) { $Path } else { $relative }
}
$manifest = if ((Test-Path -LiteralPath $ModulePath -PathType Container)) {
    Get-ChildItem -LiteralPath $ModulePath -Filter *.psd1 | Select-Object -First 1 -ExpandProperty FullName
}
else { (Resolve-Path -LiteralPath $ModulePath).ProviderPath }
if (-not $manifest) { throw "No module manifest (.psd1) in '$ModulePath'." }
$HelpSource = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($HelpSource)
if (-not (Test-Path -LiteralPath $HelpSource -PathType Container)) {
    Write-Warning "help folder '$HelpSource' does not exist: every cmdlet will be reported as missing its help file"
}

$module = Import-Module -Name $manifest -Force -PassThru -ErrorAction Stop
$rootModule = (Import-PowerShellDataFile -LiteralPath $manifest).RootModule
if (-not $OutputPath) {
    $OutputPath = Join-Path $module.ModuleBase "en-US/$([System.IO.Path]::GetFileName($rootModule))-Help.xml"
}
$OutputPath = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($OutputPath)

$commands = @(Get-Command -Module $module.Name -CommandType Cmdlet | Sort-Object Name)
$docs = [ordered]@{}
foreach ($command in $commands) {
    $file = Join-Path $HelpSource "$($command.Name).md"
    if (-not (Test-Path -LiteralPath $file -PathType Leaf)) {
        Add-Problem "$($command.Name): no help file; write $(Get-DisplayPath $file) (## SYNOPSIS, ## DESCRIPTION, ## EXAMPLES, ## PARAMETERS)"
        continue
    }
    $doc = Read-HelpMarkdown -Path $file -CommandName $command.Name
    if (-not $doc.Synopsis.Trim()) { Add-Problem "$($command.Name): empty ## SYNOPSIS in $(Get-DisplayPath $file)" }
    if (-not $doc.Description) { Add-Problem "$($command.Name): empty ## DESCRIPTION in $(Get-DisplayPath $file)" }
    if (-not $doc.Examples) { Add-Problem "$($command.Name): no '### Example' under ## EXAMPLES in $(Get-DisplayPath $file)" }
    foreach ($example in $doc.Examples) {
        if (-not $example.Code.Trim()) { Add-Problem "$($command.Name): '$($example.Title)' has no fenced code block in $(Get-DisplayPath $file)" }
    }
    foreach ($name in $command.Parameters.Keys) {
        if ((Test-CommonParameter $name) -or $standardParameterText.ContainsKey($name)) { continue }
        $entry = $doc.Parameters.GetEnumerator() | Where-Object Key -EQ $name | Select-Object -First 1
        if (-not $entry -or -not $entry.Value.Text) { Add-Problem "$($command.Name): parameter -$name has no description ('### -$name' under ## PARAMETERS in $(Get-DisplayPath $file))" }
    }
    foreach ($name in $doc.Parameters.Keys) {
        if (-not $command.Parameters.ContainsKey($name)) { Add-Problem "$($command.Name): $(Get-DisplayPath $file) documents -$name, which the cmdlet does not have" }
    }
    $docs[$command.Name] = $doc
}
foreach ($file in (Get-ChildItem -LiteralPath $HelpSource -Filter *-*.md -ErrorAction SilentlyContinue)) {
    if (-not ($commands.Name -contains $file.BaseName)) {
        Write-Warning "$($file.Name) describes no exported cmdlet of $($module.Name); not used"
    }
}

$null = New-Item -ItemType Directory -Force -Path (Split-Path -Parent $OutputPath)
$settings = [System.Xml.XmlWriterSettings]::new()
$settings.Indent = $true
$settings.IndentChars = '  '
$settings.Encoding = [System.Text.UTF8Encoding]::new($false)
$tmp = "$OutputPath.tmp"
$writer = [System.Xml.XmlWriter]::Create($tmp, $settings)
try {
    $writer.WriteStartDocument()
    $writer.WriteStartElement('helpItems', 'http://msh')
    $writer.WriteAttributeString('schema', 'maml')
    foreach ($command in $commands) {
        if ($docs.Contains($command.Name)) { Write-Command -W $writer -Command $command -Doc $docs[$command.Name] }
    }
    $writer.WriteEndElement()
    $writer.WriteEndDocument()
}
finally { $writer.Dispose() }
Move-Item -LiteralPath $tmp -Destination $OutputPath -Force

"New-MamlHelp: $($docs.Count) of $($commands.Count) cmdlet(s) -> $OutputPath"
if ($script:Problems.Count) {
    foreach ($p in $script:Problems) { [Console]::Error.WriteLine("New-MamlHelp: error: $p") }
    [Console]::Error.WriteLine("New-MamlHelp: $($script:Problems.Count) problem(s); help is incomplete.")
    exit 1
}
#endregion
