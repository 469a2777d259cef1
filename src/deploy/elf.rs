//! What a Linux executable needs to start: its architecture and the newest glibc symbol version
//! it requires. Lambda's `provided.al2023` runtime has glibc 2.34, so a binary linked on a newer
//! host (Debian 12 has 2.36, Ubuntu 24.04 has 2.39) fails at start with
//! `GLIBC_2.3x not found`; [`check_for_lambda`] refuses it before anything is uploaded.
//!
//! A small hand parser (neither `object` nor `goblin` is in the dependency tree, and only two
//! structures are needed): the ELF header (class, byte order, machine, section headers), the
//! program headers (`PT_INTERP`: dynamically linked or not), and the `.gnu.version_r` section
//! (`SHT_GNU_verneed`), whose entries name each library needed and, per library, the symbol
//! versions (`GLIBC_2.34`, …) through offsets into the string table given by the section's
//! `sh_link`. Layouts: the System V gABI and the LSB "Symbol Versioning" chapter. Every read is
//! bounds-checked: a malformed file is an error, never a panic.

use std::fmt;
use std::path::Path;

/// The glibc of Lambda's `provided.al2023` runtime (Amazon Linux 2023).
pub const LAMBDA_GLIBC: (u32, u32) = (2, 34);

/// An ELF machine the Lambda runtimes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// `EM_X86_64` (62).
    X86_64,
    /// `EM_AARCH64` (183).
    Aarch64,
    /// Anything else, with its `e_machine` number.
    Other(u16),
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Machine::X86_64 => f.write_str("x86_64"),
            Machine::Aarch64 => f.write_str("aarch64"),
            Machine::Other(n) => write!(f, "ELF machine {n}"),
        }
    }
}

/// What the executable needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// The instruction set.
    pub machine: Machine,
    /// False for a statically linked executable (no `PT_INTERP`: musl, `crt-static`).
    pub dynamic: bool,
    /// The newest `GLIBC_x.y[.z]` version it requires, as numbers (`[2, 34]`); `None` when it
    /// requires none (static, or linked against another libc).
    pub max_glibc: Option<Vec<u32>>,
}

/// The file is not an ELF executable this parser understands.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ElfError(String);

fn err<T>(m: impl Into<String>) -> Result<T, ElfError> {
    Err(ElfError(m.into()))
}

