using System;
using System.Text;

namespace ModuleCommunication
{
    /// <summary>
    /// Lays out multi-line values of list views (Get-CommunicationStatus, Get-CircuitBreakerStatus)
    /// so that they fit an 80-column console: PowerShell wraps a long list value at the column
    /// edge, mid-word; these wrap between words instead and indent what follows.
    /// </summary>
    public static class ListText
    {
        /// <summary>Characters left for a value at 80 columns after the widest label ("Recommendations : ").</summary>
        public const int ValueWidth = 62;

        /// <summary>
        /// <paramref name="head"/> then <paramref name="text"/>, wrapped between words at
        /// <see cref="ValueWidth"/>; continuation lines start under the text (two spaces in
        /// when there is no head). A word longer than a line gets a line of its own.
        /// </summary>
        public static string Wrap(string? head, string? text)
        {
            head ??= string.Empty;
            string indent = new(' ', head.Length > 0 ? head.Length : 2);
            var result = new StringBuilder(head);
            int lineLength = head.Length;
            bool lineHasWord = false;
            foreach (string word in (text ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (lineHasWord && lineLength + 1 + word.Length > ValueWidth)
                {
                    result.Append(Environment.NewLine).Append(indent);
                    lineLength = indent.Length;
                    lineHasWord = false;
                }
                if (lineHasWord)
                {
                    result.Append(' ');
                    lineLength++;
                }
                result.Append(word);
                lineLength += word.Length;
                lineHasWord = true;
            }
            return result.ToString();
        }
    }
}
