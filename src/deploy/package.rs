//! The deployment artifact: a zip with the server binary as `bootstrap` (mode 0755) and
//! `pmcp-deploy.json` (what it is and what it expects).
//!
//! - Reproducible: fixed timestamps (1980-01-01, the zip epoch), fixed compression level, entries
//!   in sorted order, no extra fields; the same binary gives the same zip bytes.
//! - Streamed: the binary is copied from its file into the compressor with a fixed-size buffer, so
//!   memory does not grow with the binary's size. The zip is written to a temp file and renamed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

/// The binary's name inside the zip.
pub const BOOTSTRAP: &str = "bootstrap";
/// The description's name inside the zip.
pub const MANIFEST: &str = "pmcp-deploy.json";
/// Deflate level used for every entry (fixed, so output is reproducible).
pub const COMPRESSION_LEVEL: i64 = 6;

const BUF: usize = 256 * 1024;

/// `pmcp-deploy.json`: what the artifact holds. Names only, never values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployManifest {
    /// Format version of this file.
    pub format: u32,
    /// The server's name (`[server] name`, default the package name).
    pub name: String,
    /// The package version.
    pub version: String,
    /// The cargo binary target that became `bootstrap`.
    pub bin: String,
    /// The target triple the binary was built for.
    pub target: String,
    /// Hex SHA-256 of the binary.
    pub binary_sha256: String,
    /// Size of the binary in bytes.
    pub binary_size: u64,
    /// Names of the non-secret variables the server gets.
    pub env_names: Vec<String>,
    /// Names of the secrets the server gets (values are never in the artifact).
    pub secret_names: Vec<String>,
}

/// A written artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// Where the zip is.
    pub path: PathBuf,
    /// Zip size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the zip.
    pub sha256: String,
    /// What the zip describes.
    #[serde(skip)]
    pub manifest: DeployManifest,
}

/// Hex SHA-256 and size of a file, read in fixed-size chunks.
pub fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; BUF];
    let mut n = 0u64;
    loop {
        let r = f.read(&mut buf)?;
        if r == 0 {
            break;
        }
        h.update(&buf[..r]);
        n += r as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

fn entry_options(mode: u32, large: bool) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(COMPRESSION_LEVEL))
        .last_modified_time(DateTime::DEFAULT)
        .unix_permissions(mode)
        .large_file(large)
}

/// Write the zip for `binary` to `out`. `manifest.binary_sha256` and `binary_size` are filled in
/// here: the binary is hashed while it is compressed (one read), which works because
/// `pmcp-deploy.json` sorts after `bootstrap` and so is written second.
pub fn package(binary: &Path, mut manifest: DeployManifest, out: &Path) -> io::Result<Artifact> {
    manifest.env_names.sort();
    manifest.secret_names.sort();
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = write_zip(binary, &mut manifest, &tmp).and_then(|()| std::fs::rename(&tmp, out));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    let (sha256, size) = sha256_file(out)?;
    Ok(Artifact {
        path: out.to_path_buf(),
        size,
        sha256,
        manifest,
    })
}

/// A reader that hashes and counts what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

fn write_zip(binary: &Path, manifest: &mut DeployManifest, tmp: &Path) -> io::Result<()> {
    let file = File::create(tmp)?;
    let mut zip = ZipWriter::new(BufWriter::with_capacity(BUF, file));
    let src = File::open(binary)?;
    let large = src.metadata()?.len() >= u64::from(u32::MAX);
    // Entries in sorted order: "bootstrap" < "pmcp-deploy.json".
    zip.start_file(BOOTSTRAP, entry_options(0o755, large))
        .map_err(io::Error::other)?;
    let mut src = HashingReader {
        inner: BufReader::with_capacity(BUF, src),
        hasher: Sha256::new(),
        count: 0,
    };
    io::copy(&mut src, &mut zip)?;
    manifest.binary_sha256 = hex::encode(src.hasher.finalize());
    manifest.binary_size = src.count;
    zip.start_file(MANIFEST, entry_options(0o644, false))
        .map_err(io::Error::other)?;
    let mut json = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
    json.push(b'\n');
    zip.write_all(&json)?;
    let mut w = zip.finish().map_err(io::Error::other)?;
    w.flush()?;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()
}

