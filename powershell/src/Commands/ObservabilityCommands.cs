using System;
using System.Management.Automation;
using ModuleCommunication.Core;
using ModuleCommunication.Native;

namespace ModuleCommunication.Commands
{
    /// <summary>Reset-CommunicationMetrics: sets every counter, latency and history interval to zero.</summary>
    [Cmdlet(VerbsCommon.Reset, "CommunicationMetrics", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(MetricsResetResult))]
    public sealed class ResetCommunicationMetricsCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Reset without asking for confirmation.</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            if (!ShouldProceed(Force, "communication metrics", "Reset every counter, latency and history interval to zero")) return;
            try
            {
                Observability.Reset();
                WriteObject(new MetricsResetResult { Success = true, ResetAt = Observability.GetMetrics(null, false).Since });
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, null);
            }
        }
    }

    /// <summary>Get-CommunicationStatus: overall health, issues with recommendations, components and health checks.</summary>
    [Cmdlet(VerbsCommon.Get, "CommunicationStatus")]
    [OutputType(typeof(CommunicationStatus))]
    public sealed class GetCommunicationStatusCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Add the metrics and the configuration to the status.</summary>
        [Parameter]
        public SwitchParameter IncludeDetails { get; set; }

        /// <summary>Run the active health checks first (a messaging round trip on a private channel, a metrics check, a configuration check).</summary>
        [Parameter]
        public SwitchParameter CheckHealth { get; set; }

        /// <summary>How long the messaging round trip may take (seconds or a TimeSpan); default 5 seconds.</summary>
        [Parameter]
        [SecondsTransformation]
        public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            try
            {
                CommunicationStatus status = Observability.GetStatus(CheckHealth, ToMilliseconds(Timeout));
                if (IncludeDetails)
                {
                    status = new CommunicationStatus
                    {
                        OverallHealth = status.OverallHealth,
                        Timestamp = status.Timestamp,
                        WindowStart = status.WindowStart,
                        Issues = status.Issues,
                        Recommendations = status.Recommendations,
                        Components = status.Components,
                        HealthChecks = status.HealthChecks,
                        Metrics = Observability.GetMetrics(null, false),
                        Configuration = Bus.GetConfiguration(),
                    };
                }
                WriteObject(status);
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, null);
            }
        }
    }
}
