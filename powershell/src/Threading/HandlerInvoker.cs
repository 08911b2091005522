using System;
using System.Management.Automation;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// Runs a filter and a handler for one message on the current thread: the owner's for a
    /// default handler, a pool runspace's for -RunAsync (which passes its -ArgumentList after
    /// the message).
    /// </summary>
    internal static class HandlerInvoker
    {
        public enum Outcome { Handled, Filtered, Failed }

        public static Outcome Invoke(ScriptBlock handler, ScriptBlock? filter, object message, out string? error,
            object[]? arguments = null)
        {
            error = null;
            object[] args = arguments is { Length: > 0 } ? [message, .. arguments] : [message];
            try
            {
                if (filter != null && !LanguagePrimitives.IsTrue(filter.InvokeReturnAsIs(args)))
                {
                    return Outcome.Filtered;
                }
                handler.InvokeReturnAsIs(args);
                return Outcome.Handled;
            }
            catch (PipelineStoppedException)
            {
                throw;
            }
            catch (Exception e)
            {
                error = Describe(e);
                return Outcome.Failed;
            }
        }

        /// <summary>What a handler's break, continue or exit outside a loop of its own did.</summary>
        public const string LoopControlMessage =
            "The handler used break, continue or exit outside a loop of its own, which ends it without handling the message; use return to end a handler early.";

        /// <summary>What PoolInterrupts did to a handler blocked in a .NET call.</summary>
        public const string InterruptedMessage =
            "The handler was stopped while it waited in a .NET call, because PowerShell closed its runspace (pwsh exiting, say).";

        public static string Describe(Exception e)
        {
            Exception inner = e is MethodInvocationException && e.InnerException != null ? e.InnerException : e;
            // PowerShell's flow control exceptions say only "System error."
            if (inner is FlowControlException || inner.GetType().Name == "ExitException") return LoopControlMessage;
            if (inner is System.Threading.ThreadInterruptedException) return InterruptedMessage;
            return inner is RuntimeException r && r.ErrorRecord != null
                ? r.ErrorRecord.ToString()
                : inner.Message;
        }
    }
}
