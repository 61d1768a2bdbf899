using System.Buffers.Binary;
using System.Text;

namespace VaeWeb.Engine.Native;

/// <summary>
/// Reads and rewrites the symbol-version sections of a 64-bit little-endian ELF shared library:
/// <c>.gnu.version_r</c> (versions it needs from other libraries) and <c>.gnu.version_d</c> (versions it defines).
/// Layouts follow the LSB "Symbol Versioning" chapter; only what the libtorch fix needs is implemented.
/// </summary>
public sealed class ElfSymbolVersions
{
    const uint ShtGnuVerdef = 0x6ffffffd, ShtGnuVerneed = 0x6ffffffe;

    readonly byte[] _image;
    readonly Section _dynstr;
    readonly Section? _verneed, _verdef;

    readonly record struct Section(long Offset, long Size, uint Link, uint Info);

    /// <summary>One <c>Vernaux</c> entry: a version <paramref name="Version"/> needed from <paramref name="Library"/>.</summary>
    public readonly record struct Requirement(string Library, string Version, uint Hash, int AuxOffset, uint NameOffset);

    public ElfSymbolVersions(byte[] image)
    {
        _image = image;
        if (image.Length < 64 || image[0] != 0x7f || image[1] != (byte)'E' || image[2] != (byte)'L' || image[3] != (byte)'F')
            throw new InvalidDataException("Not an ELF file (bad magic).");
        if (image[4] != 2 || image[5] != 1)
            throw new InvalidDataException("Only 64-bit little-endian ELF files are supported.");

        long shoff = (long)U64(0x28);
        int shentsize = U16(0x3A), shnum = U16(0x3C);
        if (shoff <= 0 || shentsize < 64 || shoff + (long)shentsize * shnum > image.Length)
            throw new InvalidDataException("ELF section header table is missing or truncated.");

        var sections = new Section[shnum];
        var types = new uint[shnum];
        for (int i = 0; i < shnum; i++)
        {
            int h = checked((int)(shoff + (long)i * shentsize));
            types[i] = U32(h + 4);
            sections[i] = new Section((long)U64(h + 0x18), (long)U64(h + 0x20), U32(h + 0x28), U32(h + 0x2C));
        }
        for (int i = 0; i < shnum; i++)
        {
            if (types[i] == ShtGnuVerneed) _verneed = sections[i];
            if (types[i] == ShtGnuVerdef) _verdef = sections[i];
        }
        // Both version sections name their strings through sh_link, which points at .dynstr.
        var withStrings = _verneed ?? _verdef ?? throw new InvalidDataException("ELF file has no symbol-version sections.");
        _dynstr = sections[withStrings.Link];
    }

    public static ElfSymbolVersions Read(string path) => new(File.ReadAllBytes(path));

    public byte[] Image => _image;

    /// <summary>Every version this library needs, with the library that must provide it.</summary>
    public IReadOnlyList<Requirement> Requirements()
    {
        var list = new List<Requirement>();
        if (_verneed is not { } s) return list;
        long entry = s.Offset;
        for (uint n = 0; n < s.Info; n++)
        {
            // Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32.
            int e = checked((int)entry);
            int count = U16(e + 2);
            string file = Str(U32(e + 4));
            long aux = entry + U32(e + 8);
            for (int k = 0; k < count; k++)
            {
                // Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32.
                int a = checked((int)aux);
                uint name = U32(a + 8);
                list.Add(new Requirement(file, Str(name), U32(a), a, name));
                aux += U32(a + 12);
            }
            uint next = U32(e + 12);
            if (next == 0) break;
            entry += next;
        }
        return list;
    }

    /// <summary>Every version name this library defines (for libstdc++: GLIBCXX_3.4, …, GLIBCXX_3.4.30).</summary>
    public IReadOnlySet<string> Definitions()
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        if (_verdef is not { } s) return set;
        long entry = s.Offset;
        for (uint n = 0; n < s.Info; n++)
        {
            // Verdef: vd_version u16, vd_flags u16, vd_ndx u16, vd_cnt u16, vd_hash u32, vd_aux u32, vd_next u32;
            // its first Verdaux (vda_name u32, vda_next u32) names the version.
            int e = checked((int)entry);
            int a = checked((int)(entry + U32(e + 12)));
            set.Add(Str(U32(a)));
            uint next = U32(e + 16);
            if (next == 0) break;
            entry += next;
        }
        return set;
    }

    /// <summary>
    /// Makes the requirement <paramref name="from"/> of <paramref name="library"/> name <paramref name="to"/> instead,
    /// pointing at a copy of that string already in .dynstr (the file's size and layout do not change).
    /// Returns how many entries were rewritten.
    /// </summary>
    public int RewriteRequirement(string library, string from, string to)
    {
        var requirements = Requirements();
        var targets = requirements.Where(r => r.Library == library && r.Version == from).ToList();
        if (targets.Count == 0) return 0;
        uint toOffset = requirements.FirstOrDefault(r => r.Version == to).NameOffset is var o && o != 0
            ? o : FindDynstr(to) ?? throw new InvalidOperationException($"'{to}' is not in .dynstr; the library cannot be rewritten in place.");
        foreach (var r in targets)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_image.AsSpan(r.AuxOffset), ElfHash(to));
            BinaryPrimitives.WriteUInt32LittleEndian(_image.AsSpan(r.AuxOffset + 8), toOffset);
        }
        return targets.Count;
    }

    /// <summary>The System V ELF hash (gABI "Hash Table"), which vna_hash holds for the version name.</summary>
    public static uint ElfHash(string name)
    {
        uint h = 0;
        foreach (byte c in Encoding.ASCII.GetBytes(name))
        {
            h = (h << 4) + c;
            uint g = h & 0xf0000000;
            if (g != 0) h ^= g >> 24;
            h &= ~g;
        }
        return h;
    }

    uint? FindDynstr(string value)
    {
        var needle = Encoding.ASCII.GetBytes(value + "\0");
        var table = _image.AsSpan(checked((int)_dynstr.Offset), checked((int)_dynstr.Size));
        int i = table.IndexOf(needle);
        return i < 0 ? null : (uint)i;
    }

    string Str(uint offset)
    {
        var rest = _image.AsSpan(checked((int)(_dynstr.Offset + offset)));
        int end = rest.IndexOf((byte)0);
        return Encoding.ASCII.GetString(rest[..(end < 0 ? rest.Length : end)]);
    }

    ushort U16(int at) => BinaryPrimitives.ReadUInt16LittleEndian(_image.AsSpan(at));
    uint U32(int at) => BinaryPrimitives.ReadUInt32LittleEndian(_image.AsSpan(at));
    ulong U64(int at) => BinaryPrimitives.ReadUInt64LittleEndian(_image.AsSpan(at));
}
