//! FHIR Bulk Data NDJSON output: one `<Type>.ndjson` file per resource type, one resource per
//! line, written atomically and byte-for-byte deterministically.
//!
//! **Bytes.** Each line is the resource as compact JSON (no spaces), then `\n`. Object keys are
//! written in a fixed order, recursively: `resourceType` first in any object that has one (a
//! resource: the line itself, contained resources, Bundle entries), then every other key in
//! byte order of its UTF-8 name. `resourceType` first because every NDJSON consumer (Bulk Data importers,
//! `head`, streaming parsers) looks at it first; sorted because it is the only order that does
//! not depend on how a mapping built the object. We sort explicitly instead of relying on
//! `serde_json::Map` being a `BTreeMap`: any crate in the build enabling serde_json's
//! `preserve_order` feature would silently turn it into insertion order. Strings are escaped
//! exactly as serde_json escapes them; numbers are written as serde_json writes them.
//!
//! **Atomicity.** Files are written into a hidden sibling folder (a temporary name of
//! `ferry_core::atomic`, swept once its process is gone) and fsynced; `finish()` renames that
//! folder to the destination, which must not exist: a writer never replaces or deletes anything
//! it did not create (runs get a folder each; see `ferry-ops`). A writer dropped without
//! `finish()` deletes its temporary folder, so a failed run never leaves half-written files where
//! output belongs. Files are `0600`, folders `0700`: output is PHI.
//!
//! **Reading.** [`NdjsonReader`] is the one reader of NDJSON in Ferry (verification, sample
//! packets, target exports): line by line in bounded memory, with line numbers, byte offsets and
//! an optional sha256 of everything read.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Errors writing NDJSON output. Messages name files and resource positions, never values.
#[derive(Debug, thiserror::Error)]
pub enum NdjsonError {
    #[error(
        "{path}: {action} failed: {source}. Check that the folder exists, is writable and the disk is not full."
    )]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "{dest}: the output destination already exists; Ferry never replaces output it did not just write. Choose another folder"
    )]
    DestinationExists { dest: PathBuf },
    #[error(
        "{dest}: the output path has no parent folder or no file name; give a folder path like output/ndjson."
    )]
    BadDestination { dest: PathBuf },
    #[error(
        "resource #{index} written to {dest}: {problem}; every resource must have a \"resourceType\" naming a FHIR type (letters only, starting with a capital)."
    )]
    NotAResource {
        dest: PathBuf,
        /// 1-based position of the resource among those written.
        index: u64,
        problem: &'static str,
    },
    #[error(
        "{path}:{line}: the line is longer than {max} bytes; each line must hold one FHIR resource"
    )]
    LineTooLong { path: PathBuf, line: u64, max: u64 },
    #[error(
        "{path}:{line}: not JSON ({problem} at column {column}); each line must hold one FHIR resource"
    )]
    NotJson {
        path: PathBuf,
        line: u64,
        column: usize,
        problem: &'static str,
    },
}

/// One file written by [`NdjsonWriter::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NdjsonFile {
    pub resource_type: String,
    /// File name inside the destination folder, `<resource_type>.ndjson`.
    pub file_name: String,
    /// Number of resources (lines) in the file.
    pub count: u64,
    /// sha256 of the file's bytes, lowercase hex.
    pub sha256: String,
}

struct TypeFile {
    out: BufWriter<File>,
    path: PathBuf,
    hasher: Sha256,
    count: u64,
    /// Bytes written since the last background fsync request.
    unsynced: u64,
}

/// One transaction Bundle file written beside the NDJSON (`bundles/bundle-NNNNNN.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BundleFile {
    /// Path inside the destination folder, e.g. `bundles/bundle-000001.json`.
    pub file_name: String,
    pub entries: u64,
    /// sha256 of the file's bytes, lowercase hex.
    pub sha256: String,
}

/// The open transaction Bundle: entries are appended as bytes, so a bundle is never held in
/// memory as a JSON tree.
struct Bundles {
    size: usize,
    dir: PathBuf,
    current: Option<(BufWriter<File>, PathBuf, Sha256, u64)>,
    done: Vec<BundleFile>,
}

