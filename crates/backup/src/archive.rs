//! The archive file: a plain tar whose first entry is the manifest, written
//! to a hidden partial file and renamed into place only when complete, and
//! read back entry by entry with every size and checksum compared.

use crate::error::BackupError;
use crate::manifest::{
    DATABASE_ENTRY, KEY_ENTRY, MANIFEST_ENTRY, MAX_MANIFEST_BYTES, Manifest, hex,
};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Counts and hashes what passes through.
pub(crate) struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W> Hashing<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The inner writer, the byte count and the SHA-256 in hex.
    pub(crate) fn finish(self) -> (W, u64, String) {
        (self.inner, self.bytes, hex(&self.hasher.finalize()))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Size and SHA-256 of a file.
pub(crate) fn digest_file(path: &Path) -> io::Result<(u64, String)> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut sink = Hashing::new(io::sink());
    io::copy(&mut reader, &mut sink)?;
    let (_, bytes, sha) = sink.finish();
    Ok((bytes, sha))
}

/// Creates `path` for writing, readable by its owner only, failing if it exists.
pub(crate) fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Makes a rename or a new file in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn header(name: &str, size: u64, mtime: u64) -> io::Result<tar::Header> {
    let mut header = tar::Header::new_gnu();
    header.set_path(name)?;
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    Ok(header)
}

/// What goes into an archive besides the manifest.
pub(crate) struct Contents {
    /// The database copy on disk.
    pub(crate) database: PathBuf,
    /// The key file's bytes, when archived.
    pub(crate) key: Option<Vec<u8>>,
}

/// Writes the archive to `partial` (which must not exist; mode 0600),
/// synced to disk. Returns its size and SHA-256. On failure `partial` may
/// be left partly written: the caller removes it.
pub(crate) fn write(
    partial: &Path,
    manifest: &Manifest,
    contents: &Contents,
) -> Result<(u64, String), BackupError> {
    let fail = || format!("cannot write the archive {}", partial.display());
    let file = create_private(partial).map_err(BackupError::io(fail()))?;
    let mtime = u64::try_from(manifest.created_at.timestamp()).unwrap_or(0);
    let mut manifest_json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| BackupError::Damaged(format!("cannot write the manifest: {e}")))?;
    manifest_json.push(b'\n');
    let mut builder = tar::Builder::new(Hashing::new(BufWriter::with_capacity(1 << 20, file)));
    let write_all = |builder: &mut tar::Builder<Hashing<BufWriter<File>>>| -> io::Result<()> {
        builder.append(
            &header(MANIFEST_ENTRY, manifest_json.len() as u64, mtime)?,
            &manifest_json[..],
        )?;
        let database = File::open(&contents.database)?;
        let size = database.metadata()?.len();
        builder.append(
            &header(DATABASE_ENTRY, size, mtime)?,
            BufReader::with_capacity(1 << 20, database),
        )?;
        if let Some(key) = &contents.key {
            builder.append(&header(KEY_ENTRY, key.len() as u64, mtime)?, &key[..])?;
        }
        builder.finish()
    };
    write_all(&mut builder).map_err(BackupError::io(fail()))?;
    let hashing = builder.into_inner().map_err(BackupError::io(fail()))?;
    let (buffered, bytes, sha) = hashing.finish();
    let file = buffered
        .into_inner()
        .map_err(|e| BackupError::io(fail())(e.into_error()))?;
    file.sync_all().map_err(BackupError::io(fail()))?;
    Ok((bytes, sha))
}

/// An archive read back into `dir`: its manifest, the database file and
/// the key file's bytes, each checked against the manifest.
pub(crate) struct Extracted {
    pub(crate) manifest: Manifest,
    pub(crate) database: PathBuf,
    pub(crate) key: Option<Vec<u8>>,
}

