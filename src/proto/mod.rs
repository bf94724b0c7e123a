//! Wire formats, pure and tested without sockets: the CGI variable block
//! both protocols produce (vars.rs), HTTP/1 request and response heads
//! (http.rs), request targets (target.rs), chunked request bodies (chunked.rs), the PROXY protocol line
//! (proxy.rs), and the uwsgi packet codec (uwsgi.rs).

pub mod chunked;
pub mod http;
pub mod proxy;
pub mod target;
pub mod uwsgi;
pub mod vars;