/// Streams resources into one NDJSON file per resource type. See the module docs.
pub struct NdjsonWriter {
    dest: PathBuf,
    tmp: PathBuf,
    files: BTreeMap<String, TypeFile>,
    line: Vec<u8>,
    written: u64,
    finished: bool,
    bundles: Option<Bundles>,
    writeback: ferry_core::writeback::Writeback,
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> NdjsonError + 'a {
    move |source| NdjsonError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

impl NdjsonWriter {
    /// Starts writing the folder `dest`, which must not exist (it appears, whole, on
    /// `finish()`). Its parent folder must exist.
    pub fn create(dest: impl AsRef<Path>) -> Result<NdjsonWriter, NdjsonError> {
        let dest = dest.as_ref().to_path_buf();
        let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
            return Err(NdjsonError::BadDestination { dest });
        };
        if dest.symlink_metadata().is_ok() {
            return Err(NdjsonError::DestinationExists { dest });
        }
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let tmp = parent.join(ferry_core::atomic::temp_name(&name.to_string_lossy()));
        ferry_core::atomic::create_dir(&tmp, ferry_core::atomic::Contents::Phi)
            .map_err(io_err(&tmp, "creating the temporary output folder"))?;
        Ok(NdjsonWriter {
            dest,
            tmp,
            files: BTreeMap::new(),
            line: Vec::with_capacity(4096),
            written: 0,
            finished: false,
            bundles: None,
            writeback: ferry_core::writeback::Writeback::new(),
        })
    }

    /// Also writes every resource into FHIR `transaction` Bundles of at most `size` entries
    /// (`bundles/bundle-000001.json`, ...), each entry a `PUT Type/id` so that re-sending a
    /// bundle updates instead of duplicating. Entries keep the order they were written in.
    pub fn with_bundles(mut self, size: usize) -> Result<NdjsonWriter, NdjsonError> {
        let dir = self.tmp.join("bundles");
        ferry_core::atomic::create_dir(&dir, ferry_core::atomic::Contents::Phi)
            .map_err(io_err(&dir, "creating the bundles folder"))?;
        self.bundles = Some(Bundles {
            size: size.max(1),
            dir,
            current: None,
            done: Vec::new(),
        });
        Ok(self)
    }

    /// Appends one resource to `<resourceType>.ndjson`.
    pub fn write(&mut self, resource: &Value) -> Result<(), NdjsonError> {
        self.written += 1;
        let resource_type = match resource.get("resourceType") {
            Some(Value::String(t)) if is_type_name(t) => t,
            Some(Value::String(_)) => {
                return Err(self.not_a_resource("\"resourceType\" is not a resource type name"));
            }
            Some(_) => return Err(self.not_a_resource("\"resourceType\" is not a string")),
            None if resource.is_object() => {
                return Err(self.not_a_resource("\"resourceType\" is missing"));
            }
            None => return Err(self.not_a_resource("it is not a JSON object")),
        };
        let resource_type = resource_type.clone();
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        write_canonical(&mut line, resource);
        let result = self.write_line(&resource_type, &line);
        self.line = line;
        result
    }

    /// Appends one resource already serialized with [`write_canonical`] (without the newline) to
    /// `<resource_type>.ndjson`: for callers that serialize on other threads (and hash the same
    /// bytes). The caller guarantees `resource_type` is the resource's type.
    pub fn write_line(&mut self, resource_type: &str, canonical: &[u8]) -> Result<(), NdjsonError> {
        self.write_line_with_id(resource_type, None, canonical)
    }