/// Reads `archive` (never writing to it) into `dir`: the manifest first,
/// then exactly the entries it lists, each with the size and SHA-256 it
/// states; anything else is refused as damaged.
pub(crate) fn extract(archive: &Path, dir: &Path) -> Result<Extracted, BackupError> {
    let shown = archive.display();
    let damaged =
        |why: String| BackupError::Damaged(format!("{shown} is not a usable backup: {why}"));
    let file = File::open(archive).map_err(BackupError::io(format!("cannot read {shown}")))?;
    let mut tar = tar::Archive::new(BufReader::with_capacity(1 << 20, file));
    let mut entries = tar
        .entries()
        .map_err(|e| damaged(format!("not a tar archive ({e})")))?;
    let read_error = |e: io::Error| damaged(format!("cannot read an entry ({e})"));

    let mut first = entries
        .next()
        .ok_or_else(|| damaged("the archive is empty".into()))?
        .map_err(read_error)?;
    if entry_name(&first).as_deref() != Some(MANIFEST_ENTRY) {
        return Err(damaged(format!("its first entry is not {MANIFEST_ENTRY}")));
    }
    if first.header().size().unwrap_or(u64::MAX) > MAX_MANIFEST_BYTES {
        return Err(damaged("its manifest is too large".into()));
    }
    let mut text = Vec::new();
    first.read_to_end(&mut text).map_err(read_error)?;
    drop(first);
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| damaged(format!("its manifest does not parse ({e})")))?;
    manifest.check_format().map_err(damaged)?;

    let mut database = None;
    let mut key = None;
    let mut seen = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(read_error)?;
        let name = entry_name(&entry).unwrap_or_default();
        let Some(record) = manifest.file(&name) else {
            return Err(damaged(format!(
                "it holds `{name}`, which its manifest does not list"
            )));
        };
        if seen.contains(&name) {
            return Err(damaged(format!("it holds `{name}` twice")));
        }
        if entry.header().entry_type() != tar::EntryType::Regular
            || entry.header().size().ok() != Some(record.bytes)
        {
            return Err(damaged(format!(
                "`{name}` is not the {}-byte file its manifest lists",
                record.bytes
            )));
        }
        let (bytes, sha) = if name == DATABASE_ENTRY {
            let path = dir.join(DATABASE_ENTRY);
            let out = create_private(&path)
                .map_err(BackupError::io(format!("cannot write {}", path.display())))?;
            let mut sink = Hashing::new(BufWriter::with_capacity(1 << 20, out));
            io::copy(&mut entry, &mut sink).map_err(BackupError::io(format!(
                "cannot extract the database to {}",
                path.display()
            )))?;
            let (out, bytes, sha) = sink.finish();
            out.into_inner()
                .map_err(|e| {
                    BackupError::io(format!("cannot write {}", path.display()))(e.into_error())
                })?
                .sync_all()
                .map_err(BackupError::io(format!("cannot write {}", path.display())))?;
            database = Some(path);
            (bytes, sha)
        } else {
            let mut sink = Hashing::new(Vec::new());
            io::copy(&mut entry, &mut sink).map_err(read_error)?;
            let (bytes_read, count, sha) = sink.finish();
            key = Some(bytes_read);
            (count, sha)
        };
        if bytes != record.bytes || sha != record.sha256 {
            return Err(damaged(format!(
                "`{name}` does not match its checksum in the manifest (SHA-256 {sha}, expected {})",
                record.sha256
            )));
        }
        seen.push(name);
    }
    for record in &manifest.files {
        if !seen.contains(&record.name) {
            return Err(damaged(format!(
                "`{}` is missing (cut short?)",
                record.name
            )));
        }
    }
    let database = database.ok_or_else(|| damaged(format!("`{DATABASE_ENTRY}` is missing")))?;
    Ok(Extracted {
        manifest,
        database,
        key,
    })
}

fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> Option<String> {
    entry
        .path()
        .ok()
        .and_then(|p| p.to_str().map(str::to_owned))
}
