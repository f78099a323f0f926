//! The tamper-evident audit trail (docs/audit-trail.md): every operation that reads or changes
//! PHI or a verdict appends one entry through [`Session::seal`], the one seam every such
//! operation passes on its way out; after each append an Ed25519 signature over (sequence, head
//! hash) is added to a checkpoint file kept outside the workspace, beside the signing key.
//!
//! An entry is appended right after its operation committed, in its own immediate catalog
//! transaction, not inside the operation's: the operations commit in many places (the run
//! ledger's rename and catalog transaction, the verifier's record, report files with no
//! transaction at all), and only the way out of the operation is common to all of them. A kill in
//! between leaves a recorded run or verification without its entry: `ferry audit-trail --verify`
//! lists it as unsealed, and `ferry verify` / `ferry report` refuse to trust it.
//!
//! Sealed books: a run's entry records each module's books as the catalog holds them and the
//! counts recomputed from the run's own ledger file; a verification's entry its verdict and the
//! books it judged; a stage entry the snapshot's content hash. [`check_run`] and
//! [`check_verifications`] recompute those and compare, so an `UPDATE` on `catalog.db` is refused.

use crate::{OpsError, Session};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use ferry_core::atomic::{self, Contents};
use ferry_core::trail::{Entry, Facts};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The signing key's file name in the trail folder.
pub const KEY_FILE: &str = "trail-signing-key";
/// The checkpoint file's name in the trail folder.
pub const CHECKPOINT_FILE: &str = "trail-checkpoints";
const LOCK_FILE: &str = "trail.lock";

/// What an operation's result says in its trail entry: inputs and outputs by hash, ids and
/// counts, never a patient value.
pub trait Sealed {
    fn facts(&self, session: &Session) -> Result<Facts, OpsError>;
}

impl Session {
    /// The way out of every audited operation: appends the entry for `result` (outcome `ok`
    /// with the result's facts, or `failed` / `cancelled`) and signs a checkpoint, then returns
    /// the result. An operation that succeeded but could not be recorded is an error (it did
    /// happen; the message says so); a failed one is returned as it was even if its entry could
    /// not be written.
    pub fn seal<T: Sealed>(
        &self,
        operation: &str,
        result: Result<T, OpsError>,
    ) -> Result<T, OpsError> {
        match result {
            Ok(value) => {
                let recorded = value
                    .facts(self)
                    .and_then(|facts| append(self, operation, "ok", facts));
                match recorded {
                    Ok(_) => Ok(value),
                    Err(e) => Err(OpsError::Other(format!(
                        "`{operation}` completed, but its audit-trail entry was not written: {e}. Fix that, then run `ferry audit-trail --verify`, which lists what is unsealed"
                    ))),
                }
            }
            Err(e) => {
                let outcome = if e.is_cancelled() {
                    "cancelled"
                } else {
                    "failed"
                };
                let _ = append(self, operation, outcome, Facts::new());
                Err(e)
            }
        }
    }
}

/// Where the trail's key and checkpoints live for this project.
#[derive(Debug, Clone, Serialize)]
pub struct TrailPaths {
    pub dir: PathBuf,
    pub key: PathBuf,
    pub checkpoints: PathBuf,
}

/// The project's id for the trail folder: its `namespace`, else a hash of its root.
fn project_id(session: &Session) -> String {
    match session.project.namespace() {
        Ok(ns) => ns.to_string(),
        Err(_) => {
            let root = session.project.root.display().to_string();
            hex::encode(&Sha256::digest(root.as_bytes())[..16])
        }
    }
}