/// Read `pmcp-deploy.json` from an artifact.
pub fn read_manifest(zip_path: &Path) -> io::Result<DeployManifest> {
    let mut archive =
        ZipArchive::new(BufReader::new(File::open(zip_path)?)).map_err(io::Error::other)?;
    let entry = archive.by_name(MANIFEST).map_err(io::Error::other)?;
    serde_json::from_reader(entry).map_err(io::Error::other)
}

/// Extract `bootstrap` from an artifact to `dest` (mode 0755), streamed, and check it against the
/// SHA-256 recorded in `pmcp-deploy.json`. Returns the manifest.
pub fn extract_bootstrap(zip_path: &Path, dest: &Path) -> io::Result<DeployManifest> {
    let manifest = read_manifest(zip_path)?;
    let mut archive =
        ZipArchive::new(BufReader::new(File::open(zip_path)?)).map_err(io::Error::other)?;
    let mut entry = archive.by_name(BOOTSTRAP).map_err(io::Error::other)?;
    if let Some(d) = dest.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = dest.with_extension(format!("tmp-{}", std::process::id()));
    let result = (|| {
        let mut out = BufWriter::with_capacity(BUF, File::create(&tmp)?);
        let mut h = Sha256::new();
        let mut buf = vec![0u8; BUF];
        loop {
            let r = entry.read(&mut buf)?;
            if r == 0 {
                break;
            }
            h.update(&buf[..r]);
            out.write_all(&buf[..r])?;
        }
        out.flush()?;
        let got = hex::encode(h.finalize());
        if got != manifest.binary_sha256 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "bootstrap in {} has sha256 {got}, but pmcp-deploy.json records {}",
                    zip_path.display(),
                    manifest.binary_sha256
                ),
            ));
        }
        set_executable(&tmp)?;
        std::fs::rename(&tmp, dest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| manifest)
}

#[cfg(unix)]
fn set_executable(p: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn set_executable(_p: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> DeployManifest {
        DeployManifest {
            format: 1,
            name: "srv".into(),
            version: "0.1.0".into(),
            bin: "srv".into(),
            target: "x86_64-unknown-linux-gnu".into(),
            binary_sha256: String::new(),
            binary_size: 0,
            env_names: vec!["B".into(), "A".into()],
            secret_names: vec![],
        }
    }

    #[test]
    fn same_binary_same_bytes_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&bin, &data).unwrap();
        let a = package(&bin, manifest(), &dir.path().join("a.zip")).unwrap();
        // The binary's mtime must not matter.
        File::options()
            .write(true)
            .open(&bin)
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
            .unwrap();
        let b = package(&bin, manifest(), &dir.path().join("b.zip")).unwrap();
        assert_eq!(a.sha256, b.sha256);
        assert_eq!(
            std::fs::read(&a.path).unwrap(),
            std::fs::read(&b.path).unwrap()
        );
        let m = read_manifest(&a.path).unwrap();
        assert_eq!(m.env_names, vec!["A".to_string(), "B".to_string()]);
        assert_eq!(m.binary_size, data.len() as u64);
        let out = dir.path().join("x/bootstrap");
        extract_bootstrap(&a.path, &out).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), data);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o755);
            let mut ar = ZipArchive::new(File::open(&a.path).unwrap()).unwrap();
            let names: Vec<String> = (0..ar.len())
                .map(|i| ar.by_index(i).unwrap().name().unwrap().to_string())
                .collect();
            assert_eq!(names, vec![BOOTSTRAP.to_string(), MANIFEST.to_string()]);
            assert_eq!(
                ar.by_name(BOOTSTRAP).unwrap().unix_mode().unwrap() & 0o777,
                0o755
            );
        }
    }
}
