# Fidelity of the message-data codec: PowerShell value -> JSON + type hints -> the same value.
# [ModuleCommunication.Serialization.DataCodec]::Encode returns a ValueTuple: .Item1 is the data
# JSON, .Item2 the hints JSON ($null when plain JSON says it all).

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../artifacts/module/ModuleCommunication/ModuleCommunication.psd1') -Force

    # Encodes then decodes; the leading comma keeps an array result from being unrolled.
    function Invoke-RoundTrip {
        param([object] $Value)
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode($Value)
        , [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $encoded.Item2)
    }

    function New-NestedHashtable {
        param([int] $Levels)
        $root = @{}
        $current = $root
        for ($i = 1; $i -lt $Levels; $i++) {
            $next = @{}
            $current['Child'] = $next
            $current = $next
        }
        $current['Leaf'] = 'bottom'
        $root
    }
}

Describe 'DataCodec scalar fidelity' {
    # Each case: the value, the type it must come back as, and the exact JSON and hints text.
    It 'round-trips <Name>' -ForEach @(
        @{ Name = 'int'; Value = 42; Type = [int]; Json = '42'; Hints = $null }
        @{ Name = 'negative int'; Value = -7; Type = [int]; Json = '-7'; Hints = $null }
        @{ Name = 'long that fits an int'; Value = [long]42; Type = [long]; Json = '42'; Hints = '[[[],"long"]]' }
        @{ Name = 'long beyond int'; Value = [long]::MaxValue; Type = [long]; Json = '9223372036854775807'; Hints = $null }
        @{ Name = 'integral double'; Value = 1.0; Type = [double]; Json = '1.0'; Hints = $null }
        @{ Name = 'fractional double'; Value = 0.1; Type = [double]; Json = '0.1'; Hints = $null }
        @{ Name = 'negative double'; Value = -2.5; Type = [double]; Json = '-2.5'; Hints = $null }
        @{ Name = 'large double'; Value = 1e20; Type = [double]; Json = '1E+20'; Hints = $null }
        @{ Name = 'double max'; Value = [double]::MaxValue; Type = [double]; Json = '1.7976931348623157E+308'; Hints = $null }
        @{ Name = 'double with 17 significant digits'; Value = 0.1 + 0.2; Type = [double]; Json = '0.30000000000000004'; Hints = $null }
        @{ Name = 'single'; Value = [float]1.5; Type = [float]; Json = '1.5'; Hints = '[[[],"single"]]' }
        @{ Name = 'decimal'; Value = 1.10d; Type = [decimal]; Json = '1.10'; Hints = '[[[],"decimal"]]' }
        @{ Name = 'decimal max'; Value = [decimal]::MaxValue; Type = [decimal]; Json = '79228162514264337593543950335'; Hints = '[[[],"decimal"]]' }
        @{ Name = 'byte'; Value = [byte]200; Type = [byte]; Json = '200'; Hints = '[[[],"byte"]]' }
        @{ Name = 'sbyte'; Value = [sbyte]-5; Type = [sbyte]; Json = '-5'; Hints = '[[[],"sbyte"]]' }
        @{ Name = 'int16'; Value = [int16]-300; Type = [int16]; Json = '-300'; Hints = '[[[],"int16"]]' }
        @{ Name = 'uint16'; Value = [uint16]65535; Type = [uint16]; Json = '65535'; Hints = '[[[],"uint16"]]' }
        @{ Name = 'uint32'; Value = [uint32]4000000000; Type = [uint32]; Json = '4000000000'; Hints = '[[[],"uint32"]]' }
        @{ Name = 'uint64 max'; Value = [uint64]::MaxValue; Type = [uint64]; Json = '18446744073709551615'; Hints = '[[[],"uint64"]]' }
        @{ Name = 'bigint'; Value = [bigint]::Parse('123456789012345678901234567890'); Type = [bigint]; Json = '123456789012345678901234567890'; Hints = '[[[],"bigint"]]' }
        @{ Name = 'string'; Value = 'hello'; Type = [string]; Json = '"hello"'; Hints = $null }
        @{ Name = 'empty string'; Value = ''; Type = [string]; Json = '""'; Hints = $null }
        @{ Name = 'string with quotes, backslash and control characters'; Value = "a`"b\c`td`0"; Type = [string]; Json = '"a\"b\\c\td\u0000"'; Hints = $null }
        @{ Name = 'true'; Value = $true; Type = [bool]; Json = 'true'; Hints = $null }
        @{ Name = 'false'; Value = $false; Type = [bool]; Json = 'false'; Hints = $null }
        @{ Name = 'char'; Value = [char]'x'; Type = [char]; Json = '"x"'; Hints = '[[[],"char"]]' }
        @{ Name = 'DateTime (Utc)'; Value = [datetime]::new(2026, 3, 4, 5, 6, 7, [DateTimeKind]::Utc).AddTicks(1234567); Type = [datetime]; Json = '"2026-03-04T05:06:07.1234567Z"'; Hints = '[[[],"datetime"]]' }
        @{ Name = 'DateTimeOffset'; Value = [DateTimeOffset]::new(2026, 3, 4, 5, 6, 7, [timespan]::FromHours(2)); Type = [DateTimeOffset]; Json = '"2026-03-04T05:06:07.0000000+02:00"'; Hints = '[[[],"datetimeoffset"]]' }
        @{ Name = 'Guid'; Value = [guid]'0b5c1e2a-3d4f-4a6b-8c9d-0e1f2a3b4c5d'; Type = [guid]; Json = '"0b5c1e2a-3d4f-4a6b-8c9d-0e1f2a3b4c5d"'; Hints = '[[[],"guid"]]' }
        @{ Name = 'TimeSpan'; Value = [timespan]::new(1, 2, 3, 4, 500); Type = [timespan]; Json = '"1.02:03:04.5000000"'; Hints = '[[[],"timespan"]]' }
        @{ Name = 'negative TimeSpan'; Value = [timespan]::FromMinutes(-90); Type = [timespan]; Json = '"-01:30:00"'; Hints = '[[[],"timespan"]]' }
        @{ Name = 'Uri'; Value = [uri]'https://example.org/a?b=%20c'; Type = [uri]; Json = '"https://example.org/a?b=%20c"'; Hints = '[[[],"uri"]]' }
        @{ Name = 'Version'; Value = [version]'1.2.3.4'; Type = [version]; Json = '"1.2.3.4"'; Hints = '[[[],"version"]]' }
    ) {
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode($Value)
        $encoded.Item1 | Should -BeExactly $Json
        $encoded.Item2 | Should -BeExactly $Hints

        $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $encoded.Item2)
        $decoded | Should -BeOfType $Type
        $decoded.GetType() | Should -Be $Type
        $decoded | Should -Be $Value
    }

    It 'round-trips null' {
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode($null)
        $encoded.Item1 | Should -BeExactly 'null'
        $encoded.Item2 | Should -BeNullOrEmpty
        [ModuleCommunication.Serialization.DataCodec]::Decode('null', $null) | Should -BeNullOrEmpty
    }

    It 'round-trips NaN and infinities of <Type> through strings with a hint' -ForEach @(
        @{ Type = [double]; Hint = 'double' }
        @{ Type = [float]; Hint = 'single' }
    ) {
        foreach ($pair in @(@('NaN', 'NaN'), @('PositiveInfinity', 'Infinity'), @('NegativeInfinity', '-Infinity'))) {
            $value = $Type::($pair[0])
            $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode($value)
            $encoded.Item1 | Should -BeExactly ('"' + $pair[1] + '"')
            $encoded.Item2 | Should -BeExactly ('[[[],"' + $Hint + '"]]')
            $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $encoded.Item2)
            $decoded | Should -BeOfType $Type
            $decoded.ToString([cultureinfo]::InvariantCulture) | Should -BeExactly $value.ToString([cultureinfo]::InvariantCulture)
        }
    }

    It 'keeps negative zero a negative double' {
        $decoded = Invoke-RoundTrip ([double]-0.0)
        $decoded | Should -BeOfType [double]
        $decoded | Should -Be 0
        [double]::IsNegative($decoded) | Should -BeTrue
    }

    It 'round-trips doubles exactly, to the last bit' {
        foreach ($value in @([math]::PI, [double]::Epsilon, (1 / 3), -1.5e-300, 123456789012.0, [double]::MinValue)) {
            $decoded = Invoke-RoundTrip $value
            $decoded | Should -BeOfType [double]
            [BitConverter]::DoubleToInt64Bits($decoded) | Should -Be ([BitConverter]::DoubleToInt64Bits($value))
        }
    }

    It 'keeps decimals exact: scale, 28 digits, no binary rounding' {
        $sum = 0.1d + 0.2d
        $decoded = Invoke-RoundTrip $sum
        $decoded | Should -BeOfType [decimal]
        $decoded | Should -Be 0.3d
        $decoded.ToString([cultureinfo]::InvariantCulture) | Should -BeExactly '0.3'

        $decoded = Invoke-RoundTrip 1.100d
        $decoded | Should -BeOfType [decimal]
        $decoded.ToString([cultureinfo]::InvariantCulture) | Should -BeExactly '1.100'

        $precise = [decimal]::Parse('1234567890.1234567890123456789', [cultureinfo]::InvariantCulture)
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode($precise)
        $encoded.Item1 | Should -BeExactly '1234567890.1234567890123456789'
        $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $encoded.Item2)
        $decoded | Should -BeOfType [decimal]
        $decoded | Should -Be $precise
    }

    It 'tells 1, 1L and 1.0 apart' {
        $decoded = Invoke-RoundTrip @{ Int = 1; Long = 1L; Double = 1.0 }
        $decoded | Should -BeOfType [hashtable]
        $decoded.Int | Should -BeOfType [int]
        $decoded.Int | Should -Be 1
        $decoded.Long | Should -BeOfType [long]
        $decoded.Long | Should -Be 1
        $decoded.Double | Should -BeOfType [double]
        $decoded.Double | Should -Be 1
    }

    It 'keeps the Kind of a <Kind> DateTime, to the tick' -ForEach @(
        @{ Kind = [DateTimeKind]::Utc; Suffix = 'Z' }
        @{ Kind = [DateTimeKind]::Local; Suffix = ([datetime]::new(2026, 3, 4, 5, 6, 7, [DateTimeKind]::Local)).ToString('%K') }
        @{ Kind = [DateTimeKind]::Unspecified; Suffix = '' }
    ) {
        $value = [datetime]::new(2026, 3, 4, 5, 6, 7, $Kind).AddTicks(1234567)
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode($value)
        $encoded.Item1 | Should -BeExactly ('"2026-03-04T05:06:07.1234567' + $Suffix + '"')
        $encoded.Item2 | Should -BeExactly '[[[],"datetime"]]'

        $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $encoded.Item2)
        $decoded | Should -BeOfType [datetime]
        $decoded.Kind | Should -Be $Kind
        $decoded.Ticks | Should -Be $value.Ticks
    }

    It 'keeps the offset of a DateTimeOffset' {
        $value = [DateTimeOffset]::new(2026, 12, 31, 23, 59, 59, [timespan]::FromMinutes(-330)).AddTicks(9999999)
        $decoded = Invoke-RoundTrip $value
        $decoded | Should -BeOfType [DateTimeOffset]
        $decoded.Offset | Should -Be ([timespan]::FromMinutes(-330))
        $decoded.Ticks | Should -Be $value.Ticks
    }

    It 'round-trips byte[] as base64' {
        [byte[]] $value = 0, 1, 127, 128, 255
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode($value)
        $encoded.Item1 | Should -BeExactly '"AAF/gP8="'
        $encoded.Item2 | Should -BeExactly '[[[],"bytes"]]'
        $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $encoded.Item2)
        Should -ActualValue $decoded -BeOfType [byte[]]
        $decoded | Should -Be $value
    }

    It 'sends an enum as its name and a script block as its text, without hints' {
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode([ConsoleColor]::DarkRed)
        $encoded.Item1 | Should -BeExactly '"DarkRed"'
        $encoded.Item2 | Should -BeNullOrEmpty
        $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $encoded.Item2)
        $decoded | Should -BeOfType [string]
        $decoded | Should -BeExactly 'DarkRed'
        [ConsoleColor] $decoded | Should -Be ([ConsoleColor]::DarkRed)

        $decoded = Invoke-RoundTrip { Get-Date -Format o }
        $decoded | Should -BeOfType [string]
        $decoded | Should -BeExactly ' Get-Date -Format o '
    }
}