/// `[audit_trail] dir` in ferry.toml, else `$XDG_CONFIG_HOME/ferry/<project-id>/` (else
/// `~/.config/ferry/<project-id>/`). Never inside the workspace: a checkpoint beside the entries
/// it checks would be rewritten with them.
pub fn paths(session: &Session) -> Result<TrailPaths, OpsError> {
    let project = &session.project;
    let dir = match &project.config.audit_trail.dir {
        Some(d) => crate::project::normalize(&project.root.join(d)),
        None => {
            let base = std::env::var_os("XDG_CONFIG_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME")
                        .filter(|v| !v.is_empty())
                        .map(|h| PathBuf::from(h).join(".config"))
                })
                .ok_or_else(|| {
                    OpsError::Config(
                        "neither XDG_CONFIG_HOME nor HOME is set, so Ferry has no place for the audit trail's signing key and checkpoints: set `[audit_trail] dir = \"/a/private/folder\"` in ferry.toml".into(),
                    )
                })?;
            base.join("ferry").join(project_id(session))
        }
    };
    let ws = project.workspace_dir();
    if dir.starts_with(&ws) {
        return Err(OpsError::Config(format!(
            "`[audit_trail] dir` (`{}`) is inside the workspace (`{}`): the checkpoints must live apart from the entries they check. Point it at a folder outside the workspace, such as one under ~/.config",
            dir.display(),
            ws.display()
        )));
    }
    Ok(TrailPaths {
        key: dir.join(KEY_FILE),
        checkpoints: dir.join(CHECKPOINT_FILE),
        dir,
    })
}

/// The signing key: read from its file, or created (random, `0600`) on first use.
fn signing_key(p: &TrailPaths) -> Result<SigningKey, OpsError> {
    if let Some(key) = read_key(&p.key)? {
        return Ok(key);
    }
    let mut seed = [0u8; 32];
    use rand::TryRngCore;
    rand::rngs::OsRng.try_fill_bytes(&mut seed).map_err(|e| {
        OpsError::Other(format!(
            "no randomness for the audit trail's signing key: {e}"
        ))
    })?;
    let text = format!("{}\n", hex::encode(seed));
    atomic::write(&p.key, Contents::Phi, text.as_bytes())?;
    Ok(SigningKey::from_bytes(&seed))
}

fn read_key(path: &Path) -> Result<Option<SigningKey>, OpsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(OpsError::io(
                path,
                "reading the audit trail's signing key",
                e,
            ));
        }
    };
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            OpsError::Other(format!(
                "`{}` is not an audit-trail signing key (64 hex digits). Restore it from your backup; without it new checkpoints cannot be signed",
                path.display()
            ))
        })?;
    Ok(Some(SigningKey::from_bytes(&bytes)))
}

/// The bytes a checkpoint signs.
fn checkpoint_message(project_id: &str, seq: u64, head: &str) -> Vec<u8> {
    format!("ferry-trail-checkpoint-v1\n{project_id}\n{seq}\n{head}").into_bytes()
}

/// Appends one entry and signs a checkpoint of the new head, under the trail folder's lock so
/// checkpoints follow entries in order (readers append too, without the project lock).
fn append(
    session: &Session,
    operation: &str,
    outcome: &str,
    facts: Facts,
) -> Result<Entry, OpsError> {
    let p = paths(session)?;
    atomic::create_dir(&p.dir, Contents::Phi)
        .map_err(|e| OpsError::io(&p.dir, "creating the audit trail's folder", e))?;
    let lock_path = p.dir.join(LOCK_FILE);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| OpsError::io(&lock_path, "opening the audit trail's lock", e))?;
    lock.lock()
        .map_err(|e| OpsError::io(&lock_path, "locking the audit trail", e))?;
    let key = signing_key(&p)?;
    let public = hex::encode(key.verifying_key().to_bytes());
    session.ws.record_trail_public_key(&public)?;
    let entry = session.ws.append_trail(|head| {
        Entry::next(
            head,
            ferry_core::calendar::now_utc_rfc3339(),
            session.actor.name.clone(),
            operation.to_string(),
            outcome.to_string(),
            facts,
        )
    })?;
    let id = project_id(session);
    let sig = key.sign(&checkpoint_message(&id, entry.seq, &entry.hash));
    let line = format!(
        "v1 {} {} {} {}\n",
        entry.seq,
        entry.hash,
        public,
        hex::encode(sig.to_bytes())
    );
    let mut text = match std::fs::read(&p.checkpoints) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(OpsError::io(
                &p.checkpoints,
                "reading the audit trail's checkpoints",
                e,
            ));
        }
    };
    text.extend_from_slice(line.as_bytes());
    atomic::write(&p.checkpoints, Contents::Phi, &text)?;
    drop(lock);
    Ok(entry)
}

