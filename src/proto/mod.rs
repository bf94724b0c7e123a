//! Wire formats, pure and tested without sockets: the CGI variable block
//! both protocols produce (vars.rs), HTTP/1 request heads, chunked bodies and
//! response heads (http.rs), and the uwsgi packet codec (uwsgi.rs).

pub mod http;
pub mod uwsgi;
pub mod vars;
