//! --uid/--gid: resolving names and dropping privileges after binding.

use nix::unistd::{Gid, Group, Uid, User};

pub fn resolve_uid(u: &str) -> Result<Uid, String> {
    if let Ok(n) = u.parse::<u32>() {
        return Ok(Uid::from_raw(n));
    }
    match User::from_name(u) {
        Ok(Some(user)) => Ok(user.uid),
        _ => Err(format!("--uid {}: no such user", u)),
    }
}

pub fn resolve_gid(g: &str) -> Result<Gid, String> {
    if let Ok(n) = g.parse::<u32>() {
        return Ok(Gid::from_raw(n));
    }
    match Group::from_name(g) {
        Ok(Some(group)) => Ok(group.gid),
        _ => Err(format!("--gid {}: no such group", g)),
    }
}

/// Drops to --gid then --uid (the group first: after setuid we could not).
/// Without root, ids that already are the asked ones are kept as they are:
/// a master that dropped them re-executes itself on a reload.
pub fn drop_privileges(uid: Option<&str>, gid: Option<&str>) -> Result<(), String> {
    use nix::unistd::{getegid, geteuid, getgid, getuid};
    if !geteuid().is_root() {
        let want_uid = uid.map(resolve_uid).transpose()?;
        let want_gid = gid.map(resolve_gid).transpose()?;
        if want_uid.is_none_or(|u| u == getuid() && u == geteuid()) && want_gid.is_none_or(|g| g == getgid() && g == getegid()) {
            return Ok(());
        }
    }
    if let Some(g) = gid {
        let gid = resolve_gid(g)?;
        nix::unistd::setgroups(&[gid]).map_err(|e| format!("--gid {}: setgroups: {}", g, e))?;
        nix::unistd::setgid(gid).map_err(|e| format!("--gid {}: {}", g, e))?;
    }
    if let Some(u) = uid {
        let uid = resolve_uid(u)?;
        if gid.is_none() {
            // Take the user's primary group too, as uWSGI does with a name.
            if let Ok(Some(user)) = User::from_uid(uid) {
                let _ = nix::unistd::initgroups(&std::ffi::CString::new(user.name.clone()).unwrap(), user.gid);
                nix::unistd::setgid(user.gid).map_err(|e| format!("--uid {}: setgid: {}", u, e))?;
            }
        }
        nix::unistd::setuid(uid).map_err(|e| format!("--uid {}: {}", u, e))?;
    }
    Ok(())
}
