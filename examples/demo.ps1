# Placeholder demo: imports the built module and prints its version.
# build/demo.sh sets MC_MODULE_PSD1 to the built manifest.
$psd1 = if ($env:MC_MODULE_PSD1) { $env:MC_MODULE_PSD1 } else {
    Join-Path $PSScriptRoot '../artifacts/module/ModuleCommunication/ModuleCommunication.psd1'
}
$module = Import-Module $psd1 -Force -PassThru -ErrorAction Stop
"$($module.Name) $($module.Version) loaded from $($module.ModuleBase)"
