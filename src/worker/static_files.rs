//! --static-map and friends, the I/O side: a request for a file is
//! answered from the file system with sendfile and no Python call (the
//! path rules, types, conditional and range requests are statics.rs).

use super::Shared;
use super::admission::Ticket;
use super::respond::{Outcome, ReqMeta, write_simple};
use super::stream::Stream;
use crate::proto::http;
use crate::proto::vars::Vars;
use tokio::io::AsyncWriteExt;

/// --static-map and friends: answers from the file system, with sendfile
/// and no Python call, or None when the app should answer.
pub(super) async fn serve(sh: &Shared, s: &mut Stream, vars: &Vars, meta: &ReqMeta<'_>, ticket: &mut Ticket) -> Option<Outcome> {
    use crate::statics::{Lookup, compressed_variant, content_type, expires, plan, resolve};
    let method = vars.get(b"REQUEST_METHOD")?;
    if method != b"GET" && method != b"HEAD" {
        return None;
    }
    let path_info = vars.get(b"PATH_INFO")?;
    let found = resolve(&sh.cfg.statics, path_info);
    if !matches!(found, Lookup::Pass) {
        ticket.release();
    }
    let (path, metadata, root) = match found {
        Lookup::Pass => return None,
        Lookup::File(f) => *f,
        Lookup::Forbidden => return Some(static_error(s, meta, "403 Forbidden").await),
        Lookup::NotFound => return Some(static_error(s, meta, "404 Not Found").await),
    };
    // The type is the original file's; a .gz variant changes the encoding.
    let ctype = content_type(&path);
    let (variant, vary) = compressed_variant(&sh.cfg.statics, &path, &root, vars.get(b"HTTP_ACCEPT_ENCODING"));
    let original = path.clone();
    let (path, metadata, encoding) = match variant {
        Some(v) => (v.path, v.meta, Some(v.encoding)),
        None => (path, metadata, None),
    };
    let Ok(file) = std::fs::File::open(&path) else {
        return Some(static_error(s, meta, "403 Forbidden").await);
    };
    let mtime = metadata.modified().unwrap_or(std::time::UNIX_EPOCH);
    let p = plan(metadata.len(), mtime, vars.get(b"HTTP_IF_NONE_MATCH"), vars.get(b"HTTP_IF_MODIFIED_SINCE"), vars.get(b"HTTP_RANGE"));
    let mut headers = format!("Content-Type: {}\r\n{}", ctype, p.headers);
    if let Some(e) = encoding {
        headers.push_str(&format!("Content-Encoding: {}\r\n", e));
    }
    if vary {
        headers.push_str("Vary: Accept-Encoding\r\n");
    }
    if !sh.cfg.statics.expires.is_empty() {
        let uri = vars.get(b"REQUEST_URI").unwrap_or(path_info);
        if let Some(date) = expires(&sh.cfg.statics, &original, path_info, uri, &ctype, mtime, std::time::SystemTime::now()) {
            headers.push_str(&format!("Expires: {}\r\n", date));
        }
    }
    let keep_alive = meta.keep_alive && !*meta.stopping.borrow();
    let not_modified = p.body.is_none() && p.status.starts_with("304");
    let (framing, length) = if not_modified { (http::BodyFraming::Empty, None) } else { (http::BodyFraming::Length, Some(p.body.map_or(0, |(_, n)| n))) };
    let mut head = Vec::with_capacity(256 + headers.len());
    http::encode_head(&mut head, meta.http11, p.status.as_bytes(), headers.as_bytes(), meta.add_headers, framing, length, keep_alive);
    let mut out = Outcome {
        status: p.status.as_bytes().to_vec(),
        body_bytes: 0,
        headers: headers.matches("\r\n").count(),
        headers_bytes: head.len(),
        reusable: false,
        broken: None,
        sendfile: false,
    };
    if !matches!(tokio::time::timeout(meta.write_timeout, s.write_all(&head)).await, Ok(Ok(()))) {
        out.broken = Some("the client disconnected");
        return Some(out);
    }
    if let (Some((offset, len)), false) = (p.body, meta.is_head)
        && len > 0
    {
        if s.sendfile(&file, offset, len, meta.write_timeout).await.is_err() {
            out.broken = Some("the client disconnected or stopped reading");
            return Some(out);
        }
        out.body_bytes = len;
        out.sendfile = true;
    }
    out.reusable = keep_alive;
    Some(out)
}

async fn static_error(s: &mut Stream, meta: &ReqMeta<'_>, status: &'static str) -> Outcome {
    let keep_alive = meta.keep_alive && !*meta.stopping.borrow();
    let body = format!("{}\n", status);
    let ok = write_simple(s, meta.http11, status, body.as_bytes(), keep_alive, meta.write_timeout).await.is_ok();
    Outcome {
        status: status.as_bytes().to_vec(),
        body_bytes: body.len() as u64,
        headers: 1,
        headers_bytes: 0,
        reusable: ok && keep_alive,
        broken: (!ok).then_some("the client disconnected"),
        sendfile: false,
    }
}
