using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using ModuleCommunication.Core;
using ModuleCommunication.Native;

namespace ModuleCommunication.Commands
{
    /// <summary>
    /// Enable-CommunicationSecurity: turns on the security check of API calls, publishing and
    /// subscribing; optionally requires a token, limits which modules may hold tokens, and sets
    /// the default token lifetime.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Enable, "CommunicationSecurity", SupportsShouldProcess = true)]
    [OutputType(typeof(CommunicationSecurity))]
    public sealed class EnableCommunicationSecurityCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Guarded operations need a valid token (without it, a token is checked only when given).</summary>
        [Parameter]
        public SwitchParameter RequireAuthentication { get; set; }

        /// <summary>Lifetime, in minutes, of tokens created without -ExpirationMinutes.</summary>
        [Parameter]
        [ValidateRange(1, 525600)]
        public int DefaultTokenExpiration { get; set; }

        /// <summary>Modules that may hold tokens (names or wildcards); an empty list allows every module.</summary>
        [Parameter]
        [AllowEmptyCollection]
        public string[] AllowedModules { get; set; } = Array.Empty<string>();

        /// <summary>Write the resulting settings.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            var settings = new Dictionary<string, object>();
            if (MyInvocation.BoundParameters.ContainsKey(nameof(RequireAuthentication))) settings["requireAuthentication"] = RequireAuthentication.IsPresent;
            if (MyInvocation.BoundParameters.ContainsKey(nameof(DefaultTokenExpiration))) settings["defaultTokenExpirationMinutes"] = (long)DefaultTokenExpiration;
            if (MyInvocation.BoundParameters.ContainsKey(nameof(AllowedModules))) settings["allowedModules"] = AllowedModules ?? Array.Empty<string>();
            if (!ShouldProcess("communication security", "Enable")) return;
            try
            {
                Tokens.Enable(settings);
                if (PassThru) WriteObject(Tokens.Get());
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, SettingTarget(e, settings));
            }
        }
    }

    /// <summary>Disable-CommunicationSecurity: stops checking guarded operations; settings and tokens stay.</summary>
    [Cmdlet(VerbsLifecycle.Disable, "CommunicationSecurity", SupportsShouldProcess = true)]
    [OutputType(typeof(CommunicationSecurity))]
    public sealed class DisableCommunicationSecurityCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Write the resulting settings.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            if (!ShouldProcess("communication security", "Disable")) return;
            try
            {
                Tokens.Disable();
                if (PassThru) WriteObject(Tokens.Get());
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, null);
            }
        }
    }

    /// <summary>
    /// New-AuthenticationToken: creates a token for a module with scopes and a lifetime. Its text
    /// is in the Token property of the result, this once; the module keeps only a digest.
    /// </summary>
    [Cmdlet(VerbsCommon.New, "AuthenticationToken", SupportsShouldProcess = true)]
    [OutputType(typeof(AuthenticationToken))]
    public sealed class NewAuthenticationTokenCommand : ModuleCommunicationCmdlet
    {
        /// <summary>The module that will present the token.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string ModuleName { get; set; } = string.Empty;

        /// <summary>Who the token is for (shown in listings and as the API call's User).</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        public string? User { get; set; }

        /// <summary>What the token allows: api:call, events:publish, events:subscribe, messages:publish, messages:subscribe, each optionally ':pattern' (api:call:LabRunner.*).</summary>
        [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ScopeCompleter))]
        public string[] Scopes { get; set; } = Array.Empty<string>();

        /// <summary>Lifetime in minutes (default: the security settings' DefaultTokenExpiration).</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateRange(1, 525600)]
        public int ExpirationMinutes { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            long? minutes = MyInvocation.BoundParameters.ContainsKey(nameof(ExpirationMinutes)) ? ExpirationMinutes : null;
            if (!ShouldProcess(ModuleName, $"Create a token with scopes {string.Join(", ", Scopes)}")) return;
            try
            {
                WriteObject(Tokens.Create(ModuleName, User, Scopes, minutes));
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, ModuleName);
            }
        }
    }

    /// <summary>Revoke-AuthenticationToken: revokes tokens by module, by id, or all; a revoked token fails like an unknown one.</summary>
    [Cmdlet(VerbsSecurity.Revoke, "AuthenticationToken", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High,
        DefaultParameterSetName = ById)]
    [OutputType(typeof(AuthenticationTokenInfo))]
    public sealed class RevokeAuthenticationTokenCommand : ModuleCommunicationCmdlet
    {
        private const string ById = "ById";
        private const string ByModule = "ByModule";
        private const string AllSet = "All";

        /// <summary>Revoke every token of these modules (names or wildcards).</summary>
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByModule)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(TokenModuleCompleter))]
        public string[] ModuleName { get; set; } = Array.Empty<string>();

        /// <summary>Revoke these tokens (ids from New-AuthenticationToken or Get-AuthenticationTokens).</summary>
        [Parameter(Mandatory = true, ParameterSetName = ById, ValueFromPipelineByPropertyName = true)]
        [ArgumentCompleter(typeof(TokenIdCompleter))]
        public Guid[] TokenId { get; set; } = Array.Empty<Guid>();

        /// <summary>Revoke every token.</summary>
        [Parameter(Mandatory = true, ParameterSetName = AllSet)]
        public SwitchParameter All { get; set; }

        /// <summary>Revoke without asking for confirmation.</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <summary>Write the metadata of the revoked tokens.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            try
            {
                switch (ParameterSetName)
                {
                    case ById:
                        foreach (Guid id in TokenId) RevokeOne(id);
                        break;
                    case ByModule:
                        foreach (string module in ModuleName) RevokeModule(module);
                        break;
                    default:
                        RevokeModule("*");
                        break;
                }
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, ParameterSetName == ById ? TokenId : ModuleName);
            }
        }

        // The live tokens by id, listed once for all the ids piped in (listing per id made
        // Get-AuthenticationTokens | Revoke-AuthenticationToken quadratic); listed again
        // when an id is not in it, in case the token was created meanwhile.
        private Dictionary<Guid, AuthenticationTokenInfo>? _tokens;

        private AuthenticationTokenInfo? FindToken(Guid id)
        {
            if (_tokens != null && _tokens.TryGetValue(id, out AuthenticationTokenInfo? known)) return known;
            _tokens = Tokens.List(null).ToDictionary(t => t.TokenId);
            return _tokens.GetValueOrDefault(id);
        }

        private void RevokeOne(Guid id)
        {
            AuthenticationTokenInfo? info = FindToken(id);
            if (info == null)
            {
                WriteError(NewError("TokenNotFound", ErrorCategory.ObjectNotFound, id,
                    $"No token has the id '{id}' (never created, already revoked, or expired).", "List tokens with Get-AuthenticationTokens."));
                return;
            }
            if (!ShouldProceed(Force, $"token {id} of module '{info.ModuleName}'", "Revoke")) return;
            try
            {
                Tokens.RevokeId(id);
                _tokens?.Remove(id);
                if (PassThru) WriteObject(info);
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, id);
            }
        }

        private void RevokeModule(string pattern)
        {
            List<AuthenticationTokenInfo> tokens = Tokens.List(pattern);
            if (tokens.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(pattern))
            {
                WriteError(NoTokenOf(pattern));
                return;
            }
            string target = pattern == "*" ? "every authentication token" : $"the tokens of module '{pattern}' ({tokens.Count})";
            if (!ShouldProceed(Force, target, "Revoke")) return;
            long n = Tokens.RevokeModule(pattern);
            WriteVerbose($"Revoked {n} token(s) of '{pattern}'.");
            if (PassThru) WriteObject(tokens, enumerateCollection: true);
        }
    }

    /// <summary>Get-AuthenticationTokens: lists tokens without their secrets; expired tokens are purged first.</summary>
    [Cmdlet(VerbsCommon.Get, "AuthenticationTokens")]
    [OutputType(typeof(AuthenticationTokenInfo))]
    public sealed class GetAuthenticationTokensCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Only tokens of these modules (names or wildcards).</summary>
        [Parameter(Position = 0)]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(TokenModuleCompleter))]
        public string ModuleName { get; set; } = "*";

        /// <summary>Only this token.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ArgumentCompleter(typeof(TokenIdCompleter))]
        public Guid? TokenId { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            try
            {
                bool found = false;
                foreach (AuthenticationTokenInfo t in Tokens.List(ModuleName))
                {
                    if (TokenId.HasValue && t.TokenId != TokenId.Value) continue;
                    WriteObject(t);
                    found = true;
                }
                // An id names one token: a typo must not read as "no tokens".
                if (TokenId.HasValue && !found)
                {
                    WriteError(NewError("TokenNotFound", ErrorCategory.ObjectNotFound, TokenId.Value,
                        $"No live token has the id {TokenId.Value}{(ModuleName != "*" ? $" for module '{ModuleName}'" : "")}: it does not exist, was revoked or has expired.",
                        "List the live tokens with Get-AuthenticationTokens."));
                }
                // So does a plain module name.
                else if (!found && !WildcardPattern.ContainsWildcardCharacters(ModuleName))
                {
                    WriteError(NoTokenOf(ModuleName));
                }
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, ModuleName);
            }
        }
    }
}