    /// [`NdjsonWriter::write_line`] for a caller that knows the resource's id (saves parsing the
    /// line again when bundles are written).
    pub fn write_line_with_id(
        &mut self,
        resource_type: &str,
        id: Option<&str>,
        canonical: &[u8],
    ) -> Result<(), NdjsonError> {
        if !is_type_name(resource_type) {
            return Err(self.not_a_resource("\"resourceType\" is not a resource type name"));
        }
        if !self.files.contains_key(resource_type) {
            let path = self.tmp.join(format!("{resource_type}.ndjson"));
            let file = ferry_core::atomic::create_file(&path, ferry_core::atomic::Contents::Phi)
                .map_err(io_err(&path, "creating"))?;
            self.files.insert(
                resource_type.to_string(),
                TypeFile {
                    out: BufWriter::with_capacity(256 * 1024, file),
                    path,
                    hasher: Sha256::new(),
                    count: 0,
                    unsynced: 0,
                },
            );
        }
        let Some(f) = self.files.get_mut(resource_type) else {
            unreachable!("inserted above");
        };
        f.out
            .write_all(canonical)
            .and_then(|_| f.out.write_all(b"\n"))
            .map_err(io_err(&f.path, "writing"))?;
        f.hasher.update(canonical);
        f.hasher.update(b"\n");
        f.count += 1;
        f.unsynced += canonical.len() as u64 + 1;
        if f.unsynced >= ferry_core::writeback::WRITEBACK_EVERY {
            f.unsynced = 0;
            self.writeback.request(f.out.get_ref());
        }
        if self.bundles.is_some() {
            self.bundle_entry(resource_type, id, canonical)?;
        }
        Ok(())
    }

    fn bundle_entry(
        &mut self,
        resource_type: &str,
        id: Option<&str>,
        canonical: &[u8],
    ) -> Result<(), NdjsonError> {
        let id = match id {
            Some(id) if crate::ids::is_valid_id(id) => Some(id.to_string()),
            Some(_) => None,
            None => id_of(canonical),
        };
        let id = id.ok_or_else(|| NdjsonError::NotAResource {
            dest: self.dest.clone(),
            index: self.written,
            problem: "a resource for a bundle has no valid \"id\"",
        })?;
        let Some(b) = self.bundles.as_mut() else {
            return Ok(());
        };
        if b.current.is_none() {
            let path = b.dir.join(format!("bundle-{:06}.json", b.done.len() + 1));
            let file = ferry_core::atomic::create_file(&path, ferry_core::atomic::Contents::Phi)
                .map_err(io_err(&path, "creating"))?;
            b.current = Some((
                BufWriter::with_capacity(256 * 1024, file),
                path,
                Sha256::new(),
                0,
            ));
        }
        let Some((out, path, hasher, n)) = b.current.as_mut() else {
            unreachable!("opened above");
        };
        let mut head = Vec::with_capacity(96);
        head.extend_from_slice(if *n == 0 {
            b"{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[\n"
        } else {
            b",\n"
        });
        head.extend_from_slice(b"{\"request\":{\"method\":\"PUT\",\"url\":\"");
        head.extend_from_slice(resource_type.as_bytes());
        head.push(b'/');
        head.extend_from_slice(id.as_bytes());
        head.extend_from_slice(b"\"},\"resource\":");
        for part in [&head[..], canonical, b"}"] {
            out.write_all(part).map_err(io_err(path, "writing"))?;
            hasher.update(part);
        }
        *n += 1;
        if *n as usize >= b.size {
            close_bundle(b)?;
        }
        Ok(())
    }

    fn not_a_resource(&self, problem: &'static str) -> NdjsonError {
        NdjsonError::NotAResource {
            dest: self.dest.clone(),
            index: self.written,
            problem,
        }
    }

    /// Flushes and fsyncs every file, moves the folder into place and returns one entry per
    /// file, sorted by resource type.
    pub fn finish(self) -> Result<Vec<NdjsonFile>, NdjsonError> {
        self.finish_all().map(|(files, _)| files)
    }

