using System;
using System.Collections.Generic;
using System.Text.Json;
using ModuleCommunication.Serialization;

namespace ModuleCommunication.Core
{
    /// <summary>Reads one item of a batch; <paramref name="reader"/> stands on the item's StartObject and is left on its EndObject.</summary>
    internal delegate object ItemReader(ref Utf8JsonReader reader, byte[] json);

    /// <summary>
    /// Turns the core's JSON arrays of messages and events into model objects in one forward
    /// pass (no document tree): this runs once per delivered message, so it is on the hot
    /// path of every handler. Data stays encoded until first read (<see cref="EncodedData"/>).
    /// </summary>
    internal static class ItemReaders
    {
        /// <summary>The items of a JSON array, each made by <paramref name="read"/>.</summary>
        public static List<object> ReadArray(byte[] json, ItemReader read)
        {
            var items = new List<object>();
            if (json.Length <= 2) return items;
            var reader = new Utf8JsonReader(json, CoreJson.ReaderOptions);
            reader.Read(); // StartArray
            while (reader.Read() && reader.TokenType == JsonTokenType.StartObject) items.Add(read(ref reader, json));
            return items;
        }

        public static object Message(ref Utf8JsonReader reader, byte[] json)
        {
            Fields f = Fields.Read(ref reader, json);
            return new ModuleMessage
            {
                Id = f.Id,
                Channel = f.Channel ?? string.Empty,
                MessageType = f.MessageType ?? string.Empty,
                EncodedData = f.Data(json),
                SourceModule = f.SourceModule,
                Priority = f.Priority,
                Timestamp = f.Timestamp ?? DateTime.MinValue,
                ExpiresAt = f.ExpiresAt,
                CorrelationId = f.CorrelationId,
            };
        }

        public static object Event(ref Utf8JsonReader reader, byte[] json)
        {
            Fields f = Fields.Read(ref reader, json);
            return new ModuleEvent
            {
                Id = f.Id,
                Name = f.Name ?? string.Empty,
                Channel = f.Channel ?? string.Empty,
                EncodedData = f.Data(json),
                Source = f.SourceModule,
                Priority = f.Priority,
                Timestamp = f.Timestamp ?? DateTime.MinValue,
                CorrelationId = f.CorrelationId,
            };
        }

        /// <summary>The fields messages and events share; Data and type hints as ranges of the batch.</summary>
        internal struct Fields
        {
            public Guid Id;
            public string? Channel;
            public string? MessageType;
            public string? Name;
            public string? SourceModule;
            public MessagePriority Priority;
            public DateTime? Timestamp;
            public DateTime? ExpiresAt;
            public string? CorrelationId;
            public Range DataRange;
            public Range HintsRange;

            public readonly EncodedData? Data(byte[] json) => EncodedData.From(json.AsSpan(DataRange), json.AsSpan(HintsRange));

            public static Fields Read(ref Utf8JsonReader r, byte[] json)
            {
                var f = new Fields { Priority = MessagePriority.Normal };
                while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                {
                    if (r.ValueTextEquals("id"u8)) { r.Read(); f.Id = r.GetGuid(); }
                    else if (r.ValueTextEquals("channel"u8)) f.Channel = NextString(ref r, ref t_lastChannel);
                    else if (r.ValueTextEquals("messageType"u8)) f.MessageType = NextString(ref r, ref t_lastMessageType);
                    else if (r.ValueTextEquals("name"u8)) f.Name = NextString(ref r, ref t_lastName);
                    else if (r.ValueTextEquals("data"u8)) f.DataRange = NextRaw(ref r);
                    else if (r.ValueTextEquals("typeHints"u8)) f.HintsRange = NextRaw(ref r);
                    else if (r.ValueTextEquals("sourceModule"u8)) f.SourceModule = NextString(ref r, ref t_lastSourceModule);
                    else if (r.ValueTextEquals("priority"u8)) f.Priority = NextPriority(ref r);
                    else if (r.ValueTextEquals("timestamp"u8)) f.Timestamp = NextTime(ref r);
                    else if (r.ValueTextEquals("expiresAt"u8)) f.ExpiresAt = NextTime(ref r);
                    else if (r.ValueTextEquals("correlationId"u8)) { r.Read(); f.CorrelationId = r.TokenType == JsonTokenType.String ? r.GetString() : null; }
                    else { r.Read(); r.Skip(); }
                }
                return f;
            }

            // The names a batch repeats (its channel, message type, source): the previous one's
            // string is reused when the bytes match, instead of a new string per message.
            [ThreadStatic] private static string? t_lastChannel, t_lastMessageType, t_lastName, t_lastSourceModule;

            private static string? NextString(ref Utf8JsonReader r, ref string? last)
            {
                r.Read();
                if (r.TokenType != JsonTokenType.String) return null;
                if (last != null && r.ValueTextEquals(last)) return last;
                return last = r.GetString();
            }

            private static MessagePriority NextPriority(ref Utf8JsonReader r)
            {
                r.Read();
                if (r.ValueTextEquals("High"u8)) return MessagePriority.High;
                if (r.ValueTextEquals("Critical"u8)) return MessagePriority.Critical;
                if (r.ValueTextEquals("Low"u8)) return MessagePriority.Low;
                return MessagePriority.Normal;
            }

            // The core writes UTC ISO 8601 ("...Z"); the reader parses that straight from UTF-8.
            private static DateTime? NextTime(ref Utf8JsonReader r)
            {
                r.Read();
                return r.TokenType == JsonTokenType.String ? r.GetDateTime().ToLocalTime() : null;
            }

            /// <summary>Where the next value's JSON text is in the batch.</summary>
            private static Range NextRaw(ref Utf8JsonReader r)
            {
                r.Read();
                int start = checked((int)r.TokenStartIndex);
                r.Skip();
                return start..checked((int)r.BytesConsumed);
            }
        }
    }
}