Describe 'DataCodec text' {
    It 'round-trips non-ASCII text and leaves it readable in the JSON' {
        $emoji = [char]::ConvertFromUtf32(0x1F600)
        $value = "café 日本語 $emoji, ünïcödé"
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode(@{ Text = $value })
        $encoded.Item1 | Should -BeLike '*café 日本語 *, ünïcödé*'
        $encoded.Item2 | Should -BeNullOrEmpty

        $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $encoded.Item2)
        $decoded | Should -BeOfType [hashtable]
        $decoded.Text | Should -BeOfType [string]
        $decoded.Text | Should -BeExactly $value
        $decoded.Text.Length | Should -Be 20  # the emoji is one surrogate pair
    }

    It 'round-trips non-ASCII keys' {
        $decoded = Invoke-RoundTrip @{ 'Größe' = 1; '名前' = 'x' }
        $decoded | Should -BeOfType [hashtable]
        $decoded['Größe'] | Should -BeOfType [int]
        $decoded['Größe'] | Should -Be 1
        $decoded['名前'] | Should -BeExactly 'x'
    }

    It 'writes plain JSON a C reader understands' {
        $value = [ordered]@{ a = 1; when = [datetime]::new(2026, 11, 27, 6, 0, 0, [DateTimeKind]::Utc); tags = @('x', 2.5, $null, $true) }
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode($value)
        $encoded.Item1 | Should -BeExactly '{"a":1,"when":"2026-11-27T06:00:00.0000000Z","tags":["x",2.5,null,true]}'
        $encoded.Item2 | Should -BeExactly '[[[],"ordered"],[["when"],"datetime"]]'

        # What a reader without the hints gets: the plain JSON mapping.
        $plain = [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $null)
        $plain | Should -BeOfType [hashtable]
        $plain.when | Should -BeOfType [string]
        $plain.when | Should -BeExactly '2026-11-27T06:00:00.0000000Z'
    }
}

