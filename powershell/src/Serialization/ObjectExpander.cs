using System;
using System.Collections.Generic;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ModuleCommunication.Serialization;

/// <summary>
/// Reads the public instance properties and fields of arbitrary objects (the types the codec
/// has no special case for), like ConvertTo-Json. The member list of a type is built by
/// reflection once and cached; the cache does not keep collectible types alive.
/// </summary>
internal static class ObjectExpander
{
    private static readonly ConditionalWeakTable<Type, Member[]> s_members = new ConditionalWeakTable<Type, Member[]>();

    private static readonly ConditionalWeakTable<Type, Member[]>.CreateValueCallback s_build = Build;

    public static Member[] GetMembers(Type type) => s_members.GetValue(type, s_build);

    /// <summary>
    /// PowerShell's stand-ins for "no value" (AutomationNull.Value and [NullString]::Value),
    /// recognised by name: the first is internal, the second is not in the reference assemblies.
    /// </summary>
    public static bool IsNullLike(Type type)
    {
        string? name = type.FullName;
        return name == "System.Management.Automation.Internal.AutomationNull"
            || name == "System.Management.Automation.Language.NullString";
    }

    private static Member[] Build(Type type)
    {
        var members = new List<Member>();
        foreach (PropertyInfo property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            MethodInfo? getter = property.GetGetMethod();
            if (getter is null
                || property.GetIndexParameters().Length != 0
                || property.PropertyType.IsByRefLike
                || property.PropertyType.IsPointer
                || property.IsDefined(typeof(JsonIgnoreAttribute), inherit: true))
            {
                continue;
            }
            members.Add(new Member(property.Name, property, null));
        }
        foreach (FieldInfo field in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
        {
            if (field.FieldType.IsByRefLike
                || field.FieldType.IsPointer
                || field.IsDefined(typeof(JsonIgnoreAttribute), inherit: true))
            {
                continue;
            }
            members.Add(new Member(field.Name, null, field));
        }
        return members.ToArray();
    }

    /// <summary>One readable property or field.</summary>
    public sealed class Member
    {
        private readonly PropertyInfo? _property;
        private readonly FieldInfo? _field;

        public Member(string name, PropertyInfo? property, FieldInfo? field)
        {
            Name = name;
            EncodedName = JsonEncodedText.Encode(name, DataCodec.WriterOptions.Encoder);
            _property = property;
            _field = field;
        }

        public string Name { get; }

        public JsonEncodedText EncodedName { get; }

        /// <summary>The member's value, or null when reading it throws (as ConvertTo-Json does).</summary>
        public object? GetValue(object target)
        {
            try
            {
                return _property is not null ? _property.GetValue(target) : _field!.GetValue(target);
            }
            catch (Exception)
            {
                return null;
            }
        }
    }
}
