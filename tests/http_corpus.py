"""Raw HTTP requests and what the server must make of them: the environ the
app sees (a dict of expected values, None meaning "absent"), or the status
of the refusal. Written for RFC 9110/9112; each case names its rule.

The server for these runs with --buffer-size 8192 --http-max-headers 50
--limit-post 100000 (see test_http_corpus.py)."""

H = b"Host: example.com\r\n"


def req(line, headers=b"", body=b""):
    return line + b"\r\n" + headers + b"\r\n" + body


CASES = [
    # --- accepted: what the app sees -------------------------------------
    ("simple GET", req(b"GET /environ HTTP/1.1", H), {"REQUEST_METHOD": "GET", "PATH_INFO": "/environ", "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1"}),
    ("query string", req(b"GET /environ?a=1&b=%20 HTTP/1.1", H), {"QUERY_STRING": "a=1&b=%20", "REQUEST_URI": "/environ?a=1&b=%20"}),
    ("percent-decoded path", req(b"GET /environ/a%20b%2Fc HTTP/1.1", H), {"PATH_INFO": "/environ/a b/c"}),
    ("utf-8 path as latin-1 str", req(b"GET /environ/%C3%A9 HTTP/1.1", H), {"PATH_INFO": "/environ/\u00c3\u00a9"}),
    ("invalid escape kept", req(b"GET /environ/%zz%4 HTTP/1.1", H), {"PATH_INFO": "/environ/%zz%4"}),
    ("absolute-form: path only", req(b"GET http://evil.example/environ/p?q=1 HTTP/1.1", H), {"PATH_INFO": "/environ/p", "QUERY_STRING": "q=1"}),
    ("absolute-form https", req(b"GET https://x.example:8443/environ HTTP/1.1", H), {"PATH_INFO": "/environ"}),
    ("HTTP/1.0 without Host", req(b"GET /environ HTTP/1.0"), {"SERVER_PROTOCOL": "HTTP/1.0"}),
    ("repeated header joined", req(b"GET /environ HTTP/1.1", H + b"X-A: 1\r\nX-A: 2\r\n"), {"HTTP_X_A": "1, 2"}),
    ("repeated cookie joined with ;", req(b"GET /environ HTTP/1.1", H + b"Cookie: a=1\r\nCookie: b=2\r\n"), {"HTTP_COOKIE": "a=1; b=2"}),
    ("underscore header dropped", req(b"GET /environ HTTP/1.1", H + b"X_Forwarded_For: 6.6.6.6\r\n"), {"HTTP_X_FORWARDED_FOR": None}),
    ("content-type is CONTENT_TYPE", req(b"GET /environ HTTP/1.1", H + b"Content-Type: text/x\r\n"), {"CONTENT_TYPE": "text/x", "HTTP_CONTENT_TYPE": None}),
    ("no body: no CONTENT_LENGTH", req(b"GET /environ HTTP/1.1", H), {"CONTENT_LENGTH": None}),
    ("Content-Length: 0", req(b"POST /environ HTTP/1.1", H + b"Content-Length: 0\r\n"), {"CONTENT_LENGTH": "0"}),
    ("Host port split", req(b"GET /environ HTTP/1.1", b"Host: example.com:8080\r\n"), {"SERVER_NAME": "example.com", "HTTP_HOST": "example.com:8080"}),
    ("IPv6 Host", req(b"GET /environ HTTP/1.1", b"Host: [::1]:8080\r\n"), {"SERVER_NAME": "[::1]"}),
    ("tab in value", req(b"GET /environ HTTP/1.1", H + b"X-T: a\tb\r\n"), {"HTTP_X_T": "a\tb"}),
    ("obs-text in value kept as latin-1", req(b"GET /environ HTTP/1.1", H + b"X-O: caf\xe9\r\n"), {"HTTP_X_O": "caf\u00e9"}),
    ("value whitespace trimmed", req(b"GET /environ HTTP/1.1", H + b"X-W:    v   \r\n"), {"HTTP_X_W": "v"}),
    ("empty header value", req(b"GET /environ HTTP/1.1", H + b"X-E:\r\n"), {"HTTP_X_E": ""}),
    ("long header value", req(b"GET /environ HTTP/1.1", H + b"X-L: " + b"v" * 6000 + b"\r\n"), {"HTTP_X_L": "v" * 6000}),
    ("49 extra headers", req(b"GET /environ HTTP/1.1", H + b"".join(b"X-%d: v\r\n" % i for i in range(49))), {"HTTP_X_48": "v"}),
    ("method is case-sensitive", req(b"get /environ HTTP/1.1", H), {"REQUEST_METHOD": "get"}),
    ("extension method", req(b"PURGE /environ HTTP/1.1", H), {"REQUEST_METHOD": "PURGE"}),
    ("Connection: close honoured", req(b"GET /environ HTTP/1.1", H + b"Connection: close\r\n"), {"HTTP_CONNECTION": "close"}),
    ("equal Content-Length list", req(b"POST /sha HTTP/1.1", H + b"Content-Length: 5, 5\r\n", b"hello"), {"len": 5, "content_length": "5"}),
    ("POST body", req(b"POST /sha HTTP/1.1", H + b"Content-Length: 11\r\n", b"hello world"), {"len": 11, "content_length": "11"}),
    ("chunked body", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), {"len": 11, "content_length": None}),
    ("chunked upper-case hex", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: chunked\r\n", b"A\r\n0123456789\r\n0\r\n\r\n"), {"len": 10}),
    ("chunk extensions", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: chunked\r\n", b"5;name=val;x\r\nhello\r\n0;end\r\n\r\n"), {"len": 5}),
    ("chunk trailers", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n"), {"len": 3}),
    ("Transfer-Encoding case-insensitive", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: Chunked\r\n", b"1\r\na\r\n0\r\n\r\n"), {"len": 1}),
    ("empty chunked body", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n"), {"len": 0}),
    ("body of exactly --limit-post", req(b"POST /sha HTTP/1.1", H + b"Content-Length: 100000\r\n", b"x" * 100000), {"len": 100000}),
    ("Expect: 100-continue", req(b"POST /sha HTTP/1.1", H + b"Expect: 100-continue\r\nContent-Length: 2\r\n", b"ok"), {"len": 2}),
    # --- refused: the status line ----------------------------------------
    ("CL with TE (smuggling)", req(b"POST /sha HTTP/1.1", H + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400),
    ("TE with CL (smuggling)", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", b"0\r\n\r\n"), 400),
    ("differing Content-Length", req(b"POST /sha HTTP/1.1", H + b"Content-Length: 3\r\nContent-Length: 4\r\n", b"abcd"), 400),
    ("differing Content-Length list", req(b"POST /sha HTTP/1.1", H + b"Content-Length: 3, 4\r\n", b"abcd"), 400),
    ("signed Content-Length", req(b"POST /sha HTTP/1.1", H + b"Content-Length: +3\r\n", b"abc"), 400),
    ("negative Content-Length", req(b"POST /sha HTTP/1.1", H + b"Content-Length: -3\r\n"), 400),
    ("non-numeric Content-Length", req(b"POST /sha HTTP/1.1", H + b"Content-Length: 3a\r\n", b"abc"), 400),
    ("huge Content-Length", req(b"POST /sha HTTP/1.1", H + b"Content-Length: 99999999999999999999999\r\n"), 400),
    ("empty Content-Length", req(b"POST /sha HTTP/1.1", H + b"Content-Length: \r\n"), 400),
    ("body over --limit-post", req(b"POST /sha HTTP/1.1", H + b"Content-Length: 100001\r\n"), 413),
    ("chunked body over --limit-post", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: chunked\r\n", b"186A1\r\n" + b"x" * 100001 + b"\r\n0\r\n\r\n"), 413),
    ("unknown Transfer-Encoding", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: gzip\r\n"), 501),
    ("gzip then chunked", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: gzip, chunked\r\n"), 501),
    ("chunked not last", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: chunked, gzip\r\n"), 400),
    ("chunked twice", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 400),
    ("chunk size 0x prefix", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: chunked\r\n", b"0x3\r\nabc\r\n0\r\n\r\n"), 400),
    ("chunk size overflow", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: chunked\r\n", b"FFFFFFFFFFFFFFFFF\r\nabc\r\n"), 400),
    ("negative chunk size", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: chunked\r\n", b"-1\r\nabc\r\n"), 400),
    ("chunk longer than its size", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: chunked\r\n", b"3\r\nabcd\r\n0\r\n\r\n"), 400),
    ("chunk size with bare LF", req(b"POST /sha HTTP/1.1", H + b"Transfer-Encoding: chunked\r\n", b"3\nabc\r\n0\r\n\r\n"), 400),
    ("whitespace before colon", req(b"GET /environ HTTP/1.1", H + b"X-A : 1\r\n"), 400),
    ("obs-fold", req(b"GET /environ HTTP/1.1", H + b"X-A: 1\r\n 2\r\n"), 400),
    ("NUL in value", req(b"GET /environ HTTP/1.1", H + b"X-A: a\x00b\r\n"), 400),
    ("CR in value", req(b"GET /environ HTTP/1.1", H + b"X-A: a\rb\r\n"), 400),
    ("bare LF line endings", b"GET /environ HTTP/1.1\nHost: x\n\n", 400),
    ("bare LF after a header", b"GET /environ HTTP/1.1\r\nHost: x\nX: 1\r\n\r\n", 400),
    ("empty header name", req(b"GET /environ HTTP/1.1", H + b": x\r\n"), 400),
    ("space in header name", req(b"GET /environ HTTP/1.1", H + b"X Y: z\r\n"), 400),
    ("HTTP/1.1 without Host", req(b"GET /environ HTTP/1.1"), 400),
    ("two Host headers", req(b"GET /environ HTTP/1.1", H + b"Host: other\r\n"), 400),
    ("HTTP/2.0 on HTTP/1", req(b"GET /environ HTTP/2.0", H), 505),
    ("HTTP/9.9", req(b"GET /environ HTTP/9.9", H), 505),
    ("HTTP/0.9 request line", b"GET /environ\r\n\r\n", 400),
    ("lower-case version", req(b"GET /environ http/1.1", H), 400),
    ("space in method", req(b"GE T /environ HTTP/1.1", H), 400),
    ("control char in target", req(b"GET /env\x01iron HTTP/1.1", H), 400),
    ("Expect other than 100-continue", req(b"POST /sha HTTP/1.1", H + b"Expect: 200-ok\r\nContent-Length: 1\r\n", b"x"), 417),
    ("request line past --buffer-size", req(b"GET /" + b"a" * 9000 + b" HTTP/1.1", H), 414),
    ("headers past --buffer-size", req(b"GET /environ HTTP/1.1", H + b"X-Big: " + b"v" * 9000 + b"\r\n"), 431),
    ("more than --http-max-headers", req(b"GET /environ HTTP/1.1", H + b"".join(b"X-%d: v\r\n" % i for i in range(60))), 431),
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
]
