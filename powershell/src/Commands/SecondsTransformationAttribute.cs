using System;
using System.Globalization;
using System.Management.Automation;

namespace ModuleCommunication.Commands
{
    /// <summary>
    /// Lets a TimeSpan parameter take a plain number as seconds (-Timeout 10), as users
    /// expect, instead of PowerShell's default of ticks. Text that is a number is seconds too
    /// ('30', '0.5': Import-Csv and other text sources bind strings), read with the invariant
    /// culture as PowerShell reads [double]'0.5', so a script means the same on every machine;
    /// other text is a TimeSpan ('00:00:10'), and TimeSpans pass through. No duration of this
    /// module can be negative, so a negative one is refused here, naming the value, instead of
    /// meaning "no wait" or overflowing further on.
    /// </summary>
    public sealed class SecondsTransformationAttribute : ArgumentTransformationAttribute
    {
        /// <summary>Lets a negative duration through, for a cmdlet that refuses it with its own error.</summary>
        public bool AllowNegative { get; set; }

        /// <summary>
        /// The cmdlet refuses zero too (with its own error): a negative duration's message then asks
        /// for more than 0, not for "0 or more", which would be refused next.
        /// </summary>
        public bool Positive { get; set; }

        /// <summary>The shortest duration taken, in seconds (0: any that is not negative).</summary>
        public double MinSeconds { get; set; }

        /// <summary>The longest duration taken, in seconds (0: no bound here).</summary>
        public double MaxSeconds { get; set; }

        /// <inheritdoc/>
        public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
        {
            object value = inputData is PSObject p ? p.BaseObject : inputData;
            object result = value switch
            {
                int or long or short or byte or uint or ulong => TimeSpan.FromSeconds(Convert.ToDouble(value, CultureInfo.InvariantCulture)),
                double d => TimeSpan.FromSeconds(d),
                float f => TimeSpan.FromSeconds(f),
                decimal m => TimeSpan.FromSeconds((double)m),
                // Before TimeSpan.TryParse, which reads '30' as 30 days.
                string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) => TimeSpan.FromSeconds(seconds),
                string s when TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out TimeSpan parsed) => parsed,
                _ => inputData,
            };
            if (!AllowNegative && result is TimeSpan t && t < TimeSpan.Zero)
            {
                throw new ArgumentTransformationMetadataException(Positive
                    ? $"'{value}' is a negative duration; give a number of seconds greater than 0, or a TimeSpan greater than zero."
                    : $"'{value}' is a negative duration; give a number of seconds of 0 or more, or a TimeSpan that is not negative.");
            }
            if (result is TimeSpan span && span >= TimeSpan.Zero && (span.TotalSeconds < MinSeconds || (MaxSeconds > 0 && span.TotalSeconds > MaxSeconds)))
            {
                string range = MaxSeconds > 0 ? $"from {Number(MinSeconds)} to {Number(MaxSeconds)}" : $"of {Number(MinSeconds)} or more";
                throw new ArgumentTransformationMetadataException(
                    $"'{value}' is {Number(span.TotalSeconds)} seconds; give a number of seconds {range}, or a TimeSpan in that range.");
            }
            return result;
        }

        private static string Number(double seconds) => seconds.ToString("0.###", CultureInfo.InvariantCulture);
    }
}