/// One signed checkpoint line.
#[derive(Debug, Clone)]
struct Checkpoint {
    line: usize,
    seq: u64,
    head: String,
    public: String,
    signature: String,
}

fn parse_checkpoints(text: &str) -> Result<Vec<Checkpoint>, usize> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split(' ').collect();
        match f.as_slice() {
            ["v1", seq, head, public, sig] => out.push(Checkpoint {
                line: i + 1,
                seq: seq.parse().map_err(|_| i + 1)?,
                head: head.to_string(),
                public: public.to_string(),
                signature: sig.to_string(),
            }),
            _ => return Err(i + 1),
        }
    }
    Ok(out)
}

fn signature_holds(key: &VerifyingKey, project_id: &str, c: &Checkpoint) -> bool {
    let Some(sig) = hex::decode(&c.signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    else {
        return false;
    };
    let sig = ed25519_dalek::Signature::from_bytes(&sig);
    key.verify(&checkpoint_message(project_id, c.seq, &c.head), &sig)
        .is_ok()
}

/// One line of `ferry audit-trail`.
#[derive(Debug, Clone, Serialize)]
pub struct EntryLine {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub operation: String,
    pub outcome: String,
    pub facts: Facts,
    pub hash: String,
}

/// The trail as `ferry audit-trail` lists it.
#[derive(Debug, Serialize)]
pub struct TrailListing {
    pub entries: Vec<EntryLine>,
    pub paths: TrailPaths,
}

/// Lists the trail's entries (reads only).
pub fn list(session: &Session) -> Result<TrailListing, OpsError> {
    let entries = session
        .ws
        .trail_entries()?
        .into_iter()
        .map(|e| EntryLine {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            operation: e.operation,
            outcome: e.outcome,
            facts: e.facts,
            hash: e.hash,
        })
        .collect();
    Ok(TrailListing {
        entries,
        paths: paths(session)?,
    })
}

/// What `ferry audit-trail --verify` found.
#[derive(Debug, Serialize)]
pub struct TrailVerification {
    pub entries: u64,
    /// The latest signed checkpoint's sequence number.
    pub signed: Option<u64>,
    /// Problems: any one means the trail or what it seals cannot be trusted.
    pub problems: Vec<String>,
    /// The first bad sequence number, when an entry is at fault.
    pub first_bad: Option<u64>,
    /// Worth knowing, not failures (entries after the last checkpoint, catalog rows recorded
    /// before the trail existed).
    pub notes: Vec<String>,
    /// Snapshots whose files were re-hashed, and how long that took.
    pub snapshots_rehashed: usize,
    pub rehash_ms: u64,
}

impl TrailVerification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The chain and its checkpoint: entries, then the first problem (with its sequence number).
fn check_chain(session: &Session, v: &mut TrailVerification) -> Result<Vec<Entry>, OpsError> {
    let entries = session.ws.trail_entries()?;
    v.entries = entries.len() as u64;
    let fix = "Restore `.ferry/catalog.db` from a backup taken before that entry, or ask whoever changed it; until then no verdict or report of this project can be trusted";
    let intact = match ferry_core::trail::verify_chain(&entries) {
        Ok(_) => entries.len(),
        Err(b) => {
            v.first_bad = Some(b.seq);
            v.problems
                .push(format!("audit-trail entry {}: {}. {fix}", b.seq, b.problem));
            (b.seq - 1) as usize
        }
    };
    let p = paths(session)?;
    let id = project_id(session);
    let text = match std::fs::read_to_string(&p.checkpoints) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(OpsError::io(
                &p.checkpoints,
                "reading the audit trail's checkpoints",
                e,
            ));
        }
    };
    let Some(text) = text else {
        if !entries.is_empty() {
            v.problems.push(format!(
                "the checkpoint file `{}` is missing, so a truncated trail cannot be told from a whole one. Restore it from your backup (it is never in the workspace); if it was lost, the next command starts a new one, and this trail stays unproven up to entry {}",
                p.checkpoints.display(),
                entries.len()
            ));
        }
        return Ok(entries);
    };
    let checkpoints = match parse_checkpoints(&text) {
        Ok(c) => c,
        Err(line) => {
            v.problems.push(format!(
                "`{}` line {line} is not a checkpoint line (`v1 SEQ HASH PUBLIC-KEY SIGNATURE`): the file was edited. Restore it from your backup",
                p.checkpoints.display()
            ));
            return Ok(entries);
        }
    };
    // Trusted: the key beside the checkpoints (outside the workspace), else the one recorded in
    // the project.
    let trusted: Vec<VerifyingKey> = match read_key(&p.key)? {
        Some(k) => vec![k.verifying_key()],
        None => {
            v.notes.push(format!(
                "the signing key `{}` is missing; checking signatures against the public keys recorded in the workspace",
                p.key.display()
            ));
            session
                .ws
                .trail_public_keys()?
                .iter()
                .filter_map(|k| hex::decode(k).ok()?.try_into().ok())
                .filter_map(|b: [u8; 32]| VerifyingKey::from_bytes(&b).ok())
                .collect()
        }
    };
    for c in &checkpoints {
        if !trusted.iter().any(|k| signature_holds(k, &id, c)) {
            v.problems.push(format!(
                "`{}` line {}: the signature over entry {} is not this project's (key {}…): the checkpoint file was replaced or edited. Restore it from your backup",
                p.checkpoints.display(),
                c.line,
                c.seq,
                c.public.get(..12).unwrap_or(&c.public)
            ));
            return Ok(entries);
        }
    }
    let Some(last) = checkpoints.last() else {
        return Ok(entries);
    };
    v.signed = Some(last.seq);
    // Each checkpoint's entry must be the one it signed; the first that is not names where
    // the rewriting starts.
    let mut good_up_to = 0u64;
    for c in &checkpoints {
        // Past a break in the chain the first bad entry is already named.
        if v.first_bad.is_some() && c.seq as usize > intact {
            break;
        }
        let found = entries
            .get((c.seq as usize).wrapping_sub(1))
            .filter(|e| e.seq == c.seq);
        match found {
            Some(e) if e.hash == c.head => good_up_to = good_up_to.max(c.seq),
            Some(_) => {
                let first = v.first_bad.unwrap_or(good_up_to + 1).min(c.seq);
                v.first_bad = Some(first);
                v.problems.push(format!(
                    "audit-trail entry {}: it is not the entry signed at checkpoint line {} (the trail was rewritten after entry {good_up_to}, at or before entry {}). Restore `.ferry/catalog.db` from a backup",
                    first, c.line, c.seq
                ));
                return Ok(entries);
            }
            None => {
                let first = v.first_bad.unwrap_or(entries.len() as u64 + 1);
                v.first_bad = Some(first);
                v.problems.push(format!(
                    "audit-trail entry {first}: missing. The trail ends at entry {} but checkpoint line {} signed entry {}: entries were deleted from the end (truncated). Restore `.ferry/catalog.db` from a backup",
                    entries.len(),
                    c.line,
                    c.seq
                ));
                return Ok(entries);
            }
        }
    }
    if intact as u64 > last.seq {
        v.notes.push(format!(
            "entries {}..{} come after the last signed checkpoint (a command was interrupted between recording and signing); the next command signs them",
            last.seq + 1,
            intact
        ));
    }
    Ok(entries)
}