/// Little-endian reads with bounds checks (Lambda's machines are little-endian; big-endian ELF
/// files are refused in [`parse`]).
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn slice(&self, off: u64, len: u64) -> Result<&[u8], ElfError> {
        let start = usize::try_from(off).map_err(|_| ElfError("offset out of range".into()))?;
        let len = usize::try_from(len).map_err(|_| ElfError("length out of range".into()))?;
        start
            .checked_add(len)
            .and_then(|end| self.0.get(start..end))
            .ok_or_else(|| ElfError(format!("truncated ELF file (needs bytes {off}..+{len})")))
    }
    fn u16(&self, off: u64) -> Result<u16, ElfError> {
        let b = self.slice(off, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&self, off: u64) -> Result<u32, ElfError> {
        let b = self.slice(off, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&self, off: u64) -> Result<u64, ElfError> {
        let b = self.slice(off, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// The NUL-terminated string at `off`.
    fn cstr(&self, off: u64) -> Result<&str, ElfError> {
        let start = usize::try_from(off).map_err(|_| ElfError("offset out of range".into()))?;
        let rest = self
            .0
            .get(start..)
            .ok_or_else(|| ElfError("string offset past the end of the file".into()))?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| ElfError("unterminated string".into()))?;
        std::str::from_utf8(&rest[..end]).map_err(|_| ElfError("string is not UTF-8".into()))
    }
}

const PT_INTERP: u32 = 3;
const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;
/// Upper bounds on table sizes, so a hostile header cannot make the loops run for long.
const MAX_ENTRIES: u64 = 1 << 16;

/// Parse the ELF header, program headers and `.gnu.version_r` of `data` (64-bit little-endian).
pub fn parse(data: &[u8]) -> Result<ElfInfo, ElfError> {
    let b = Bytes(data);
    if data.len() < 64 || &data[..4] != b"\x7fELF" {
        return err("not an ELF file (a Linux executable is needed)");
    }
    // e_ident[EI_CLASS] = 2 (64-bit), e_ident[EI_DATA] = 1 (little-endian).
    if data[4] != 2 {
        return err("a 32-bit ELF file; Lambda runs 64-bit x86_64 or arm64 executables");
    }
    if data[5] != 1 {
        return err("a big-endian ELF file; Lambda runs little-endian x86_64 or arm64");
    }
    let machine = match b.u16(18)? {
        62 => Machine::X86_64,
        183 => Machine::Aarch64,
        n => Machine::Other(n),
    };
    let (phoff, shoff) = (b.u64(32)?, b.u64(40)?);
    let (phentsize, phnum) = (u64::from(b.u16(54)?), u64::from(b.u16(56)?));
    let (shentsize, shnum) = (u64::from(b.u16(58)?), u64::from(b.u16(60)?));

    let mut dynamic = false;
    for i in 0..phnum.min(MAX_ENTRIES) {
        // Elf64_Phdr: p_type (u32) first.
        if b.u32(phoff + i * phentsize)? == PT_INTERP {
            dynamic = true;
        }
    }

    let mut max: Option<Vec<u32>> = None;
    for i in 0..shnum.min(MAX_ENTRIES) {
        // Elf64_Shdr: sh_name u32, sh_type u32, sh_flags u64, sh_addr u64, sh_offset u64 (24),
        // sh_size u64 (32), sh_link u32 (40), sh_info u32 (44: the number of entries here).
        let sh = shoff + i * shentsize;
        if b.u32(sh + 4)? != SHT_GNU_VERNEED {
            continue;
        }
        let (off, size) = (b.u64(sh + 24)?, b.u64(sh + 32)?);
        let count = u64::from(b.u32(sh + 44)?);
        let strtab_index = u64::from(b.u32(sh + 40)?);
        let strtab = b.u64(shoff + strtab_index * shentsize + 24)?;
        b.slice(off, size)?;
        // Elf64_Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32.
        let mut vn = off;
        for _ in 0..count.min(MAX_ENTRIES) {
            let cnt = u64::from(b.u16(vn + 2)?);
            let file = b.cstr(strtab + u64::from(b.u32(vn + 4)?))?;
            // Elf64_Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32.
            let mut aux = vn + u64::from(b.u32(vn + 8)?);
            for _ in 0..cnt.min(MAX_ENTRIES) {
                let name = b.cstr(strtab + u64::from(b.u32(aux + 8)?))?;
                let glibc_file = [
                    "libc.so",
                    "libm.so",
                    "libpthread.so",
                    "libdl.so",
                    "librt.so",
                    "ld-linux",
                ]
                .iter()
                .any(|p| file.starts_with(p));
                if glibc_file
                    && let Some(v) = glibc_version(name)
                    && max.as_ref().is_none_or(|m| v > *m)
                {
                    max = Some(v);
                }
                let next = u64::from(b.u32(aux + 12)?);
                if next == 0 {
                    break;
                }
                aux += next;
            }
            let next = u64::from(b.u32(vn + 12)?);
            if next == 0 {
                break;
            }
            vn += next;
        }
    }
    Ok(ElfInfo {
        machine,
        dynamic,
        max_glibc: max,
    })
}

/// `GLIBC_2.34` → `[2, 34]`; `GLIBC_PRIVATE` and other names → `None`.
fn glibc_version(name: &str) -> Option<Vec<u32>> {
    let v = name.strip_prefix("GLIBC_")?;
    v.split('.').map(|p| p.parse().ok()).collect()
}

/// `[2, 34]` → `2.34`.
pub fn version_string(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

/// Why an executable cannot run on Lambda, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: String,
}

/// Check the executable at `path`, built for `triple`, against Lambda's `expected` machine and
/// glibc 2.34. `Ok` carries the info for the progress line.
pub fn check_for_lambda(path: &Path, triple: &str) -> Result<ElfInfo, Refusal> {
    let data = std::fs::read(path).map_err(|e| Refusal {
        message: format!("cannot read {}: {e}", path.display()),
        hint: "check that the build produced the executable".into(),
    })?;
    let info = parse(&data).map_err(|e| Refusal {
        message: format!("{} cannot run on Lambda: {e}", path.display()),
        hint: format!(
            "build for Linux: --target-triple x86_64-unknown-linux-musl (or aarch64-unknown-linux-musl); \
             it was built for {triple}"
        ),
    })?;
    if !matches!(info.machine, Machine::X86_64 | Machine::Aarch64) {
        return Err(Refusal {
            message: format!(
                "{} is built for {}; Lambda runs x86_64 and arm64 (aarch64)",
                path.display(),
                info.machine
            ),
            hint:
                "build with --target-triple x86_64-unknown-linux-musl or aarch64-unknown-linux-musl"
                    .into(),
        });
    }
    if let Some(v) = &info.max_glibc
        && *v > vec![LAMBDA_GLIBC.0, LAMBDA_GLIBC.1]
    {
        let arch = match info.machine {
            Machine::Aarch64 => "aarch64",
            _ => "x86_64",
        };
        return Err(Refusal {
            message: format!(
                "{} needs glibc {} (symbol version GLIBC_{}), but Lambda's provided.al2023 runtime \
                 has glibc {}.{}: it would fail at start with `GLIBC_{} not found`",
                path.display(),
                version_string(v),
                version_string(v),
                LAMBDA_GLIBC.0,
                LAMBDA_GLIBC.1,
                version_string(v),
            ),
            hint: format!(
                "build a static binary: `rustup target add {arch}-unknown-linux-musl` and \
                 --target-triple {arch}-unknown-linux-musl (C dependencies need musl-tools), or \
                 link against glibc 2.34 with cargo-zigbuild (`pip install ziglang` and `cargo \
                 install cargo-zigbuild`; cargo pmcp then uses it automatically, as \
                 --target-triple {arch}-unknown-linux-gnu.2.34)"
            ),
        });
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 LE executable image: header, one program header (`PT_INTERP` or
    /// `PT_LOAD`), a `.gnu.version_r` needing `libc.so.6` at `versions`, and its string table.
    pub fn crafted(machine: u16, interp: bool, versions: &[&str]) -> Vec<u8> {
        let mut strtab = vec![0u8];
        let mut add = |s: &str| {
            let off = strtab.len() as u32;
            strtab.extend_from_slice(s.as_bytes());
            strtab.push(0);
            off
        };
        let libc = add("libc.so.6");
        let names: Vec<u32> = versions.iter().map(|v| add(v)).collect();
        // Layout: ehdr (64) | phdr (56) | verneed (16 + 16 * n) | strtab | shdrs (3 * 64).
        let phoff = 64u64;
        let vn_off = phoff + 56;
        let vn_size = 16 + 16 * names.len() as u64;
        let str_off = vn_off + vn_size;
        let shoff = str_off + strtab.len() as u64;
        let mut f = vec![0u8; shoff as usize + 3 * 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        f[18..20].copy_from_slice(&machine.to_le_bytes());
        f[32..40].copy_from_slice(&phoff.to_le_bytes());
        f[40..48].copy_from_slice(&shoff.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&1u16.to_le_bytes());
        f[58..60].copy_from_slice(&64u16.to_le_bytes());
        f[60..62].copy_from_slice(&3u16.to_le_bytes());
        let p_type: u32 = if interp { PT_INTERP } else { 1 };
        f[64..68].copy_from_slice(&p_type.to_le_bytes());
        let v = vn_off as usize;
        f[v..v + 2].copy_from_slice(&1u16.to_le_bytes());
        f[v + 2..v + 4].copy_from_slice(&(names.len() as u16).to_le_bytes());
        f[v + 4..v + 8].copy_from_slice(&libc.to_le_bytes());
        f[v + 8..v + 12].copy_from_slice(&16u32.to_le_bytes());
        for (i, n) in names.iter().enumerate() {
            let a = v + 16 + 16 * i;
            f[a + 8..a + 12].copy_from_slice(&n.to_le_bytes());
            let next: u32 = if i + 1 < names.len() { 16 } else { 0 };
            f[a + 12..a + 16].copy_from_slice(&next.to_le_bytes());
        }
        f[str_off as usize..shoff as usize].copy_from_slice(&strtab);
        // Section 1: .gnu.version_r, linked to section 2 (the string table).
        let s1 = shoff as usize + 64;
        f[s1 + 4..s1 + 8].copy_from_slice(&SHT_GNU_VERNEED.to_le_bytes());
        f[s1 + 24..s1 + 32].copy_from_slice(&vn_off.to_le_bytes());
        f[s1 + 32..s1 + 40].copy_from_slice(&vn_size.to_le_bytes());
        f[s1 + 40..s1 + 44].copy_from_slice(&2u32.to_le_bytes());
        f[s1 + 44..s1 + 48].copy_from_slice(&1u32.to_le_bytes());
        let s2 = shoff as usize + 128;
        f[s2 + 4..s2 + 8].copy_from_slice(&3u32.to_le_bytes()); // SHT_STRTAB
        f[s2 + 24..s2 + 32].copy_from_slice(&str_off.to_le_bytes());
        f[s2 + 32..s2 + 40].copy_from_slice(&(strtab.len() as u64).to_le_bytes());
        f
    }

    #[test]
    fn the_newest_glibc_version_is_found() {
        let f = crafted(
            62,
            true,
            &["GLIBC_2.2.5", "GLIBC_2.34", "GLIBC_2.9", "GLIBC_PRIVATE"],
        );
        let i = parse(&f).unwrap();
        assert_eq!(i.machine, Machine::X86_64);
        assert!(i.dynamic);
        assert_eq!(i.max_glibc, Some(vec![2, 34]));
    }

    #[test]
    fn newer_than_lambda_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bootstrap");
        std::fs::write(&p, crafted(183, true, &["GLIBC_2.17", "GLIBC_2.39"])).unwrap();
        let r = check_for_lambda(&p, "aarch64-unknown-linux-gnu").unwrap_err();
        assert!(r.message.contains("glibc 2.39"), "{}", r.message);
        assert!(r.hint.contains("aarch64-unknown-linux-musl"), "{}", r.hint);
        assert!(r.hint.contains("cargo-zigbuild"), "{}", r.hint);
        std::fs::write(&p, crafted(62, true, &["GLIBC_2.34"])).unwrap();
        assert!(check_for_lambda(&p, "x86_64-unknown-linux-gnu").is_ok());
        std::fs::write(&p, crafted(62, false, &[])).unwrap();
        let i = check_for_lambda(&p, "x86_64-unknown-linux-musl").unwrap();
        assert!(!i.dynamic && i.max_glibc.is_none());
    }

    #[test]
    fn other_machines_and_garbage_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bootstrap");
        std::fs::write(&p, crafted(40, true, &[])).unwrap(); // EM_ARM
        assert!(
            check_for_lambda(&p, "x")
                .unwrap_err()
                .message
                .contains("machine 40")
        );
        std::fs::write(&p, b"\xcf\xfa\xed\xfe not elf").unwrap(); // Mach-O
        assert!(check_for_lambda(&p, "aarch64-apple-darwin").is_err());
        // Truncations never panic.
        let f = crafted(62, true, &["GLIBC_2.34"]);
        for n in 0..f.len() {
            let _ = parse(&f[..n]);
        }
    }

    #[test]
    fn this_test_binary_parses() {
        // The running test executable is a real linker output.
        let exe = std::env::current_exe().unwrap();
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            let i = parse(&std::fs::read(exe).unwrap()).unwrap();
            assert_eq!(i.machine, Machine::X86_64);
            if cfg!(target_env = "gnu") {
                assert!(i.max_glibc.is_some());
            }
        }
    }
}