Describe 'DataCodec containers' {
    It 'produces no hints for plain data' {
        $value = @{ Name = 'x'; Number = 3; Ratio = 0.5; On = $true; Off = $null; List = @(1, 'two', 3.0, @(4)); Inner = @{ Deeper = @{ Deepest = 'y' } } }
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode($value)
        $encoded.Item2 | Should -BeNullOrEmpty

        $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $encoded.Item2)
        $decoded | Should -BeOfType [hashtable]
        $decoded.Keys.Count | Should -Be 7
        $decoded.Number | Should -BeOfType [int]
        $decoded.List[2] | Should -BeOfType [double]
        $decoded.Inner.Deeper.Deepest | Should -BeExactly 'y'
    }

    It 'round-trips hashtables nested 3 deep with mixed types' {
        $when = [datetime]::new(2026, 1, 2, 3, 4, 5, [DateTimeKind]::Utc)
        $value = @{
            Level1 = @{
                Int    = 1
                Long   = 2L
                Level2 = @{
                    Double = 2.5
                    Level3 = @{
                        When    = $when
                        Decimal = 9.99d
                        Text    = 'deep'
                        Flag    = $false
                        Nothing = $null
                        Items   = @(1, 2L, 'three')
                    }
                }
            }
        }
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode($value)
        $encoded.Item2.Contains('[["Level1","Level2","Level3","When"],"datetime"]') | Should -BeTrue
        $encoded.Item2.Contains('[["Level1","Level2","Level3","Items",1],"long"]') | Should -BeTrue
        $encoded.Item2.Contains('[["Level1","Long"],"long"]') | Should -BeTrue

        $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $encoded.Item2)
        $decoded | Should -BeOfType [hashtable]
        $decoded.Level1 | Should -BeOfType [hashtable]
        $decoded.Level1.Int | Should -BeOfType [int]
        $decoded.Level1.Int | Should -Be 1
        $decoded.Level1.Long | Should -BeOfType [long]
        $decoded.Level1.Long | Should -Be 2
        $decoded.Level1.Level2 | Should -BeOfType [hashtable]
        $decoded.Level1.Level2.Double | Should -BeOfType [double]
        $decoded.Level1.Level2.Double | Should -Be 2.5
        $level3 = $decoded.Level1.Level2.Level3
        $level3 | Should -BeOfType [hashtable]
        $level3.Count | Should -Be 6
        $level3.When | Should -BeOfType [datetime]
        $level3.When | Should -Be $when
        $level3.When.Kind | Should -Be 'Utc'
        $level3.Decimal | Should -BeOfType [decimal]
        $level3.Decimal | Should -Be 9.99d
        $level3.Text | Should -BeExactly 'deep'
        $level3.Flag | Should -BeOfType [bool]
        $level3.Flag | Should -BeFalse
        $level3.ContainsKey('Nothing') | Should -BeTrue
        $level3.Nothing | Should -BeNullOrEmpty
        Should -ActualValue $level3.Items -BeOfType [object[]]
        $level3.Items[0] | Should -BeOfType [int]
        $level3.Items[1] | Should -BeOfType [long]
        $level3.Items[2] | Should -BeExactly 'three'
    }

    It 'round-trips arrays of mixed types, nested arrays, nulls and single-element arrays' {
        $value = @(1, 'two', 3.0, $true, $null, @(4, @(5, @(6))), @('only'), @{ k = 'v' }, [long]7)
        $decoded = Invoke-RoundTrip $value
        Should -ActualValue $decoded -BeOfType [object[]]
        $decoded.Count | Should -Be 9
        $decoded[0] | Should -BeOfType [int]
        $decoded[0] | Should -Be 1
        $decoded[1] | Should -BeOfType [string]
        $decoded[1] | Should -BeExactly 'two'
        $decoded[2] | Should -BeOfType [double]
        $decoded[2] | Should -Be 3
        $decoded[3] | Should -BeOfType [bool]
        $decoded[3] | Should -BeTrue
        $decoded[4] | Should -BeNullOrEmpty
        Should -ActualValue $decoded[5] -BeOfType [object[]]
        $decoded[5].Count | Should -Be 2
        Should -ActualValue $decoded[5][1] -BeOfType [object[]]
        Should -ActualValue $decoded[5][1][1] -BeOfType [object[]]
        $decoded[5][1][1].Count | Should -Be 1
        $decoded[5][1][1][0] | Should -BeOfType [int]
        $decoded[5][1][1][0] | Should -Be 6
        Should -ActualValue $decoded[6] -BeOfType [object[]]
        $decoded[6].Count | Should -Be 1
        $decoded[6][0] | Should -BeExactly 'only'
        $decoded[7] | Should -BeOfType [hashtable]
        $decoded[7].k | Should -BeExactly 'v'
        $decoded[8] | Should -BeOfType [long]
        $decoded[8] | Should -Be 7
    }

    It 'keeps a single-element array an array, at the root and as a value' {
        $decoded = Invoke-RoundTrip @(42)
        Should -ActualValue $decoded -BeOfType [object[]]
        $decoded.Count | Should -Be 1
        $decoded[0] | Should -BeOfType [int]

        $decoded = Invoke-RoundTrip @{ List = @('x') }
        Should -ActualValue $decoded.List -BeOfType [object[]]
        $decoded.List.Count | Should -Be 1
        $decoded.List[0] | Should -BeExactly 'x'
    }

    It 'round-trips an empty <Name>' -ForEach @(
        @{ Name = 'hashtable'; Value = @{}; Type = [hashtable]; Json = '{}'; Hints = $null }
        @{ Name = 'array'; Value = @(); Type = [object[]]; Json = '[]'; Hints = $null }
        @{ Name = 'ordered dictionary'; Value = [ordered]@{}; Type = [System.Collections.Specialized.OrderedDictionary]; Json = '{}'; Hints = '[[[],"ordered"]]' }
        @{ Name = 'PSCustomObject'; Value = [pscustomobject]@{}; Type = [System.Management.Automation.PSCustomObject]; Json = '{}'; Hints = '[[[],"pscustomobject"]]' }
    ) {
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode($Value)
        $encoded.Item1 | Should -BeExactly $Json
        $encoded.Item2 | Should -BeExactly $Hints
        $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $encoded.Item2)
        Should -ActualValue $decoded -BeOfType $Type
        @($decoded.psobject.Properties.Where({ $_.MemberType -eq 'NoteProperty' })).Count | Should -Be 0
        if ($decoded -is [System.Collections.ICollection]) { $decoded.Count | Should -Be 0 }
    }

    It 'keeps null values inside hashtables and arrays' {
        $decoded = Invoke-RoundTrip @{ A = $null; B = @($null, $null); C = @{ D = $null } }
        $decoded | Should -BeOfType [hashtable]
        $decoded.Keys.Count | Should -Be 3
        $decoded.ContainsKey('A') | Should -BeTrue
        $decoded.A | Should -BeNullOrEmpty
        Should -ActualValue $decoded.B -BeOfType [object[]]
        $decoded.B.Count | Should -Be 2
        $decoded.C | Should -BeOfType [hashtable]
        $decoded.C.ContainsKey('D') | Should -BeTrue
    }

    It 'gives hashtables with case-insensitive keys' {
        $decoded = Invoke-RoundTrip @{ UserName = 'ada'; Inner = @{ Port = 80 } }
        $decoded | Should -BeOfType [hashtable]
        $decoded['USERNAME'] | Should -BeExactly 'ada'
        $decoded.username | Should -BeExactly 'ada'
        $decoded.ContainsKey('username') | Should -BeTrue
        $decoded.INNER.port | Should -BeOfType [int]
        $decoded.INNER.port | Should -Be 80
    }

    It 'keeps the key order of ConvertFrom-Json -AsHashtable''s ordered hashtable' {
        $value = '{"z":1,"y":2,"a":3}' | ConvertFrom-Json -AsHashtable
        $decoded = Invoke-RoundTrip $value
        @($decoded.Keys) | Should -Be @('z', 'y', 'a')
    }

    It 'keeps both keys of a case-sensitive dictionary whose keys differ only in case' {
        $value = [System.Collections.Generic.Dictionary[string, object]]::new()
        $value['a'] = 1
        $value['A'] = 2
        $decoded = Invoke-RoundTrip $value
        $decoded.Count | Should -Be 2
        $decoded['a'] | Should -Be 1
        $decoded['A'] | Should -Be 2
        # A plain hashtable stays case-insensitive, as PowerShell users expect.
        (Invoke-RoundTrip @{ Name = 1 })['NAME'] | Should -Be 1
    }

    It 'keeps the key order of an [ordered] dictionary' {
        $value = [ordered]@{ Zulu = 1; Alpha = 'a'; Mike = [ordered]@{ Y = 1; X = 2 }; Bravo = $null }
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode($value)
        $encoded.Item1 | Should -BeExactly '{"Zulu":1,"Alpha":"a","Mike":{"Y":1,"X":2},"Bravo":null}'
        $encoded.Item2 | Should -BeExactly '[[[],"ordered"],[["Mike"],"ordered"]]'

        $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $encoded.Item2)
        $decoded | Should -BeOfType [System.Collections.Specialized.OrderedDictionary]
        @($decoded.Keys) | Should -Be @('Zulu', 'Alpha', 'Mike', 'Bravo')
        $decoded.Mike | Should -BeOfType [System.Collections.Specialized.OrderedDictionary]
        @($decoded.Mike.Keys) | Should -Be @('Y', 'X')
        $decoded['zulu'] | Should -Be 1
    }

    It 'keeps a PSCustomObject, its property order and the types of its values' {
        $value = [pscustomobject]@{ Zeta = 1; Alpha = 'a'; When = [datetime]::new(2026, 5, 6, 0, 0, 0, [DateTimeKind]::Utc); Inner = [pscustomobject]@{ B = 2L; A = 1 } }
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode($value)
        $encoded.Item1 | Should -BeExactly '{"Zeta":1,"Alpha":"a","When":"2026-05-06T00:00:00.0000000Z","Inner":{"B":2,"A":1}}'

        $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $encoded.Item2)
        $decoded | Should -BeOfType [System.Management.Automation.PSCustomObject]
        $decoded.psobject.Properties.Name | Should -Be @('Zeta', 'Alpha', 'When', 'Inner')
        $decoded.Zeta | Should -BeOfType [int]
        $decoded.When | Should -BeOfType [datetime]
        $decoded.Inner | Should -BeOfType [System.Management.Automation.PSCustomObject]
        $decoded.Inner.psobject.Properties.Name | Should -Be @('B', 'A')
        $decoded.Inner.B | Should -BeOfType [long]
        $decoded.Inner.B | Should -Be 2
    }

    It 'unwraps values that cmdlets wrapped in PSObject' {
        $value = @{ When = Get-Date; Number = Write-Output 5; Long = Write-Output 5L; Items = Write-Output 'a', 'b' }
        $decoded = Invoke-RoundTrip $value
        $decoded | Should -BeOfType [hashtable]
        $decoded.When | Should -BeOfType [datetime]
        $decoded.When | Should -Be $value.When
        $decoded.Number | Should -BeOfType [int]
        $decoded.Number | Should -Be 5
        $decoded.Long | Should -BeOfType [long]
        $decoded.Long | Should -Be 5
        Should -ActualValue $decoded.Items -BeOfType [object[]]
        $decoded.Items | Should -Be @('a', 'b')
    }

    It 'sends a switch as a bool and DBNull as null' {
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode([ordered]@{ Switch = [switch]$true; Missing = [DBNull]::Value })
        $encoded.Item1 | Should -BeExactly '{"Switch":true,"Missing":null}'
        $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $encoded.Item2)
        $decoded.Switch | Should -BeOfType [bool]
        $decoded.Switch | Should -BeTrue
        $decoded.Contains('Missing') | Should -BeTrue
        $decoded.Missing | Should -BeNullOrEmpty
    }

    It 'sends other dictionaries and collections as hashtables and arrays' {
        $dictionary = [System.Collections.Generic.Dictionary[string, int]]::new()
        $dictionary['one'] = 1
        $list = [System.Collections.Generic.List[long]]::new()
        $list.Add(5000000000)
        $list.Add(5)
        $decoded = Invoke-RoundTrip @{ Dictionary = $dictionary; List = $list; Keys = @{ 1 = 'x' } }
        $decoded.Dictionary | Should -BeOfType [hashtable]
        $decoded.Dictionary.one | Should -BeOfType [int]
        $decoded.Dictionary.one | Should -Be 1
        Should -ActualValue $decoded.List -BeOfType [object[]]
        $decoded.List[0] | Should -BeOfType [long]
        $decoded.List[0] | Should -Be 5000000000
        $decoded.List[1] | Should -BeOfType [long]
        $decoded.List[1] | Should -Be 5
        # Keys become text.
        $decoded.Keys | Should -BeOfType [hashtable]
        $decoded.Keys['1'] | Should -BeExactly 'x'
    }

    It 'sends any other object as a PSCustomObject of its public properties' {
        $pair = [System.Collections.Generic.KeyValuePair[string, int]]::new('answer', 42)
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode($pair)
        $encoded.Item1 | Should -BeExactly '{"Key":"answer","Value":42}'
        $encoded.Item2 | Should -BeExactly '[[[],"pscustomobject"]]'
        $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode($encoded.Item1, $encoded.Item2)
        $decoded | Should -BeOfType [System.Management.Automation.PSCustomObject]
        $decoded.Key | Should -BeExactly 'answer'
        $decoded.Value | Should -BeOfType [int]
        $decoded.Value | Should -Be 42
    }

    It 'expands arbitrary objects only a few levels, so self-referencing graphs stay small' {
        $directory = Get-Item -LiteralPath $TestDrive   # DirectoryInfo.Root.Root... is itself
        $decoded = Invoke-RoundTrip $directory
        $decoded | Should -BeOfType [System.Management.Automation.PSCustomObject]
        $decoded.FullName | Should -BeExactly $directory.FullName
        $decoded.LastWriteTimeUtc | Should -BeOfType [datetime]
        $decoded.Root | Should -BeOfType [System.Management.Automation.PSCustomObject]
        $decoded.Root.Root | Should -BeOfType [string]
    }
}

