//! Which app serves a request, and what SCRIPT_NAME and PATH_INFO it sees.

/// The result of routing: the app's index, and with --manage-script-name
/// the length of PATH_INFO's prefix that becomes SCRIPT_NAME.
#[derive(Debug, PartialEq, Eq)]
pub struct Route {
    pub app: usize,
    pub script_name_len: Option<usize>,
}

/// `mounts` are the apps' mount points ("" for the default app).
pub fn route<S: AsRef<str>>(mounts: &[S], script_name: Option<&[u8]>, path_info: &[u8], manage_script_name: bool) -> Option<Route> {
    // An explicit SCRIPT_NAME (nginx's `uwsgi_param SCRIPT_NAME`) selects the app.
    if let Some(sn) = script_name.filter(|s| !s.is_empty()) {
        let sn = sn.strip_suffix(b"/").unwrap_or(sn);
        if let Some(i) = mounts.iter().position(|m| !m.as_ref().is_empty() && m.as_ref().as_bytes() == sn) {
            return Some(Route { app: i, script_name_len: None });
        }
    }
    if manage_script_name {
        let mut best: Option<(usize, usize)> = None;
        for (i, m) in mounts.iter().enumerate() {
            let m = m.as_ref().as_bytes();
            if m.is_empty() {
                continue;
            }
            let matches = path_info.starts_with(m) && (path_info.len() == m.len() || path_info[m.len()] == b'/');
            if matches && best.is_none_or(|(_, l)| m.len() > l) {
                best = Some((i, m.len()));
            }
        }
        if let Some((i, l)) = best {
            return Some(Route { app: i, script_name_len: Some(l) });
        }
    }
    mounts.iter().position(|m| m.as_ref().is_empty()).map(|i| Route { app: i, script_name_len: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing() {
        let mounts = ["", "/app", "/app/admin"];
        assert_eq!(route(&mounts, None, b"/x", true), Some(Route { app: 0, script_name_len: None }));
        assert_eq!(route(&mounts, None, b"/app/x", true), Some(Route { app: 1, script_name_len: Some(4) }));
        assert_eq!(route(&mounts, None, b"/app", true), Some(Route { app: 1, script_name_len: Some(4) }));
        assert_eq!(route(&mounts, None, b"/app/admin/y", true), Some(Route { app: 2, script_name_len: Some(10) }));
        assert_eq!(route(&mounts, None, b"/application", true), Some(Route { app: 0, script_name_len: None }));
        assert_eq!(route(&mounts, None, b"/app/x", false), Some(Route { app: 0, script_name_len: None }));
        assert_eq!(route(&mounts, Some(b"/app"), b"/x", false), Some(Route { app: 1, script_name_len: None }));
        assert_eq!(route(&["/a"], None, b"/b", true), None);
        assert_eq!(route(&["/a".to_string()], None, b"/a/b", true), Some(Route { app: 0, script_name_len: Some(2) }));
    }
}