    /// [`NdjsonWriter::finish`], also returning the transaction Bundles written (in order).
    pub fn finish_all(mut self) -> Result<(Vec<NdjsonFile>, Vec<BundleFile>), NdjsonError> {
        let mut bundles = Vec::new();
        if let Some(mut b) = self.bundles.take() {
            close_bundle(&mut b)?;
            bundles = b.done;
        }
        let files = std::mem::take(&mut self.files);
        let mut summary = Vec::with_capacity(files.len());
        for (resource_type, f) in files {
            let TypeFile {
                out,
                path,
                hasher,
                count,
                ..
            } = f;
            let file = out
                .into_inner()
                .map_err(|e| io_err(&path, "flushing")(e.into_error()))?;
            file.sync_all().map_err(io_err(&path, "syncing"))?;
            summary.push(NdjsonFile {
                file_name: format!("{resource_type}.ndjson"),
                resource_type,
                count,
                sha256: hex::encode(hasher.finalize()),
            });
        }
        // The folder's entries are durable before it gets its final name.
        if let Some(b) = &bundles_dir(&self.tmp) {
            ferry_core::atomic::sync_dir(b).map_err(io_err(b, "syncing"))?;
        }
        ferry_core::atomic::sync_dir(&self.tmp).map_err(io_err(&self.tmp, "syncing"))?;
        if self.dest.symlink_metadata().is_ok() {
            return Err(NdjsonError::DestinationExists {
                dest: self.dest.clone(),
            });
        }
        ferry_core::crash::point("ndjson.before-rename");
        fs::rename(&self.tmp, &self.dest)
            .map_err(io_err(&self.dest, "moving the new output into place"))?;
        self.finished = true;
        if let Some(parent) = self.dest.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            let _ = ferry_core::atomic::sync_dir(parent);
        }
        Ok((summary, bundles))
    }
}

fn bundles_dir(tmp: &Path) -> Option<PathBuf> {
    let b = tmp.join("bundles");
    b.is_dir().then_some(b)
}

/// Ends the open bundle (if any): closes the entry array, flushes and fsyncs.
fn close_bundle(b: &mut Bundles) -> Result<(), NdjsonError> {
    let Some((mut out, path, mut hasher, n)) = b.current.take() else {
        return Ok(());
    };
    out.write_all(b"\n]}\n").map_err(io_err(&path, "writing"))?;
    hasher.update(b"\n]}\n");
    let file = out
        .into_inner()
        .map_err(|e| io_err(&path, "flushing")(e.into_error()))?;
    file.sync_all().map_err(io_err(&path, "syncing"))?;
    b.done.push(BundleFile {
        file_name: format!("bundles/bundle-{:06}.json", b.done.len() + 1),
        entries: n,
        sha256: hex::encode(hasher.finalize()),
    });
    Ok(())
}

/// The top-level `"id"` of a resource line (parsed: nested objects may hold `id`s too).
fn id_of(canonical: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: Option<String>,
    }
    serde_json::from_slice::<IdOnly>(canonical)
        .ok()?
        .id
        .filter(|id| crate::ids::is_valid_id(id))
}

impl Drop for NdjsonWriter {
    fn drop(&mut self) {
        if !self.finished {
            self.files.clear(); // close the files before deleting them
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

fn is_type_name(t: &str) -> bool {
    let mut bytes = t.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z'))
        && t.len() <= 64
        && bytes.all(|b| b.is_ascii_alphabetic())
}

/// Longest line [`NdjsonReader`] accepts by default (16 MB): one resource, with its attachments.
pub const MAX_LINE: u64 = 16 << 20;

/// One line read by [`NdjsonReader`].
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// The file it was read from.
    pub path: &'a Path,
    /// 1-based line number.
    pub number: u64,
    /// Byte offset of the line's first byte in the file.
    pub offset: u64,
    /// The line without its `\n` (and without a `\r` before it).
    pub bytes: &'a [u8],
    /// Bytes the line took in the file, newline included.
    pub len: u64,
}

impl Line<'_> {
    /// Parses the line as JSON, with an error naming the file and line (never the content).
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, NdjsonError> {
        serde_json::from_slice(self.bytes).map_err(|e| NdjsonError::NotJson {
            path: self.path.to_path_buf(),
            line: self.number,
            column: e.column(),
            problem: json_problem(&e),
        })
    }
}

/// Reads NDJSON line by line in bounded memory (see the module docs).
pub struct NdjsonReader<R: io::Read> {
    path: PathBuf,
    input: io::BufReader<R>,
    buf: Vec<u8>,
    offset: u64,
    number: u64,
    hasher: Option<Sha256>,
    max_line: u64,
}

impl NdjsonReader<File> {
    /// Opens an NDJSON file.
    pub fn open(path: impl AsRef<Path>) -> Result<NdjsonReader<File>, NdjsonError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(io_err(path, "opening"))?;
        Ok(NdjsonReader::new(file, path))
    }
}

