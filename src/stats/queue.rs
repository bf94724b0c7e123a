//! How many connections wait in a listening socket's accept queue, and its
//! limit: TCP_INFO for TCP (as uWSGI does), the kernel's sock_diag netlink
//! interface for unix sockets (what `ss -xl` shows).

use std::os::fd::RawFd;

/// (waiting, limit), or None when the kernel does not tell.
pub fn depth(fd: RawFd) -> Option<(u64, u64)> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: plain syscalls on buffers of the sizes given.
    unsafe {
        if libc::getsockname(fd, &mut addr as *mut _ as *mut libc::sockaddr, &mut len) != 0 {
            return None;
        }
        match addr.ss_family as i32 {
            libc::AF_INET | libc::AF_INET6 => tcp(fd),
            libc::AF_UNIX => {
                if libc::fstat(fd, &mut st) != 0 {
                    return None;
                }
                unix(st.st_ino as u32)
            }
            _ => None,
        }
    }
}

fn tcp(fd: RawFd) -> Option<(u64, u64)> {
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    // For a listening socket Linux reports the accept queue in tcpi_unacked
    // and its limit in tcpi_sacked.
    let r = unsafe { libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut info as *mut _ as *mut libc::c_void, &mut len) };
    (r == 0).then_some((info.tcpi_unacked as u64, info.tcpi_sacked as u64))
}

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const UDIAG_SHOW_RQLEN: u32 = 0x10;
const UNIX_DIAG_RQLEN: u16 = 4;
const TCP_LISTEN: u32 = 10;

#[repr(C)]
struct Request {
    // struct nlmsghdr
    len: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    pid: u32,
    // struct unix_diag_req
    family: u8,
    protocol: u8,
    pad: u16,
    states: u32,
    ino: u32,
    show: u32,
    cookie: [u32; 2],
}

fn unix(ino: u32) -> Option<(u64, u64)> {
    // SAFETY: a netlink socket we own, closed on every path by OwnedFd.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, libc::NETLINK_SOCK_DIAG) };
    if fd < 0 {
        return None;
    }
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let req = Request {
        len: size_of::<Request>() as u32,
        kind: SOCK_DIAG_BY_FAMILY,
        flags: libc::NLM_F_REQUEST as u16,
        seq: 1,
        pid: 0,
        family: libc::AF_UNIX as u8,
        protocol: 0,
        pad: 0,
        states: 1 << TCP_LISTEN,
        ino,
        show: UDIAG_SHOW_RQLEN,
        // No cookie: look the socket up by inode alone.
        cookie: [u32::MAX, u32::MAX],
    };
    let tv = libc::timeval { tv_sec: 0, tv_usec: 200_000 };
    unsafe {
        libc::setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv as *const _ as *const libc::c_void, size_of::<libc::timeval>() as u32);
        if libc::send(raw, &req as *const _ as *const libc::c_void, size_of::<Request>(), 0) < 0 {
            return None;
        }
    }
    let mut buf = [0u8; 1024];
    let n = unsafe { libc::recv(raw, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
    if n < 0 {
        return None;
    }
    parse_reply(&buf[..n as usize])
}

/// Finds UNIX_DIAG_RQLEN in a reply: nlmsghdr (16 bytes), unix_diag_msg
/// (16 bytes), then attributes (u16 len, u16 type, payload, 4-aligned).
fn parse_reply(b: &[u8]) -> Option<(u64, u64)> {
    let u16at = |i: usize| b.get(i..i + 2).map(|s| u16::from_ne_bytes([s[0], s[1]]));
    let u32at = |i: usize| b.get(i..i + 4).map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]));
    let msg_len = u32at(0)? as usize;
    if u16at(4)? != SOCK_DIAG_BY_FAMILY || msg_len > b.len() {
        return None;
    }
    let mut at = 32;
    while at + 4 <= msg_len {
        let (len, kind) = (u16at(at)? as usize, u16at(at + 2)?);
        if len < 4 {
            return None;
        }
        if kind == UNIX_DIAG_RQLEN {
            return Some((u32at(at + 4)? as u64, u32at(at + 8)? as u64));
        }
        at += (len + 3) & !3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn queue_depth_of_unix_and_tcp_listeners() {
        let path = std::env::temp_dir().join(format!("oxwsgi-queue-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let _c: Vec<_> = (0..3).map(|_| std::os::unix::net::UnixStream::connect(&path).unwrap()).collect();
        let (waiting, limit) = depth(l.as_raw_fd()).expect("sock_diag answers");
        assert_eq!(waiting, 3);
        assert!(limit >= 3);
        std::fs::remove_file(&path).unwrap();
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _d: Vec<_> = (0..2).map(|_| std::net::TcpStream::connect(t.local_addr().unwrap()).unwrap()).collect();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(depth(t.as_raw_fd()).unwrap().0, 2);
    }
}
