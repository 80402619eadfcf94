//! Files replaced whole or not at all. Every file snf-upgrade writes (plans,
//! inventories, config edits, caches) goes through `write_atomic`, so a crash
//! or a full disk leaves the old file or the new one, never half of either.

use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Mode of a file that did not exist before (the umask is not consulted: the
/// caller says what it wants).
pub const DEFAULT_MODE: u32 = 0o644;

/// Writes `bytes` to `path` atomically: a temporary file with a random name is
/// created exclusively (O_EXCL) in the target's folder, given its mode before
/// any data, written, fsynced, renamed over `path`, and the folder fsynced.
///
/// `mode`: the new file's permission bits; `None` keeps those of the file it
/// replaces (and its owner, where we may), or `DEFAULT_MODE` for a new file.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let old = std::fs::metadata(path).ok();
    let perm = mode
        .or_else(|| old.as_ref().map(|m| m.permissions().mode() & 0o7777))
        .unwrap_or(DEFAULT_MODE);

    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(perm))
        .tempfile_in(dir)?;
    // `permissions` goes through the umask at creation: set the bits exactly
    // before any data is in the file.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(perm))?;
    if let (None, Some(old)) = (mode, &old) {
        // Keeping the owner needs privileges; without them the file stays ours.
        let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(old.uid()), Some(old.gid()));
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Makes a rename or a new entry in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Refuses a file group or others may read or write (a password, a key), as
/// ssh refuses a loose private key; the reason names the mode and the fix.
pub fn owner_only(path: &Path) -> Result<(), String> {
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("cannot read: {e}"))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "mode {mode:04o} lets group or others read it; run `chmod 600 {}` \
             (only its owner may read it)",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_keeping_mode_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("plan.json");
        std::fs::write(&f, "old").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&f, b"new", None).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "new");
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("plan.json")]);
    }

    #[test]
    fn new_file_gets_the_mode_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret");
        write_atomic(&f, b"x", Some(0o600)).unwrap();
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let g = dir.path().join("public");
        write_atomic(&g, b"x", None).unwrap();
        let mode = std::fs::metadata(&g).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, DEFAULT_MODE);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        // A folder in the way of the rename: the write fails, nothing else moves.
        let f = dir.path().join("taken");
        std::fs::create_dir(&f).unwrap();
        std::fs::write(f.join("inside"), "x").unwrap();
        assert!(write_atomic(&f, b"new", None).is_err());
        assert!(f.join("inside").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