Describe 'DataCodec depth limit' {
    It 'accepts 64 levels of nesting' {
        $decoded = Invoke-RoundTrip (New-NestedHashtable -Levels 64)
        $decoded | Should -BeOfType [hashtable]
        $node = $decoded
        for ($i = 1; $i -lt 64; $i++) { $node = $node.Child }
        $node | Should -BeOfType [hashtable]
        $node.Leaf | Should -BeExactly 'bottom'
    }

    It 'refuses 65 levels, naming the path where the limit was hit' {
        $value = New-NestedHashtable -Levels 65
        $thrown = { [ModuleCommunication.Serialization.DataCodec]::Encode($value) } | Should -Throw -PassThru
        $inner = $thrown.Exception.InnerException
        $inner | Should -BeOfType [ArgumentException]
        $inner.Message | Should -BeLike ('*at $' + ('.Child' * 64) + '.*')
        $inner.Message | Should -BeLike '*Flatten the data*'
    }

    It 'names array indexes in the path' {
        $value = 'leaf'
        for ($i = 0; $i -lt 65; $i++) { $value = , $value }
        $thrown = { [ModuleCommunication.Serialization.DataCodec]::Encode($value) } | Should -Throw -PassThru
        $inner = $thrown.Exception.InnerException
        $inner | Should -BeOfType [ArgumentException]
        $inner.Message.Contains('at $' + ('[0]' * 64) + '.') | Should -BeTrue
    }

    It 'refuses data that contains itself' {
        $value = @{ Name = 'loop' }
        $value['Self'] = $value
        $thrown = { [ModuleCommunication.Serialization.DataCodec]::Encode($value) } | Should -Throw -PassThru
        $inner = $thrown.Exception.InnerException
        $inner | Should -BeOfType [ArgumentException]
        $inner.Message | Should -BeLike '*$.Self.Self.Self*'
        $inner.Message | Should -BeLike '*cycle*'

        # The failure leaves nothing behind for the next message on this thread.
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode(@{ After = [long]1 })
        $encoded.Item1 | Should -BeExactly '{"After":1}'
        $encoded.Item2 | Should -BeExactly '[[["After"],"long"]]'
    }
}

