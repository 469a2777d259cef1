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
    crate::ui::write_atomic_with(out, |f| write_zip(binary, &mut manifest, f))?;
    let (sha256, size) = sha256_file(out)?;
    Ok(Artifact {
        path: out.to_path_buf(),
        size,
        sha256,
        manifest,
    })
}

/// Where the artifact of `name` built for `triple` goes: `<target_dir>/pmcp-deploy/<triple>/<name>.zip`.
/// Both `triple` (from `--target-triple`) and `name` must be one plain path component each (no
/// `/`, `\\`, `..`, nor an absolute path), so the zip can only land below `target_dir`; anything
/// else is refused rather than cleaned up.
pub fn artifact_path(target_dir: &Path, triple: &str, name: &str) -> Result<PathBuf, String> {
    fn one_component(what: &str, v: &str) -> Result<(), String> {
        let plain = !v.is_empty()
            && !v.contains(['/', '\\', '\0'])
            && v != "."
            && v != ".."
            && matches!(
                Path::new(v).components().collect::<Vec<_>>().as_slice(),
                [std::path::Component::Normal(_)]
            );
        if plain {
            Ok(())
        } else {
            Err(format!(
                "the {what} cannot be used in a file name (it must not contain `/`, `\\` or be `..`)"
            ))
        }
    }
    one_component("target triple", triple)?;
    one_component("server name", name)?;
    let base = target_dir.join("pmcp-deploy");
    let out = base.join(triple).join(format!("{name}.zip"));
    // Belt and braces: the joined path stays below the target directory.
    if !out.starts_with(&base) {
        return Err("the artifact path would leave the target directory".into());
    }
    Ok(out)
}

/// A reader that hashes and counts what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R> HashingReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

fn write_zip(binary: &Path, manifest: &mut DeployManifest, out: &mut File) -> io::Result<()> {
    let mut zip = ZipWriter::new(BufWriter::with_capacity(BUF, out));
    let src = File::open(binary)?;
    let large = src.metadata()?.len() >= u64::from(u32::MAX);
    // Entries in sorted order: "bootstrap" < "pmcp-deploy.json".
    zip.start_file(BOOTSTRAP, entry_options(0o755, large))
        .map_err(io::Error::other)?;
    let mut src = HashingReader::new(BufReader::with_capacity(BUF, src));
    io::copy(&mut src, &mut zip)?;
    manifest.binary_sha256 = hex::encode(src.hasher.finalize());
    manifest.binary_size = src.count;
    zip.start_file(MANIFEST, entry_options(0o644, false))
        .map_err(io::Error::other)?;
    let mut json = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
    json.push(b'\n');
    zip.write_all(&json)?;
    zip.finish().map_err(io::Error::other)?.flush()
}

/// Read `pmcp-deploy.json` from an artifact.
pub fn read_manifest(zip_path: &Path) -> io::Result<DeployManifest> {
    let mut archive =
        ZipArchive::new(BufReader::new(File::open(zip_path)?)).map_err(io::Error::other)?;
    let entry = archive.by_name(MANIFEST).map_err(io::Error::other)?;
    serde_json::from_reader(entry).map_err(io::Error::other)
}

/// Extract `bootstrap` from an artifact to `dest` (mode 0755), streamed and written atomically,
/// and check it against the SHA-256 recorded in `pmcp-deploy.json`. Returns the manifest.
pub fn extract_bootstrap(zip_path: &Path, dest: &Path) -> io::Result<DeployManifest> {
    let mut archive =
        ZipArchive::new(BufReader::new(File::open(zip_path)?)).map_err(io::Error::other)?;
    let manifest: DeployManifest =
        serde_json::from_reader(archive.by_name(MANIFEST).map_err(io::Error::other)?)
            .map_err(io::Error::other)?;
    let mut src = HashingReader::new(archive.by_name(BOOTSTRAP).map_err(io::Error::other)?);
    crate::ui::write_atomic_with(dest, |f| {
        let mut out = BufWriter::with_capacity(BUF, &mut *f);
        io::copy(&mut src, &mut out)?;
        out.flush()?;
        drop(out);
        let got = hex::encode(src.hasher.clone().finalize());
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
        set_executable(f)
    })?;
    Ok(manifest)
}

#[cfg(unix)]
fn set_executable(f: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn set_executable(_f: &File) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_artifact_path_cannot_leave_the_target_dir() {
        let t = Path::new("/work/target");
        assert_eq!(
            artifact_path(t, "x86_64-unknown-linux-gnu", "weather").unwrap(),
            Path::new("/work/target/pmcp-deploy/x86_64-unknown-linux-gnu/weather.zip")
        );
        for (triple, name) in [
            ("x86_64-unknown-linux-gnu", "../../../../tmp/x"),
            ("x86_64-unknown-linux-gnu", "/tmp/abs"),
            ("x86_64-unknown-linux-gnu", ".."),
            ("x86_64-unknown-linux-gnu", ""),
            ("../../etc", "weather"),
            ("/tmp", "weather"),
        ] {
            assert!(artifact_path(t, triple, name).is_err(), "{triple} {name}");
        }
    }

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

    #[test]
    fn a_bootstrap_that_does_not_match_its_sha256_is_not_extracted() {
        let dir = tempfile::tempdir().unwrap();
        let zip_path = dir.path().join("bad.zip");
        let mut zip = ZipWriter::new(File::create(&zip_path).unwrap());
        zip.start_file(BOOTSTRAP, entry_options(0o755, false))
            .unwrap();
        zip.write_all(b"not the recorded binary").unwrap();
        zip.start_file(MANIFEST, entry_options(0o644, false))
            .unwrap();
        let mut m = manifest();
        m.binary_sha256 = "00".repeat(32);
        zip.write_all(&serde_json::to_vec(&m).unwrap()).unwrap();
        zip.finish().unwrap();
        let out_dir = dir.path().join("x");
        let err = extract_bootstrap(&zip_path, &out_dir.join(BOOTSTRAP)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            err.to_string().contains("pmcp-deploy.json records"),
            "{err}"
        );
        // Neither the binary nor a temp file is left behind.
        assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0);
    }
}
