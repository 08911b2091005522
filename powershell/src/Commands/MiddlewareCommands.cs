using System.Collections.Generic;
using System.Management.Automation;
using ModuleCommunication.Core;
using ModuleCommunication.Native;

namespace ModuleCommunication.Commands
{
    /// <summary>
    /// Add-APIMiddleware: runs a script block around API calls, called as param($Context, $Next).
    /// Lower -Priority runs outer; equal priorities run in the order they were added.
    /// </summary>
    [Cmdlet(VerbsCommon.Add, "APIMiddleware", SupportsShouldProcess = true, DefaultParameterSetName = GlobalSet)]
    [OutputType(typeof(MiddlewareInfo))]
    public sealed class AddAPIMiddlewareCommand : ApiRegistryCmdlet
    {
        private const string GlobalSet = "Global";
        private const string ApiSet = "OneAPI";

        /// <summary>Unique name (case-insensitive).</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string Name { get; set; } = string.Empty;

        /// <summary>Called as param($Context, $Next); continue with &amp; $Next $Context.</summary>
        [Parameter(Mandatory = true, Position = 1)]
        public ScriptBlock Handler { get; set; } = null!;

        /// <summary>Lower runs outer (default 100).</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        public int Priority { get; set; } = Registry.DefaultMiddlewarePriority;

        /// <summary>Only for the API of this module (with -APIName).</summary>
        [Parameter(Mandatory = true, ParameterSetName = ApiSet, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ApiModuleNameCompleter))]
        public string? ModuleName { get; set; }

        /// <summary>Only for this API (with -ModuleName).</summary>
        [Parameter(Mandatory = true, ParameterSetName = ApiSet, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ApiNameCompleter))]
        public string? APIName { get; set; }

        /// <summary>Replace middleware of the same name, keeping its place among equal priorities.</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            string scope = ModuleName != null ? $" for {ModuleName}.{APIName}" : " for every API";
            if (!ShouldProcess(Name, "Add API middleware" + scope)) return;
            try
            {
                WriteObject(Registry.AddMiddleware(this, Name, Priority, Handler, ModuleName, APIName, Force));
            }
            catch (ModuleCommunicationException e)
            {
                // Non-terminating: with pipeline input the other middleware still get added, and
                // -ErrorAction applies.
                object target = (McStatus)e.Status == McStatus.ApiNotFound ? $"{ModuleName}.{APIName}" : Name;
                WriteError(RegistryError(e, target));
            }
        }
    }

    /// <summary>Get-APIMiddleware: lists middleware in the order it runs.</summary>
    [Cmdlet(VerbsCommon.Get, "APIMiddleware")]
    [OutputType(typeof(MiddlewareInfo))]
    public sealed class GetAPIMiddlewareCommand : ApiRegistryCmdlet
    {
        /// <summary>Name or -like pattern (default: all).</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(MiddlewareNameCompleter))]
        public string Name { get; set; } = "*";

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            try
            {
                List<MiddlewareInfo> found = Registry.ListMiddleware(Name);
                if (found.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(Name))
                {
                    WriteError(NewError("MiddlewareNotFound", ErrorCategory.ObjectNotFound, Name,
                        $"Middleware '{Name}' does not exist.", "List middleware with Get-APIMiddleware."));
                    return;
                }
                foreach (MiddlewareInfo m in found) WriteObject(m);
            }
            catch (ModuleCommunicationException e)
            {
                WriteError(RegistryError(e, Name));
            }
        }
    }

    /// <summary>Remove-APIMiddleware: removes middleware by name.</summary>
    [Cmdlet(VerbsCommon.Remove, "APIMiddleware", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(MiddlewareRemovalResult))]
    public sealed class RemoveAPIMiddlewareCommand : ApiRegistryCmdlet
    {
        /// <summary>The middleware's name.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(MiddlewareNameCompleter))]
        public string Name { get; set; } = string.Empty;

        /// <summary>Do not ask for confirmation.</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            if (!ShouldProceed(Force, Name, "Remove API middleware")) return;
            try
            {
                Registry.RemoveMiddleware(Name);
                WriteObject(new MiddlewareRemovalResult { Success = true, Name = Name });
            }
            catch (ModuleCommunicationException e)
            {
                WriteError(RegistryError(e, Name));
            }
        }
    }
}