Describe 'DataCodec dictionary keys' {
    It 'sends keys as text, so @{ 1 = ''a'' } arrives with the key ''1''' {
        $decoded = Invoke-RoundTrip @{ 1 = 'a'; 2 = 'b' }
        $decoded['1'] | Should -BeExactly 'a'
        $decoded['2'] | Should -BeExactly 'b'
    }

    It 'sends date keys in round-trip form, so two of the same second stay two keys' {
        $first = [datetime]::new(2026, 11, 28, 6, 0, 0, [DateTimeKind]::Utc)
        $value = @{}
        $value[$first] = 1
        $value[$first.AddTicks(1)] = 2
        $decoded = Invoke-RoundTrip $value
        $decoded.Count | Should -Be 2
        $decoded['2026-11-28T06:00:00.0000000Z'] | Should -Be 1
        $decoded['2026-11-28T06:00:00.0000001Z'] | Should -Be 2
    }

    It 'refuses two keys that would arrive as one (<Case>), naming where' -ForEach @(
        @{ Case = '1 and ''1'''; Make = { $h = @{}; $h[1] = 'int'; $h['1'] = 'text'; $h }; Key = '1' }
        @{ Case = 'an enum and its name'; Make = { $h = @{}; $h[[DayOfWeek]::Monday] = 'enum'; $h['Monday'] = 'text'; $h }; Key = 'Monday' }
        # A lone UTF-16 surrogate is sent as U+FFFD, so these two keys would meet.
        @{ Case = 'two lone surrogates'; Make = { $h = @{}; $h["k$([char]0xD800)"] = 'high'; $h["k$([char]0xDC00)"] = 'low'; $h }; Key = "k$([char]0xFFFD)" }
    ) {
        $value = @{ Outer = (& $Make) }
        $thrown = { [ModuleCommunication.Serialization.DataCodec]::Encode($value) } | Should -Throw -PassThru
        $inner = $thrown.Exception.InnerException
        $inner | Should -BeOfType [ArgumentException]
        $inner.Message | Should -BeLike "*two keys at `$.Outer that would both arrive as '$Key'*"
        $inner.Message | Should -BeLike '*Rename one*'

        # Nothing is left behind for the next value on this thread.
        $encoded = [ModuleCommunication.Serialization.DataCodec]::Encode(@{ a = 1; b = 2 })
        (Invoke-RoundTrip @{ a = 1; b = 2 }).Count | Should -Be 2
    }

    It 'makes Publish-ModuleMessage refuse such data and publish nothing' {
        $channel = 'Keys-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        New-MessageChannel -Name $channel | Out-Null
        try {
            $h = @{}; $h[1] = 'int'; $h['1'] = 'text'
            { Publish-ModuleMessage -Channel $channel -MessageType 'T' -Data $h -ErrorAction Stop } |
                Should -Throw -ErrorId 'InvalidMessageData,ModuleCommunication.Commands.PublishModuleMessageCommand'
            (Get-MessageChannels -Name $channel).Published | Should -Be 0
        } finally {
            Remove-MessageChannel -Name $channel -Force | Out-Null
        }
    }
}