impl<R: io::Read> NdjsonReader<R> {
    /// Reads NDJSON from `input`; `path` names it in errors.
    pub fn new(input: R, path: impl AsRef<Path>) -> NdjsonReader<R> {
        NdjsonReader {
            path: path.as_ref().to_path_buf(),
            input: io::BufReader::with_capacity(1 << 20, input),
            buf: Vec::new(),
            offset: 0,
            number: 0,
            hasher: None,
            max_line: MAX_LINE,
        }
    }

    /// Also computes the sha256 of every byte read ([`NdjsonReader::sha256`]).
    pub fn with_sha256(mut self) -> Self {
        self.hasher = Some(Sha256::new());
        self
    }

    /// Accepts lines of at most `max` bytes.
    pub fn with_max_line(mut self, max: u64) -> Self {
        self.max_line = max.max(1);
        self
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.offset
    }

    /// The next line, or `None` at the end. Blank lines are returned too (as empty `bytes`),
    /// so line numbers stay the file's.
    pub fn next_line(&mut self) -> Result<Option<Line<'_>>, NdjsonError> {
        use io::BufRead;
        self.buf.clear();
        let n = io::Read::take(&mut self.input, self.max_line + 1)
            .read_until(b'\n', &mut self.buf)
            .map_err(io_err(&self.path, "reading"))? as u64;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        if n > self.max_line && self.buf.last() != Some(&b'\n') {
            return Err(NdjsonError::LineTooLong {
                path: self.path.clone(),
                line: self.number,
                max: self.max_line,
            });
        }
        if let Some(h) = &mut self.hasher {
            h.update(&self.buf);
        }
        let offset = self.offset;
        self.offset += n;
        let mut bytes = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        Ok(Some(Line {
            path: &self.path,
            number: self.number,
            offset,
            bytes,
            len: n,
        }))
    }

    /// sha256 of everything read (lowercase hex), when asked for with
    /// [`NdjsonReader::with_sha256`].
    pub fn sha256(self) -> Option<String> {
        self.hasher.map(|h| hex::encode(h.finalize()))
    }
}

/// What kind of JSON error this is, in words (never the content).
pub fn json_problem(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Eof => "unexpected end",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "invalid data",
        serde_json::error::Category::Io => "read error",
    }
}

/// Appends the canonical compact JSON of `value` to `out` (key order: see the module docs).
pub fn write_canonical(out: &mut Vec<u8>, value: &Value) {
    write_canonical_without(out, value, None)
}

