using System;
using System.IO;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace ModuleCommunication.Native;

/// <summary>
/// Tells the runtime where the Rust core library lives. Every
/// <c>[LibraryImport("module_communication")]</c> / <c>[DllImport]</c> in this
/// assembly goes through <see cref="Resolve"/>:
/// <list type="number">
/// <item><c>$env:MODULECOMMUNICATION_NATIVE_PATH</c>, if set (a full path to the library);</item>
/// <item>the platform file name (<c>libmodule_communication.so</c>, <c>.dylib</c>, <c>module_communication.dll</c>)
/// beside this assembly, i.e. in the module folder;</item>
/// <item>otherwise <see cref="IntPtr.Zero"/>, so the runtime falls back to its default probing.</item>
/// </list>
/// The resolver is registered once per process by a module initializer, which runs before any
/// code of the assembly (a second SetDllImportResolver call for the same assembly would throw).
/// </summary>
internal static partial class NativeLibraryLoader
{
    /// <summary>Library name used in every import attribute of this assembly.</summary>
    internal const string LibraryName = "module_communication";

    /// <summary>Environment variable that overrides the library location.</summary>
    internal const string PathVariable = "MODULECOMMUNICATION_NATIVE_PATH";

    private static int s_registered;

#pragma warning disable CA2255 // ModuleInitializer in a library is intended: it must run before any P/Invoke.
    [ModuleInitializer]
    internal static void Register()
#pragma warning restore CA2255
    {
        if (Interlocked.Exchange(ref s_registered, 1) != 0)
        {
            return;
        }

        NativeLibrary.SetDllImportResolver(typeof(NativeLibraryLoader).Assembly, Resolve);
    }

    /// <summary>The library's file name on the current OS.</summary>
    internal static string PlatformFileName
    {
        get
        {
            if (OperatingSystem.IsWindows())
            {
                return LibraryName + ".dll";
            }

            if (OperatingSystem.IsMacOS())
            {
                return "lib" + LibraryName + ".dylib";
            }

            return "lib" + LibraryName + ".so";
        }
    }

    /// <summary>The path the resolver tries for the library (override or module folder); for diagnostics.</summary>
    internal static string CandidatePath
    {
        get
        {
            string? overridePath = Environment.GetEnvironmentVariable(PathVariable);
            if (!string.IsNullOrEmpty(overridePath))
            {
                return overridePath;
            }

            string directory = Path.GetDirectoryName(typeof(NativeLibraryLoader).Assembly.Location) ?? AppContext.BaseDirectory;
            return Path.Combine(directory, PlatformFileName);
        }
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (!string.Equals(libraryName, LibraryName, StringComparison.Ordinal))
        {
            return IntPtr.Zero;
        }

        string? overridePath = Environment.GetEnvironmentVariable(PathVariable);
        if (!string.IsNullOrEmpty(overridePath))
        {
            // An explicit override that cannot be loaded is an error worth seeing, not a silent fallback.
            return NativeLibrary.Load(overridePath);
        }

        string? directory = Path.GetDirectoryName(assembly.Location);
        if (!string.IsNullOrEmpty(directory))
        {
            string candidate = Path.Combine(directory, PlatformFileName);
            if (File.Exists(candidate))
            {
                // There but not loadable (another OS or processor, a missing runtime library such
                // as VCRUNTIME140.dll, a quarantined file): say why, instead of the runtime's
                // later "Unable to load" from its default probing, which hides the reason.
                try
                {
                    return NativeLibrary.Load(candidate);
                }
                catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
                {
                    throw new DllNotFoundException(
                        $"The module's native core '{candidate}' could not be loaded: {e.Message} " +
                        $"It must be built for this OS and processor ({RuntimeInformation.OSDescription}, " +
                        $"{RuntimeInformation.ProcessArchitecture}); rebuild the module with build/build.sh, " +
                        $"or point {PathVariable} at a library built for it.", e);
                }
            }
        }

        return IntPtr.Zero;
    }
}