/// `ferry audit-trail --verify`: the chain, the checkpoints, and every sealed fact against what
/// the workspace holds now (runs' books in the catalog and their ledger files, verifications'
/// verdicts, snapshots' content recomputed from their files).
pub fn verify(session: &Session) -> Result<TrailVerification, OpsError> {
    let mut v = TrailVerification {
        entries: 0,
        signed: None,
        problems: Vec::new(),
        first_bad: None,
        notes: Vec::new(),
        snapshots_rehashed: 0,
        rehash_ms: 0,
    };
    let entries = check_chain(session, &mut v)?;
    if !v.ok() {
        return Ok(v);
    }
    for r in session.ws.runs()? {
        if r.status != "ok" {
            continue;
        }
        match sealed_run(&entries, r.id) {
            Some(e) => v.problems.extend(run_differences(session, r.id, e)?),
            None => v.notes.push(unsealed_run(r.id)),
        }
        v.problems
            .extend(verification_differences(session, &entries, r.id, false)?);
    }
    let started = std::time::Instant::now();
    for s in session.ws.snapshots()? {
        v.snapshots_rehashed += 1;
        match snapshot_difference(session, &entries, s.id) {
            Ok(Some(p)) => v.problems.push(p),
            Ok(None) => {}
            Err(e) => v.problems.push(format!("snapshot {}: {e}", s.id)),
        }
    }
    v.rehash_ms = started.elapsed().as_millis() as u64;
    Ok(v)
}

