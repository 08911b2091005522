using System.Management.Automation;

namespace ModuleCommunication.Commands
{
    /// <summary>
    /// Refuses null, empty and whitespace-only text: a path of spaces would otherwise name a file
    /// called "   " in the current folder. (PowerShell's own ValidateNotNullOrWhiteSpace is newer
    /// than the reference assemblies this module builds against.)
    /// </summary>
    public sealed class ValidateNotBlankAttribute : ValidateArgumentsAttribute
    {
        /// <inheritdoc/>
        protected override void Validate(object arguments, EngineIntrinsics engineIntrinsics)
        {
            object value = arguments is PSObject p ? p.BaseObject : arguments;
            if (value is not string text || string.IsNullOrWhiteSpace(text))
            {
                throw new ValidationMetadataException($"'{value}' is empty or only spaces; give a path.");
            }
        }
    }
}
