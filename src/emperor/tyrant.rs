//! --emperor-tyrant: each vassal runs as the owner of its config file, and
//! becomes that user before our binary is executed, so nothing of the
//! vassal (its config's includes, its log, pidfile and sockets, its app)
//! ever runs as root. Whoever can write a vassal file gets that file's
//! owner's rights, never more.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Set in a tyrant vassal's environment: its config may not name a
/// uid or gid (master::run refuses them).
pub const VASSAL_ENV: &str = "OXWSGI_TYRANT_VASSAL";

/// How the Emperor judges a vassal file's owner.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// --emperor-tyrant-nofollow: a symlink's own owner, not its target's.
    pub nofollow: bool,
    /// --emperor-tyrant-initgroups: the owner's supplementary groups too.
    pub initgroups: bool,
    /// --emperor-tyrant-min-id: the lowest uid and gid (1: never root).
    pub min_id: u32,
}

/// Who a vassal runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Set with setgroups(2) before setgid: without it the vassal would
    /// keep the Emperor's (root's) supplementary groups.
    pub groups: Vec<u32>,
}

/// The identity `path` gives its vassal, or why it gives none.
pub fn identity(path: &Path, rules: &Rules) -> Result<Identity, String> {
    let meta = if rules.nofollow { std::fs::symlink_metadata(path) } else { std::fs::metadata(path) };
    let meta = meta.map_err(|e| format!("cannot read its owner: {}", e))?;
    let (uid, gid) = (meta.uid(), meta.gid());
    judge(uid, gid, rules.min_id)?;
    let mut groups = vec![gid];
    if rules.initgroups {
        let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .ok_or_else(|| format!("--emperor-tyrant-initgroups: uid {} has no user name", uid))?;
        let name = std::ffi::CString::new(user.name.clone()).map_err(|_| format!("uid {}: user name with a NUL", uid))?;
        let list = nix::unistd::getgrouplist(&name, nix::unistd::Gid::from_raw(gid)).map_err(|e| format!("getgrouplist({}): {}", user.name, e))?;
        groups = list.into_iter().map(|g| g.as_raw()).collect();
        if let Some(&low) = groups.iter().find(|&&g| g < rules.min_id) {
            return Err(format!("its owner {} is in group {}, below --emperor-tyrant-min-id {}", user.name, low, rules.min_id));
        }
    }
    Ok(Identity { uid, gid, groups })
}

/// The owner's ids against the floor: uWSGI's tyrant refuses uid 0 and
/// gid 0; --emperor-tyrant-min-id raises the floor.
fn judge(uid: u32, gid: u32, min_id: u32) -> Result<(), String> {
    if uid < min_id || gid < min_id {
        let what = if uid == 0 || gid == 0 { "root".to_string() } else { format!("below --emperor-tyrant-min-id {}", min_id) };
        return Err(format!(
            "its file is owned by uid {} gid {} ({}): tyrant mode runs a vassal as its file's owner; chown it to the user it should run as",
            uid, gid, what
        ));
    }
    Ok(())
}

/// In the forked child, before exec: only async-signal-safe calls.
pub fn become_(id: &Identity) -> std::io::Result<()> {
    // SAFETY: plain system calls on values prepared before the fork (no
    // allocation here).
    unsafe {
        if libc::setgroups(id.groups.len(), id.groups.as_ptr()) != 0 || libc::setgid(id.gid) != 0 || libc::setuid(id.uid) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// In a tyrant vassal: its config may not say who to run as.
pub fn refuse_ids_in_vassal(uid: Option<&str>, gid: Option<&str>) -> Result<(), String> {
    let Some(who) = std::env::var_os(VASSAL_ENV) else { return Ok(()) };
    let who = who.to_string_lossy();
    match (uid, gid) {
        (None, None) => Ok(()),
        (u, g) => Err(format!(
            "{}{}: this vassal runs under --emperor-tyrant as its config file's owner ({}); a tyrant vassal cannot choose its uid or gid: remove them from its config",
            u.map(|u| format!("uid = {}", u)).unwrap_or_default(),
            g.map(|g| format!("{}gid = {}", if u.is_some() { ", " } else { "" }, g)).unwrap_or_default(),
            who
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_ids_below_the_floor_are_refused() {
        assert!(judge(1000, 1000, 1).is_ok());
        assert!(judge(33, 33, 1).is_ok());
        assert!(judge(0, 1000, 1).unwrap_err().contains("(root)"));
        assert!(judge(1000, 0, 1).unwrap_err().contains("(root)"));
        assert!(judge(33, 33, 1000).unwrap_err().contains("below --emperor-tyrant-min-id 1000"));
    }

    #[test]
    fn identity_follows_symlinks_unless_told_not_to() {
        let d = std::env::temp_dir().join(format!("oxwsgi-tyrant-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("v.ini");
        std::fs::write(&f, "[uwsgi]\n").unwrap();
        let link = d.join("l.ini");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&f, &link).unwrap();
        let me = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
        let rules = Rules { min_id: 0, ..Rules::default() };
        for p in [&f, &link] {
            let id = identity(p, &rules).unwrap();
            assert_eq!((id.uid, id.gid, id.groups.clone()), (me.0, me.1, vec![me.1]));
        }
        let nofollow = Rules { nofollow: true, min_id: 0, ..Rules::default() };
        assert_eq!(identity(&link, &nofollow).unwrap().uid, me.0);
        assert!(identity(&d.join("missing.ini"), &rules).unwrap_err().contains("cannot read its owner"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
