"""Checks that a built extension runs on any x86-64: only the kernel files compiled for AVX2 and
AVX-512 (csrc/isa_avx2.c, csrc/isa_avx512.c, chosen at run time by csrc/dispatch.c) may hold
instructions beyond the x86-64 baseline (SSE2). Every instruction is attributed to the C file it
was compiled from through the DWARF address ranges (gcc -g, as Python builds extensions), so an
inlined helper or a static function of the same name in two files is judged by its own file. A
file compiled with -march=native would fail here: VEX/EVEX instructions (v...), ymm/zmm/mask
registers, BMI, POPCNT, SSE3-SSE4.2.

    python .ci/baseline_isa.py BUILT.so [SHIPPED.so]

With SHIPPED.so (the same extension after `auditwheel repair --strip`, which drops the debug
information this check reads), its code (.text) must be byte for byte BUILT.so's.
"""
import bisect
import re
import subprocess
import sys

from elftools.elf.elffile import ELFFile

ALLOWED_CUS = ("isa_avx2.c", "isa_avx512.c")
BEYOND_BASELINE = {
    # SSE3, SSSE3, SSE4.1, SSE4.2
    "addsubps", "addsubpd", "haddps", "haddpd", "hsubps", "hsubpd", "movddup", "movshdup",
    "movsldup", "lddqu", "pshufb", "palignr", "phaddw", "phaddd", "pmaddubsw", "pmulhrsw", "psignb",
    "pabsb", "pabsw", "pabsd", "blendps", "blendpd", "blendvps", "blendvpd", "pblendvb", "pblendw",
    "roundps", "roundpd", "roundss", "roundsd", "dpps", "dppd", "insertps", "extractps", "ptest",
    "pminsb", "pminsd", "pmaxsb", "pmaxsd", "pminuw", "pminud", "pmaxuw", "pmaxud", "pmulld",
    "pmuldq", "pcmpeqq", "pcmpgtq", "packusdw", "pextrb", "pextrd", "pextrq", "pinsrb", "pinsrd",
    "pinsrq", "pmovsxbw", "pmovzxbw", "pmovsxdq", "pmovzxdq", "pmovsxwd", "pmovzxwd", "crc32",
    # POPCNT, LZCNT, BMI1, BMI2, MOVBE, F16C
    "popcnt", "lzcnt", "tzcnt", "andn", "bextr", "blsi", "blsmsk", "blsr", "bzhi", "pdep", "pext",
    "rorx", "sarx", "shlx", "shrx", "mulx", "movbe",
}
WIDE_REGISTER = re.compile(r"%(ymm|zmm)\d+|%k[0-7]\b")
LINE = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")


def compile_units(path):
    """Sorted (start, end, file) address ranges of every compilation unit."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        if not elf.has_dwarf_info():
            sys.exit(f"{path}: no DWARF debug information to attribute instructions to their files")
        dwarf = elf.get_dwarf_info()
        names = {cu.cu_offset: cu.get_top_DIE().attributes["DW_AT_name"].value.decode()
                 for cu in dwarf.iter_CUs()}
        aranges = dwarf.get_aranges()
        if aranges is None:
            sys.exit(f"{path}: no .debug_aranges section")
        return sorted((e.begin_addr, e.begin_addr + e.length, names.get(e.info_offset, "?"))
                      for e in aranges.entries if e.length)


def text_section(path):
    with open(path, "rb") as f:
        return ELFFile(f).get_section_by_name(".text").data()


def main(path, shipped=None):
    if shipped is not None and text_section(path) != text_section(shipped):
        print(f"{shipped}: its code differs from {path}'s")
        return 1
    ranges = compile_units(path)
    starts = [r[0] for r in ranges]
    disasm = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-M", "att", path],
                            check=True, capture_output=True, text=True).stdout
    bad, counted, wide_in_isa_files = {}, 0, 0
    for line in disasm.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        addr, mnemonic, operands = int(m.group(1), 16), m.group(2), m.group(3)
        i = bisect.bisect_right(starts, addr) - 1
        unit = ranges[i][2] if i >= 0 and addr < ranges[i][1] else "(no compilation unit)"
        counted += 1
        beyond = (mnemonic.startswith("v") or mnemonic in BEYOND_BASELINE
                  or WIDE_REGISTER.search(operands) is not None)
        if unit.endswith(ALLOWED_CUS):
            wide_in_isa_files += beyond
        elif beyond:
            bad.setdefault(unit, []).append(f"{addr:#x}: {mnemonic} {operands}")
    print(f"{path}: {counted} instructions, {wide_in_isa_files} beyond x86-64 baseline, all in "
          f"{' / '.join(ALLOWED_CUS)}" if not bad else f"{path}: instructions beyond x86-64 baseline:")
    for unit, found in bad.items():
        print(f"  {unit}: {len(found)}, e.g. " + "; ".join(found[:3]))
    if wide_in_isa_files == 0:
        print("  the AVX2/AVX-512 kernel files hold no AVX instruction: were they compiled?")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
