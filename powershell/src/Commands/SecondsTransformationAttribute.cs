using System;
using System.Globalization;
using System.Management.Automation;

namespace ModuleCommunication.Commands
{
    /// <summary>
    /// Lets a TimeSpan parameter take a plain number as seconds (-Timeout 10), as users
    /// expect, instead of PowerShell's default of ticks. TimeSpans and strings ("00:00:10")
    /// pass through.
    /// </summary>
    public sealed class SecondsTransformationAttribute : ArgumentTransformationAttribute
    {
        /// <inheritdoc/>
        public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
        {
            object value = inputData is PSObject p ? p.BaseObject : inputData;
            return value switch
            {
                int or long or short or byte or uint or ulong => TimeSpan.FromSeconds(Convert.ToDouble(value, CultureInfo.InvariantCulture)),
                double d => TimeSpan.FromSeconds(d),
                float f => TimeSpan.FromSeconds(f),
                decimal m => TimeSpan.FromSeconds((double)m),
                _ => inputData,
            };
        }
    }
}