/// As [`write_canonical`], leaving out the top-level member `skip` of an object (a loader's
/// content hash leaves out `meta`, which servers rewrite) without copying the object.
pub fn write_canonical_without(out: &mut Vec<u8>, value: &Value, skip: Option<&str>) {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            let mut first = true;
            let mut emit = |out: &mut Vec<u8>, key: &str, v: &Value| {
                if !first {
                    out.push(b',');
                }
                first = false;
                write_string(out, key);
                out.push(b':');
                write_canonical(out, v);
            };
            let resource_type = map.get("resourceType").filter(|t| t.is_string());
            if let Some(t) = resource_type
                && skip != Some("resourceType")
            {
                emit(out, "resourceType", t);
            }
            let skip =
                |key: &str| (resource_type.is_some() && key == "resourceType") || skip == Some(key);
            // serde_json's map iterates in key order unless a dependency turns on its
            // `preserve_order` feature: take the cheap path when the keys come sorted.
            let sorted = map
                .keys()
                .zip(map.keys().skip(1))
                .all(|(a, b)| a.as_str() < b.as_str());
            if sorted {
                for (key, v) in map {
                    if !skip(key) {
                        emit(out, key, v);
                    }
                }
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                for (key, v) in entries {
                    if !skip(key) {
                        emit(out, key, v);
                    }
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, item);
            }
            out.push(b']');
        }
        scalar => {
            // Null, Bool, Number, String: serde_json's own compact form. Writing to a Vec
            // cannot fail.
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: &Value) -> String {
        let mut out = Vec::new();
        write_canonical(&mut out, v);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn resource_type_first_then_sorted() {
        let v = json!({"id": "1", "status": "x", "resourceType": "Immunization",
            "b": {"z": 1, "a": [{"y": null, "x": true}]}, "A": 1.5,
            "contained": [{"id": "c", "resourceType": "Patient"}]});
        assert_eq!(
            canon(&v),
            r#"{"resourceType":"Immunization","A":1.5,"b":{"a":[{"x":true,"y":null}],"z":1},"contained":[{"resourceType":"Patient","id":"c"}],"id":"1","status":"x"}"#
        );
    }

    #[test]
    fn strings_are_escaped_and_newlines_never_raw() {
        let v = json!({"resourceType": "Patient", "t": "a\nb\"c\u{1}é"});
        let s = canon(&v);
        assert!(!s.contains('\n'));
        assert_eq!(
            s,
            "{\"resourceType\":\"Patient\",\"t\":\"a\\nb\\\"c\\u0001é\"}"
        );
        let back: Value = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(back, v);
    }

    #[test]
    fn type_names() {
        assert!(is_type_name("Patient"));
        assert!(!is_type_name("../x"));
        assert!(!is_type_name("patient"));
        assert!(!is_type_name(""));
        assert!(!is_type_name("Pa/tient"));
    }

    #[test]
    fn reader_gives_lines_offsets_and_the_files_sha256() {
        let text = b"{\"a\":1}\n\n{\"b\":2}\r\n{\"c\":3}";
        let mut r = NdjsonReader::new(&text[..], "x.ndjson").with_sha256();
        let mut got = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            got.push((
                l.number,
                l.offset,
                String::from_utf8(l.bytes.to_vec()).unwrap(),
                l.len,
            ));
        }
        assert_eq!(
            got,
            [
                (1, 0, "{\"a\":1}".to_string(), 8),
                (2, 8, String::new(), 1),
                (3, 9, "{\"b\":2}".to_string(), 9),
                (4, 18, "{\"c\":3}".to_string(), 7),
            ]
        );
        assert_eq!(r.bytes_read(), text.len() as u64);
        let sha = r.sha256().unwrap();
        assert_eq!(sha, hex::encode(Sha256::digest(text)));
    }

    #[test]
    fn reader_errors_name_the_file_and_line_never_the_content() {
        let text = b"{\"ok\":1}\n{\"name\":\"SECRETNAME\"\n";
        let mut r = NdjsonReader::new(&text[..], "p.ndjson");
        let l = r.next_line().unwrap().unwrap();
        let _: Value = l.parse().unwrap();
        let l = r.next_line().unwrap().unwrap();
        let err = l.parse::<Value>().unwrap_err().to_string();
        assert!(
            err.starts_with("p.ndjson:2: not JSON (unexpected end"),
            "{err}"
        );
        assert!(!err.contains("SECRETNAME"), "{err}");
        let long = [b'x'; 40];
        let mut r = NdjsonReader::new(&long[..], "l.ndjson").with_max_line(16);
        let err = r.next_line().unwrap_err().to_string();
        assert!(
            err.starts_with("l.ndjson:1: the line is longer than 16 bytes"),
            "{err}"
        );
        // A line of exactly the limit plus its newline is fine.
        let mut exact = vec![b'x'; 16];
        exact.push(b'\n');
        let mut r = NdjsonReader::new(&exact[..], "e.ndjson").with_max_line(16);
        assert_eq!(r.next_line().unwrap().unwrap().bytes.len(), 16);
    }

    #[test]
    fn writer_refuses_an_existing_destination_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("keep.txt"), b"mine").unwrap();
        let err = NdjsonWriter::create(&dest).err().unwrap();
        assert!(
            matches!(err, NdjsonError::DestinationExists { .. }),
            "{err}"
        );
        assert_eq!(std::fs::read(dest.join("keep.txt")).unwrap(), b"mine");
        // A new destination appears whole on finish; nothing else is left beside it.
        let new = dir.path().join("run-0001");
        let mut w = NdjsonWriter::create(&new).unwrap();
        w.write(&serde_json::json!({"resourceType": "Patient", "id": "a"}))
            .unwrap();
        assert!(!new.exists());
        let files = w.finish().unwrap();
        assert_eq!(files.len(), 1);
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["out", "run-0001"]);
    }
}