Describe 'DataCodec reading JSON from other producers' {
    It 'maps <Json> to <Type> without hints' -ForEach @(
        @{ Json = '7'; Type = [int]; Expected = 7 }
        @{ Json = '-2147483648'; Type = [int]; Expected = -2147483648 }
        @{ Json = '3000000000'; Type = [long]; Expected = 3000000000 }
        @{ Json = '100000000000000000000'; Type = [double]; Expected = 1e20 }
        @{ Json = '1.5'; Type = [double]; Expected = 1.5 }
        @{ Json = '1e3'; Type = [double]; Expected = 1000.0 }
        @{ Json = '2.0'; Type = [double]; Expected = 2.0 }
        @{ Json = '"text"'; Type = [string]; Expected = 'text' }
        @{ Json = 'true'; Type = [bool]; Expected = $true }
    ) {
        $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode($Json, $null)
        $decoded | Should -BeOfType $Type
        $decoded.GetType() | Should -Be $Type
        $decoded | Should -Be $Expected
    }

    It 'ignores unknown hints and hints that do not fit the value' {
        $decoded = [ModuleCommunication.Serialization.DataCodec]::Decode('{"a":"x","b":5,"c":[1]}', '[[["a"],"no-such-type"],[["b"],"datetime"],[["c"],"ordered"],[["zz"],"long"]]')
        $decoded | Should -BeOfType [hashtable]
        $decoded.a | Should -BeExactly 'x'
        $decoded.b | Should -BeOfType [int]
        $decoded.b | Should -Be 5
        Should -ActualValue $decoded.c -BeOfType [object[]]
    }

    It 'reads hints through WriteValue, TypeHints and ReadValue' {
        $buffer = [System.Buffers.ArrayBufferWriter[byte]]::new()
        $writer = [System.Text.Json.Utf8JsonWriter]::new($buffer, [ModuleCommunication.Serialization.DataCodec]::WriterOptions)
        $hints = [ModuleCommunication.Serialization.TypeHints]::new()
        [ModuleCommunication.Serialization.DataCodec]::WriteValue($writer, @{ Items = @(1, 2, [long]3) }, $hints)
        $writer.Flush()
        $hints.IsEmpty | Should -BeFalse
        $hints.ToString() | Should -BeExactly '[[["Items",2],"long"]]'

        $data = [System.Text.Json.JsonDocument]::Parse([System.Text.Encoding]::UTF8.GetString($buffer.WrittenMemory.ToArray()))
        $hintDocument = [System.Text.Json.JsonDocument]::Parse($hints.ToString())
        try {
            $decoded = [ModuleCommunication.Serialization.DataCodec]::ReadValue($data.RootElement, $hintDocument.RootElement)
            $decoded.Items[2] | Should -BeOfType [long]
            $decoded.Items[2] | Should -Be 3
            $plain = [ModuleCommunication.Serialization.DataCodec]::ReadValue($data.RootElement, [System.Text.Json.JsonElement]::new())
            $plain.Items[2] | Should -BeOfType [int]
            $plain.Items[2] | Should -Be 3
        }
        finally {
            $data.Dispose()
            $hintDocument.Dispose()
            $writer.Dispose()
        }
    }
}
