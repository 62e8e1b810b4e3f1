//! Files and directories a killed run leaves behind (staging directories of outputs, spill and
//! scratch directories), named with the id of the process that made them: a later run that
//! writes beside them removes those whose process no longer exists. The one part of `util` that
//! touches the file system.

use std::path::Path;

/// Whether a process with this id exists (on Unix; elsewhere every process counts as alive,
/// so nothing is removed).
pub fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
        if pid <= 0 {
            return false;
        }
        // Signal 0 checks that the process exists; EPERM means it does, owned by someone else.
        // SAFETY: kill with signal 0 sends nothing; it only checks the process id.
        let rc = unsafe { libc::kill(pid, 0) };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// The process id in a leftover's name, `name` being `<prefix><pid>` or `<prefix><pid>-<rest>`,
/// when it starts with `prefix` and a number follows.
pub fn leftover_pid(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let digits = rest.split('-').next()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Remove the entries of `dir` whose name gives a process id (`pid_of`) of a process that no
/// longer exists; the names removed. Nothing that cannot be read or removed is an error: this
/// is tidying, and the run goes on.
pub fn remove_dead(dir: &Path, pid_of: impl Fn(&str) -> Option<u32>) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let own = std::process::id();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = pid_of(&name) else { continue };
        if pid == own || process_alive(pid) {
            continue;
        }
        let path = entry.path();
        let gone = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path).is_ok(),
            Ok(_) => std::fs::remove_file(&path).is_ok(),
            Err(_) => false,
        };
        if gone {
            removed.push(name);
        }
    }
    removed.sort();
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_read_from_leftover_names() {
        assert_eq!(leftover_pid("spanlens-spill-123-abc", "spanlens-spill-"), Some(123));
        assert_eq!(leftover_pid("spanlens-spill-123", "spanlens-spill-"), Some(123));
        assert_eq!(leftover_pid("spanlens-spill-abc", "spanlens-spill-"), None);
        assert_eq!(leftover_pid("spanlens-spill-", "spanlens-spill-"), None);
        assert_eq!(leftover_pid("other-123", "spanlens-spill-"), None);
    }

    #[test]
    fn only_leftovers_of_dead_processes_are_removed() {
        assert!(process_alive(std::process::id()));
        // A child that has exited and been waited for no longer exists.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        assert!(!process_alive(dead));

        let dir = tempfile::tempdir().unwrap();
        let own = std::process::id();
        for name in [format!("x-{dead}"), format!("x-{own}"), format!("x-{dead}-file"), "x-keep".into()] {
            std::fs::create_dir(dir.path().join(&name)).unwrap();
            std::fs::write(dir.path().join(&name).join("f"), "1").unwrap();
        }
        std::fs::write(dir.path().join(format!("x-{dead}.tmp")), "1").unwrap();
        let removed = remove_dead(dir.path(), |n| leftover_pid(n, "x-"));
        assert_eq!(removed, vec![format!("x-{dead}"), format!("x-{dead}-file")]);
        assert!(dir.path().join(format!("x-{own}")).exists());
        assert!(dir.path().join("x-keep").exists());
        // `x-<pid>.tmp` is not of the form `<prefix><pid>[-...]`: kept.
        assert!(dir.path().join(format!("x-{dead}.tmp")).exists());
    }
}
