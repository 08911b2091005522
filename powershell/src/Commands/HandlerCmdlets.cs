using System;
using System.Threading;
using System.Management.Automation;
using ModuleCommunication.Core;
using ModuleCommunication.Native;
using ModuleCommunication.Threading;

namespace ModuleCommunication.Commands
{
    /// <summary>
    /// Parameters and work shared by Register-ModuleMessageHandler and
    /// Register-ModuleEventHandler: the handler, its filter, where it runs, and its queue.
    /// Subclasses add what selects the messages or events and build the subscription source.
    /// </summary>
    public abstract class HandlerRegistrationCmdlet : ModuleCommunicationCmdlet
    {
        /// <summary>Called with the message or event as its first argument.</summary>
        [Parameter(Mandatory = true, Position = 1)]
        public ScriptBlock Handler { get; set; } = null!;

        /// <summary>Called like the handler, first; the handler runs only when it returns true.</summary>
        [Parameter]
        public ScriptBlock? Filter { get; set; }

        /// <summary>Only from this source module (or -like pattern).</summary>
        [Parameter]
        [SupportsWildcards]
        public string? SourceModule { get; set; }

        /// <summary>Run the handler on a private runspace pool, even while this thread is busy.</summary>
        [Parameter]
        public SwitchParameter RunAsync { get; set; }

        /// <summary>-RunAsync only: extra values passed to the handler after the message or event.</summary>
        [Parameter]
        public object[] ArgumentList
        {
            get => _argumentList;
            // -ArgumentList $null binds null: it means "no values", as leaving the parameter out does.
            set => _argumentList = value ?? Array.Empty<object>();
        }
        private object[] _argumentList = Array.Empty<object>();

        /// <summary>Queue capacity (default: the channel's MaxMessages or MaxMessageQueueSize).</summary>
        [Parameter]
        [ValidateRange(1L, 100_000_000L)] // long limits: int ones make PowerShell refuse any value above 2^31 with a type error
        public long MaxQueueSize { get; set; }

        /// <summary>What a full queue does (default: the configured DefaultOverflowPolicy).</summary>
        [Parameter]
        public OverflowPolicy OverflowPolicy { get; set; }

        /// <summary>Block policy: how long a publisher waits for room (seconds or TimeSpan).</summary>
        [Parameter]
        [SecondsTransformation(MaxSeconds = 3600)] // the core's limit: one hour
        public TimeSpan BlockTimeout { get; set; }

        /// <summary>A token from New-AuthenticationToken, checked while security is enabled (Enable-CommunicationSecurity).</summary>
        [Parameter]
        public string? AuthenticationToken { get; set; }

        /// <summary>The overflow policy when the user chose one, else null (the configured default).</summary>
        protected OverflowPolicy? ChosenOverflowPolicy
            => MyInvocation.BoundParameters.ContainsKey(nameof(OverflowPolicy)) ? OverflowPolicy : null;

        /// <summary>-BlockTimeout in milliseconds (0 = the configured default).</summary>
        protected long BlockTimeoutMs => (long)BlockTimeout.TotalMilliseconds;

        /// <summary>
        /// Refuses -ArgumentList without -RunAsync, and a -BlockTimeout of 0 (terminating errors);
        /// warns of a -BlockTimeout that no Block policy will use.
        /// </summary>
        protected void CheckArgumentList()
        {
            if (!RunAsync && ArgumentList.Length > 0)
            {
                ThrowTerminatingError(NewError("ArgumentListNeedsRunAsync", ErrorCategory.InvalidArgument, ArgumentList,
                    "-ArgumentList is for -RunAsync handlers; a default handler already sees this runspace's variables."));
            }
            // 0 stands for "the configured default" further on, so it cannot mean "do not wait".
            if (MyInvocation.BoundParameters.ContainsKey(nameof(BlockTimeout)) && BlockTimeout == TimeSpan.Zero)
            {
                ThrowTerminatingError(NewError("InvalidBlockTimeout", ErrorCategory.InvalidArgument, BlockTimeout,
                    "-BlockTimeout 0 would not block.", "Give a positive duration, or use -OverflowPolicy DropNewest to drop at once."));
            }
            if (BlockTimeout > TimeSpan.Zero
                && (ChosenOverflowPolicy ?? Bus.GetConfiguration().DefaultOverflowPolicy) is OverflowPolicy policy && policy != OverflowPolicy.Block)
            {
                WriteWarning($"-BlockTimeout has no effect: the overflow policy is {policy}, and only Block makes a publisher wait. Add -OverflowPolicy Block to use it.");
            }
        }

        /// <summary>Creates the subscription where -RunAsync says and writes its description.</summary>
        private protected void Register(Func<SubscriptionSource> source, object? target)
        {
            try
            {
                HandlerSubscription s = RunAsync
                    ? Subscriptions.AddAsync(this, source(), Handler, Filter, ArgumentList)
                    : Subscriptions.AddDefault(this, source(), Handler, Filter);
                WriteObject(Subscriptions.Describe(s.Id));
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, target);
            }
        }
    }

    /// <summary>
    /// Unregister-ModuleMessageHandler and Unregister-ModuleEventHandler: remove a subscription
    /// by id (either kind; the id says which).
    /// </summary>
    public abstract class HandlerRemovalCmdlet : ModuleCommunicationCmdlet
    {
        /// <summary>The id from Subscribe-ModuleMessage, Subscribe-ModuleEvent or Get-MessageSubscriptions.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("Id")]
        [ArgumentCompleter(typeof(SubscriptionIdCompleter))]
        public Guid SubscriptionId { get; set; }

        // Ctrl+C while waiting for a running -RunAsync handler stops that handler and the wait.
        private readonly CancellationTokenSource _stopping = new();

        /// <inheritdoc/>
        protected override void StopProcessing() => _stopping.Cancel();

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            if (!ShouldProcess(SubscriptionId.ToString(), "Remove subscription")) return;
            try
            {
                if (!Subscriptions.Remove(SubscriptionId, _stopping.Token))
                {
                    WriteError(NewError("SubscriptionNotFound", ErrorCategory.ObjectNotFound, SubscriptionId,
                        $"No subscription has the id {SubscriptionId}.", "List subscriptions with Get-MessageSubscriptions."));
                    return;
                }
                WriteObject(new UnsubscribeResult { Success = true, SubscriptionId = SubscriptionId });
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, SubscriptionId);
            }
        }
    }
}