fn unsealed_run(run: u64) -> String {
    format!(
        "run {run} has no entry in the audit trail (recorded before the trail existed, or a command was killed between recording and sealing it): `ferry verify` and `ferry report` refuse it; `ferry run` again makes a sealed one"
    )
}

/// The latest `ok` entry of `run` for this run id.
fn sealed_run(entries: &[Entry], run: u64) -> Option<&Entry> {
    let id = run.to_string();
    entries
        .iter()
        .rev()
        .find(|e| e.operation == "run" && e.outcome == "ok" && e.facts.get("run") == Some(&id))
}

/// A run's books as facts: `books.MODULE` (source rows, migrated, excluded, exceptions,
/// resources, as the catalog holds them) and `ledger.MODULE` (migrated, excluded, exceptions
/// recomputed from the run's own ledger file), and `books_sha256` over all of them.
fn books_facts(session: &Session, run: u64) -> Result<Facts, OpsError> {
    let mut f = Facts::new();
    for b in session.ws.run_modules(run)? {
        f.insert(
            format!("books.{}", b.module),
            format!(
                "source_rows={} migrated={} excluded={} exceptions={} resources={} unchanged={} new={} changed={} deleted={}",
                b.source_rows,
                b.migrated,
                b.excluded,
                b.exceptions,
                b.resources,
                b.unchanged,
                b.new_rows,
                b.changed,
                b.deleted
            ),
        );
    }
    for c in session.ws.run_ledger_counts(run)? {
        f.insert(
            format!("ledger.{}", c.module),
            format!(
                "migrated={} excluded={} exceptions={} unchanged={} deleted={}",
                c.migrated, c.excluded, c.exceptions, c.unchanged, c.deleted
            ),
        );
    }
    let mut h = Sha256::new();
    for (k, val) in &f {
        h.update((k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
        h.update((val.len() as u64).to_le_bytes());
        h.update(val.as_bytes());
    }
    f.insert("books_sha256".into(), hex::encode(h.finalize()));
    Ok(f)
}

/// Where a run's books now differ from what its entry sealed (empty: they agree).
fn run_differences(session: &Session, run: u64, sealed: &Entry) -> Result<Vec<String>, OpsError> {
    let now = books_facts(session, run)?;
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> = sealed
        .facts
        .keys()
        .chain(now.keys())
        .filter(|k| k.starts_with("books.") || k.starts_with("ledger."))
        .collect();
    for k in keys {
        let (was, is) = (sealed.facts.get(k), now.get(k));
        if was == is {
            continue;
        }
        let (place, module) = match k.split_once('.') {
            Some(("books", m)) => ("`catalog.db` (table run_module)", m),
            Some((_, m)) => ("the run's own ledger file (`.ferry/runs/run-NNNN.db`)", m),
            None => ("the workspace", k.as_str()),
        };
        out.push(format!(
            "run {run} module `{module}`: the books in {place} are `{}`, but audit-trail entry {} sealed `{}`: they were changed after the run. Do not sign off on this run: restore the workspace from a backup, or `ferry run` again and verify the new run",
            is.map(String::as_str).unwrap_or("(missing)"),
            sealed.seq,
            was.map(String::as_str).unwrap_or("(missing)")
        ));
    }
    Ok(out)
}

/// Verifications of `run` whose verdict is not the one their entry sealed, or that no entry
/// seals (`strict`: an unsealed one is a problem, as for the report that relies on it).
fn verification_differences(
    session: &Session,
    entries: &[Entry],
    run: u64,
    strict: bool,
) -> Result<Vec<String>, OpsError> {
    let mut out = Vec::new();
    for rec in session.ws.verifications(run)? {
        let id = rec.id.to_string();
        let sealed = entries.iter().rev().find(|e| {
            e.operation == "verify" && e.outcome == "ok" && e.facts.get("verification") == Some(&id)
        });
        match sealed {
            Some(e) if e.facts.get("verdict") == Some(&rec.verdict) => {}
            Some(e) => out.push(format!(
                "verification {} of run {run}: `catalog.db` (table verification) says `{}`, but audit-trail entry {} sealed `{}`: the verdict was changed after it was reached. Run `ferry verify --run {run}` again",
                rec.id,
                rec.verdict,
                e.seq,
                e.facts.get("verdict").map(String::as_str).unwrap_or("(none)")
            )),
            None if strict => out.push(format!(
                "verification {} of run {run} has no entry in the audit trail, so its verdict cannot be trusted (recorded before the trail existed, interrupted, or inserted by hand). Run `ferry verify --run {run}` again",
                rec.id
            )),
            None => {}
        }
    }
    Ok(out)
}

/// A snapshot's content recomputed from its file against its sealed hash (the stage entry's,
/// else the catalog's): `Some(problem)` when they differ.
fn snapshot_difference(
    session: &Session,
    entries: &[Entry],
    snapshot: u64,
) -> Result<Option<String>, OpsError> {
    let info = session.ws.snapshot(Some(snapshot))?;
    let id = snapshot.to_string();
    let sealed = entries.iter().rev().find(|e| {
        e.operation == "stage" && e.outcome == "ok" && e.facts.get("snapshot") == Some(&id)
    });
    let (expected, by) = match sealed.and_then(|e| Some((e.facts.get("snapshot_sha256")?, e.seq))) {
        Some((h, seq)) => (h.clone(), format!("audit-trail entry {seq}")),
        None => (info.content_sha256.clone(), "the catalog".to_string()),
    };
    let now = session.ws.recompute_snapshot_content(snapshot)?;
    if now.content_sha256 == expected && info.content_sha256 == expected {
        return Ok(None);
    }
    let tables = session.ws.tables(snapshot)?;
    let changed: Vec<String> = tables
        .iter()
        .zip(&now.tables)
        .filter(|(t, (_, rows, sha))| t.rows != *rows || t.content_sha256 != *sha)
        .map(|(t, (_, rows, _))| format!("`{}` ({} rows staged, {rows} now)", t.name, t.rows))
        .collect();
    Ok(Some(format!(
        "snapshot {snapshot}: its file `{}` no longer holds what was staged (content hash sealed by {by}: {}…, recomputed: {}…){}. Rows were changed, added or deleted by hand. Stage the snapshot again from its source files and run again",
        info.db_file.display(),
        expected.get(..12).unwrap_or(&expected),
        now.content_sha256.get(..12).unwrap_or(&now.content_sha256),
        if changed.is_empty() {
            String::new()
        } else {
            format!("; tables changed: {}", changed.join(", "))
        }
    )))
}

/// Before `ferry verify` / `ferry report` rely on run `run`: the trail holds and is signed, the
/// run's books are the ones its entry sealed, its snapshot's file still hashes to what was
/// staged and (for the report) its verifications' verdicts are the sealed ones. Any difference
/// refuses, naming it.
pub fn check_run(session: &Session, run: u64, verdicts: bool) -> Result<(), OpsError> {
    let mut v = TrailVerification {
        entries: 0,
        signed: None,
        problems: Vec::new(),
        first_bad: None,
        notes: Vec::new(),
        snapshots_rehashed: 0,
        rehash_ms: 0,
    };
    let entries = check_chain(session, &mut v)?;
    let mut problems = v.problems;
    if problems.is_empty() {
        match sealed_run(&entries, run) {
            Some(e) => problems.extend(run_differences(session, run, e)?),
            None => problems.push(unsealed_run(run)),
        }
        if verdicts {
            problems.extend(verification_differences(session, &entries, run, true)?);
        }
        let info = session.ws.run(Some(run))?;
        if let Some(p) = snapshot_difference(session, &entries, info.snapshot)? {
            problems.push(p);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(OpsError::Tampered(problems))
    }
}

/// sha256 of a file Ferry wrote, for an entry (`None` when it cannot be read).
fn file_sha256(path: &Path) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).ok()?;
    Some(hex::encode(h.finalize()))
}

fn facts<const N: usize>(pairs: [(&str, String); N]) -> Facts {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn add_file(f: &mut Facts, session: &Session, key: &str, path: &Path) {
    if let Some(sha) = file_sha256(path) {
        f.insert(format!("{key}.sha256"), sha);
        f.insert(format!("{key}.path"), session.project.relative(path));
    }
}

impl Sealed for crate::stage::StageOutcome {
    fn facts(&self, _: &Session) -> Result<Facts, OpsError> {
        let mut f = facts([
            ("snapshot", self.snapshot.to_string()),
            ("snapshot_sha256", self.content_sha256.clone()),
            ("rows", self.rows.to_string()),
            ("rejected_rows", self.rejected_rows.to_string()),
            ("tables", self.tables.len().to_string()),
        ]);
        for (i, file) in self.files.iter().enumerate() {
            f.insert(format!("input.{}.sha256", i + 1), file.sha256.clone());
        }
        Ok(f)
    }
}

impl Sealed for ferry_run::RunSummary {
    fn facts(&self, session: &Session) -> Result<Facts, OpsError> {
        let snap = session.ws.snapshot(Some(self.snapshot))?;
        let mut f = books_facts(session, self.run)?;
        f.insert("run".into(), self.run.to_string());
        f.insert("snapshot".into(), self.snapshot.to_string());
        f.insert("snapshot_sha256".into(), snap.content_sha256);
        for o in session.ws.run_outputs(self.run)? {
            f.insert(format!("output.{}.sha256", o.file), o.sha256);
        }
        Ok(f)
    }
}

impl Sealed for ferry_verify::Verification {
    fn facts(&self, session: &Session) -> Result<Facts, OpsError> {
        let books = books_facts(session, self.run)?;
        Ok(facts([
            ("verification", self.record_id.to_string()),
            ("run", self.run.to_string()),
            ("verdict", self.verdict.clone()),
            (
                "books_sha256",
                books.get("books_sha256").cloned().unwrap_or_default(),
            ),
        ]))
    }
}

impl Sealed for crate::profile::ProfileOutcome {
    fn facts(&self, session: &Session) -> Result<Facts, OpsError> {
        let mut f = facts([
            ("snapshot", self.snapshot.to_string()),
            ("tables", self.tables.to_string()),
            ("phi_columns", self.phi_columns.to_string()),
        ]);
        add_file(&mut f, session, "json", &self.json);
        add_file(&mut f, session, "html", &self.html);
        add_file(&mut f, session, "xlsx", &self.xlsx);
        Ok(f)
    }
}

impl Sealed for crate::signoff::ReportOutcome {
    fn facts(&self, session: &Session) -> Result<Facts, OpsError> {
        let mut f = facts([
            ("run", self.decided_run.to_string()),
            ("go", self.go.to_string()),
            (
                "runs",
                self.runs
                    .iter()
                    .map(|(id, _)| id.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("blockers", self.blockers.len().to_string()),
        ]);
        add_file(&mut f, session, "report", &self.path);
        Ok(f)
    }
}

impl Sealed for crate::signoff::SampleOutcome {
    fn facts(&self, session: &Session) -> Result<Facts, OpsError> {
        let mut f = facts([
            ("packet", self.packet.to_string()),
            ("run", self.run.to_string()),
            ("seed", self.seed.to_string()),
            ("patients", self.patients.to_string()),
        ]);
        add_file(&mut f, session, "packet", &self.html);
        add_file(&mut f, session, "form", &self.form);
        Ok(f)
    }
}

impl Sealed for crate::signoff::VerdictsOutcome {
    fn facts(&self, _: &Session) -> Result<Facts, OpsError> {
        Ok(facts([
            ("packet", self.packet.to_string()),
            ("recorded", self.recorded.to_string()),
            ("accepted", self.accepted.to_string()),
            ("rejected", self.rejected.to_string()),
        ]))
    }
}

impl Sealed for crate::decisions::Decided {
    fn facts(&self, session: &Session) -> Result<Facts, OpsError> {
        let mut f = facts([
            ("decision", self.id.clone()),
            ("module", self.module.clone()),
            ("action", self.action.clone()),
            ("run", self.run.to_string()),
            ("rows", self.rows.to_string()),
        ]);
        add_file(
            &mut f,
            session,
            "decisions",
            &session.project.resolve(&self.file),
        );
        Ok(f)
    }
}

impl Sealed for crate::decisions::WorksheetImported {
    fn facts(&self, session: &Session) -> Result<Facts, OpsError> {
        let mut f = facts([
            ("decisions", self.decisions.join(",")),
            ("skipped", self.skipped.to_string()),
        ]);
        add_file(
            &mut f,
            session,
            "decisions_file",
            &session.project.mappings_dir().join("decisions.toml"),
        );
        Ok(f)
    }
}

impl Sealed for crate::dedupe::ReviewOutcome {
    fn facts(&self, session: &Session) -> Result<Facts, OpsError> {
        let mut f = facts([
            ("snapshot", self.snapshot.to_string()),
            ("clusters", self.statuses.len().to_string()),
        ]);
        if let Some((_, path)) = &self.recorded {
            add_file(&mut f, session, "duplicates", path);
        }
        Ok(f)
    }
}

impl Sealed for ferry_load::LoadSummary {
    fn facts(&self, _: &Session) -> Result<Facts, OpsError> {
        Ok(facts([
            ("load", self.load.to_string()),
            ("run", self.run.to_string()),
            ("target", self.target.clone()),
            ("resources", self.resources.to_string()),
            ("sent", self.sent.to_string()),
        ]))
    }
}

impl Sealed for crate::conflicts::ConflictInfo {
    fn facts(&self, _: &Session) -> Result<Facts, OpsError> {
        Ok(facts([
            ("load", self.load.to_string()),
            ("run", self.run.to_string()),
            ("resource", format!("{}/{}", self.resource_type, self.id)),
            (
                "resolution",
                self.resolution
                    .as_ref()
                    .map(|r| r.action.clone())
                    .unwrap_or_default(),
            ),
        ]))
    }
}

impl Sealed for ferry_load::rollback::RollbackSummary {
    fn facts(&self, _: &Session) -> Result<Facts, OpsError> {
        Ok(facts([
            ("load", self.load.to_string()),
            ("restored", self.restored.to_string()),
            ("conflicts", self.conflicts.len().to_string()),
        ]))
    }
}

impl Sealed for crate::runbook::StepView {
    fn facts(&self, _: &Session) -> Result<Facts, OpsError> {
        Ok(facts([
            ("step", self.name.clone()),
            ("state", self.state.clone()),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_lines_parse_and_reject_edits() {
        let ok = "v1 3 abc def 012\n\nv1 4 abd def 013\n";
        let c = parse_checkpoints(ok).unwrap();
        assert_eq!((c[0].seq, c[1].seq, c[1].line), (3, 4, 3));
        assert_eq!(parse_checkpoints("v1 x abc def 012\n").unwrap_err(), 1);
        assert_eq!(
            parse_checkpoints("v1 1 a b c\nv2 2 a b c\n").unwrap_err(),
            2
        );
    }

    #[test]
    fn a_signature_holds_only_for_its_key_project_and_head() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let sig = key.sign(&checkpoint_message("p", 5, "h"));
        let c = Checkpoint {
            line: 1,
            seq: 5,
            head: "h".into(),
            public: hex::encode(key.verifying_key().to_bytes()),
            signature: hex::encode(sig.to_bytes()),
        };
        assert!(signature_holds(&key.verifying_key(), "p", &c));
        assert!(!signature_holds(&other.verifying_key(), "p", &c));
        assert!(!signature_holds(&key.verifying_key(), "q", &c));
        let moved = Checkpoint {
            seq: 6,
            ..c.clone()
        };
        assert!(!signature_holds(&key.verifying_key(), "p", &moved));
    }
}
