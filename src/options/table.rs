//! The option table: one entry per option, shared by the command line, the
//! ini reader and `--help`. Adding an option means adding a row here and a
//! field in `Config` (config.rs); nothing else looks options up by name.

/// How an option takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A boolean: `--master`, `--master=false`, `master = yes` in an ini.
    Flag,
    /// One value; the last one given wins (as in uWSGI).
    Value,
    /// Repeatable; every occurrence adds a value (`socket`, `env`, ...).
    List,
    /// A flag that may also take a value (`--chmod-socket` alone means 666).
    OptionalValue,
}

/// Whether an option does something. An option in this table is
/// implemented, or accepted for old configs because our behaviour already
/// is what it asks for (a no-op, with the reason); uWSGI options we do not
/// provide are refused by name (families.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Yes,
    /// Accepted, and harmless because our behaviour already is what the
    /// option asks for. The text says why.
    NoOp(&'static str),
}

#[derive(Debug)]
pub struct OptSpec {
    pub name: &'static str,
    /// Other long names (uWSGI aliases such as `workers` for `processes`).
    pub aliases: &'static [&'static str],
    pub short: Option<char>,
    pub kind: Kind,
    pub group: &'static str,
    pub help: &'static str,
    pub support: Support,
}

macro_rules! opt {
    ($name:literal, [$($alias:literal),*], $short:expr, $kind:ident, $group:literal, $support:expr, $help:literal) => {
        OptSpec { name: $name, aliases: &[$($alias),*], short: $short, kind: Kind::$kind,
                  group: $group, help: $help, support: $support }
    };
}

use Support::{NoOp, Yes};

// One row per option, kept on one line each: a table, not code.
#[rustfmt::skip]
pub static OPTIONS: &[OptSpec] = &[
    // Configuration
    opt!("ini", [], None, List, "Configuration", Yes, "load options from an ini file (file.ini, file.ini:section, or :section of the file being read; [uwsgi] by default)"),
    opt!("yaml", ["yml"], Some('y'), List, "Configuration", Yes, "load options from a YAML file in uWSGI's layout (file.yaml or file.yaml:section), read as uWSGI's own reader does"),
    opt!("json", ["js"], Some('j'), List, "Configuration", Yes, "load options from a JSON file in uWSGI's layout (file.json or file.json:section)"),
    opt!("include", [], None, List, "Configuration", Yes, "read a config file (ini, YAML or JSON, by its extension) as if its options were written here"),
    opt!("inherit", [], None, List, "Configuration", Yes, "read a config file as a template (as include; %D %N %P... keep naming the first config file)"),
    opt!("config", [], None, List, "Configuration", Yes, "read a config file by its extension (ini, YAML or JSON)"),
    opt!("show-config", [], None, Flag, "Configuration", Yes, "print the resolved options as an ini file, then start"),
    opt!("check-config", [], None, Flag, "Configuration", Yes, "read the whole configuration, print it as an ini with every warning, and exit: 0 if the server would start with it, 1 if not (nothing is bound or loaded)"),
    opt!("help", ["usage"], Some('h'), Flag, "Configuration", Yes, "show this help and exit"),
    opt!("version", [], None, Flag, "Configuration", Yes, "print the version and exit"),
    opt!("strict", [], None, Flag, "Configuration", Yes, "make an unknown key in a config file an error instead of a placeholder (use set-placeholder for placeholders)"),
    opt!("plugins", ["plugin"], None, List, "Configuration", Yes, "accepted for old configs: python and http are built in; any other plugin is an error"),
    opt!("plugins-dir", ["plugin-dir"], None, List, "Configuration", NoOp("python and http are built in: no plugin is loaded from a directory (a --plugin other than them is still an error)"), "where uWSGI looks for plugins"),
    opt!("set-placeholder", ["set-ph"], None, List, "Configuration", Yes, "define a %(name) placeholder: name=value"),
    opt!("set", [], Some('S'), List, "Configuration", Yes, "set an option or a placeholder: name=value"),
    opt!("declare-option", ["declare-option2"], None, List, "Configuration", Yes, "declare a new option: name=option1=$1;option2=$2 (the words of its value replace $1, $2...)"),
    opt!("for", [], None, Value, "Configuration", Yes, "repeat the options up to endfor for each word of the value, as %(_)"),
    opt!("for-glob", [], None, Value, "Configuration", Yes, "repeat the options up to endfor for each path the glob matches, as %(_)"),
    opt!("for-times", [], None, Value, "Configuration", Yes, "repeat the options up to endfor N times, %(_) counting from 1"),
    opt!("for-readline", [], None, Value, "Configuration", Yes, "repeat the options up to endfor for each line of the file, as %(_)"),
    opt!("endfor", ["end-for"], None, OptionalValue, "Configuration", Yes, "end a for block"),
    opt!("if-env", ["ifenv"], None, Value, "Configuration", Yes, "read the options up to endif if the environment variable is set (even empty), or equal to VAR=value; %(_) is its value"),
    opt!("if-not-env", [], None, Value, "Configuration", Yes, "read the options up to endif if the environment variable is not set"),
    opt!("if-exists", ["ifexists"], None, Value, "Configuration", Yes, "read the options up to endif if the path exists; %(_) is the path"),
    opt!("if-not-exists", [], None, Value, "Configuration", Yes, "read the options up to endif if the path does not exist"),
    opt!("if-file", [], None, Value, "Configuration", Yes, "read the options up to endif if the path is a regular file; %(_) is the path"),
    opt!("if-not-file", [], None, Value, "Configuration", Yes, "read the options up to endif if the path is not a regular file"),
    opt!("if-dir", ["ifdir", "if-directory"], None, Value, "Configuration", Yes, "read the options up to endif if the path is a directory; %(_) is the path"),
    opt!("if-not-dir", [], None, Value, "Configuration", Yes, "read the options up to endif if the path is not a directory"),
    opt!("if-opt", ["if-option"], None, Value, "Configuration", Yes, "read the options up to endif if the option (or option=value) was given before; %(_) is its value"),
    opt!("if-not-opt", ["if-not-option"], None, Value, "Configuration", Yes, "read the options up to endif if the option was not given before"),
    opt!("if-reload", [], None, Flag, "Configuration", Yes, "read the options up to endif when reloading"),
    opt!("if-not-reload", [], None, Flag, "Configuration", Yes, "read the options up to endif at first start"),
    opt!("if-plugin", ["ifplugin"], None, Value, "Configuration", Yes, "read the options up to endif if the plugin is built in (python, http)"),
    opt!("if-not-plugin", [], None, Value, "Configuration", Yes, "read the options up to endif if the plugin is not built in"),
    opt!("if-hostname", [], None, Value, "Configuration", Yes, "read the options up to endif if this machine's hostname is the value"),
    opt!("if-not-hostname", [], None, Value, "Configuration", Yes, "read the options up to endif if this machine's hostname is not the value"),
    opt!("if-hostname-match", [], None, Value, "Configuration", Yes, "read the options up to endif if this machine's hostname matches the regular expression"),
    opt!("if-not-hostname-match", [], None, Value, "Configuration", Yes, "read the options up to endif if this machine's hostname does not match the regular expression"),
    opt!("else", [], None, OptionalValue, "Configuration", Yes, "after an if-* block whose test failed: read the options up to endif"),
    opt!("endif", ["end-if"], None, OptionalValue, "Configuration", Yes, "end an if block"),
    opt!("print", ["iprint"], None, List, "Configuration", Yes, "print the value when the configuration is read"),
    // Python application
    opt!("wsgi-file", ["file"], None, Value, "Python application", Yes, "load the WSGI application from this Python file"),
    opt!("module", ["wsgi"], Some('w'), Value, "Python application", Yes, "load the WSGI application from this module (pkg.mod or pkg.mod:callable)"),
    opt!("callable", [], None, Value, "Python application", Yes, "name of the WSGI callable (default: application)"),
    opt!("mount", [], None, List, "Python application", Yes, "mount an application at a prefix: /prefix=app.py or /prefix=pkg.mod:callable"),
    opt!("paste", [], None, Value, "Python application", Yes, "load the application from a PasteDeploy config: config:/path/app.ini (Pyramid, CKAN...)"),
    opt!("no-default-app", [], None, Flag, "Python application", NoOp("oxwsgi never falls back to another mount's app: a path no --mount matches goes to the app mounted at / or gets a 404 (uWSGI's fallback to its first app is what this option turns off)"), "do not send unmatched paths to the first app"),
    opt!("hook-asap", [], None, List, "Hooks", Yes, "run action:argument right after the config is read, before anything else (exec:CMD, mkdir:DIR, write:FILE TEXT, unix_signal:15 gracefully_kill_them_all...)"),
    opt!("hook-pre-jail", [], None, List, "Hooks", Yes, "run action:argument as root, before the privileges are dropped (first of the root phases; skipped when not started as root) (exec:CMD, mkdir:DIR, write:FILE TEXT, unix_signal:15 gracefully_kill_them_all...)"),
    opt!("hook-post-jail", [], None, List, "Hooks", Yes, "run action:argument as root, after pre-jail (skipped when not started as root) (exec:CMD, mkdir:DIR, write:FILE TEXT, unix_signal:15 gracefully_kill_them_all...)"),
    opt!("hook-in-jail", [], None, List, "Hooks", Yes, "run action:argument as root, after post-jail (skipped when not started as root) (exec:CMD, mkdir:DIR, write:FILE TEXT, unix_signal:15 gracefully_kill_them_all...)"),
    opt!("hook-as-root", [], None, List, "Hooks", Yes, "run action:argument as root, last before the privileges are dropped (skipped when not started as root) (exec:CMD, mkdir:DIR, write:FILE TEXT, unix_signal:15 gracefully_kill_them_all...)"),
    opt!("hook-as-user", [], None, List, "Hooks", Yes, "run action:argument right after the privileges are dropped (exec:CMD, mkdir:DIR, write:FILE TEXT, unix_signal:15 gracefully_kill_them_all...)"),
    opt!("hook-pre-app", [], None, List, "Hooks", Yes, "run action:argument before the app is loaded (in each worker with --lazy-apps) (exec:CMD, mkdir:DIR, write:FILE TEXT, unix_signal:15 gracefully_kill_them_all...)"),
    opt!("hook-post-app", [], None, List, "Hooks", Yes, "run action:argument after the app is loaded (in each worker with --lazy-apps) (exec:CMD, mkdir:DIR, write:FILE TEXT, unix_signal:15 gracefully_kill_them_all...)"),
    opt!("hook-master-start", [], None, List, "Hooks", Yes, "run action:argument in the master, once its first workers are forked (unix_signal remaps its signals here) (exec:CMD, mkdir:DIR, write:FILE TEXT, unix_signal:15 gracefully_kill_them_all...)"),
    opt!("hook-post-fork", [], None, List, "Hooks", Yes, "run action:argument in each worker, right after it is forked (exec:CMD, mkdir:DIR, write:FILE TEXT, unix_signal:15 gracefully_kill_them_all...)"),
    opt!("hook-accepting", [], None, List, "Hooks", Yes, "run action:argument in each worker, as it starts accepting (exec:CMD, mkdir:DIR, write:FILE TEXT, unix_signal:15 gracefully_kill_them_all...)"),
    opt!("hook-accepting1", [], None, List, "Hooks", Yes, "run action:argument in the first worker, as it starts accepting (exec:CMD, mkdir:DIR, write:FILE TEXT, unix_signal:15 gracefully_kill_them_all...)"),
    opt!("hook-accepting-once", [], None, List, "Hooks", Yes, "run action:argument in each worker as it first starts accepting (not after a respawn or reload) (exec:CMD, mkdir:DIR, write:FILE TEXT, unix_signal:15 gracefully_kill_them_all...)"),
    opt!("hook-accepting1-once", [], None, List, "Hooks", Yes, "run action:argument in the first worker as it first starts accepting (not after a respawn or reload) (exec:CMD, mkdir:DIR, write:FILE TEXT, unix_signal:15 gracefully_kill_them_all...)"),
    opt!("hook-as-user-atexit", [], None, List, "Hooks", Yes, "run action:argument when the instance exits, not on a reload (a failure is logged, not fatal) (exec:CMD, mkdir:DIR, write:FILE TEXT, unix_signal:15 gracefully_kill_them_all...)"),
    opt!("hook-emperor-start", [], None, List, "Hooks", Yes, "run action:argument in the Emperor as it starts (failures are logged, not fatal)"),
    opt!("hook-as-emperor", [], None, List, "Hooks", Yes, "run action:argument in the Emperor after it starts a vassal (UWSGI_HOOK_CONTEXT names it)"),
    opt!("hook-emperor-stop", [], None, List, "Hooks", Yes, "run action:argument in the Emperor when it stops a vassal (UWSGI_HOOK_CONTEXT names it)"),
    opt!("hook-emperor-reload", [], None, List, "Hooks", Yes, "run action:argument in the Emperor when it reloads a vassal (UWSGI_HOOK_CONTEXT names it)"),
    opt!("hook-as-vassal", [], None, List, "Hooks", Yes, "run action:argument in each vassal, before anything else it does"),
    opt!("exec-asap", [], None, List, "Hooks", Yes, "run a shell command right after the config is read, before anything else; a non-zero status stops the start"),
    opt!("exec-pre-jail", [], None, List, "Hooks", Yes, "run a shell command as root, before the privileges are dropped (first of the root phases; skipped when not started as root); a non-zero status stops the start"),
    opt!("exec-post-jail", [], None, List, "Hooks", Yes, "run a shell command as root, after pre-jail (skipped when not started as root); a non-zero status stops the start"),
    opt!("exec-in-jail", [], None, List, "Hooks", Yes, "run a shell command as root, after post-jail (skipped when not started as root); a non-zero status stops the start"),
    opt!("exec-as-root", [], None, List, "Hooks", Yes, "run a shell command as root, last before the privileges are dropped (skipped when not started as root); a non-zero status stops the start"),
    opt!("exec-as-user", [], None, List, "Hooks", Yes, "run a shell command right after the privileges are dropped; a non-zero status stops the start"),
    opt!("exec-pre-app", [], None, List, "Hooks", Yes, "run a shell command before the app is loaded (in each worker with --lazy-apps); a non-zero status stops the start"),
    opt!("exec-post-app", [], None, List, "Hooks", Yes, "run a shell command after the app is loaded (in each worker with --lazy-apps); a non-zero status stops the start"),
    opt!("exec-as-user-atexit", [], None, List, "Hooks", Yes, "run a shell command when the instance exits, not on a reload (a failure is logged, not fatal); a non-zero status stops the start"),
    opt!("exec-as-emperor", [], None, List, "Hooks", Yes, "run a shell command in the Emperor after it starts a vassal (UWSGI_HOOK_CONTEXT names it)"),
    opt!("exec-as-vassal", [], None, List, "Hooks", Yes, "run a shell command in each vassal, before anything else it does"),
    opt!("binsh", [], None, List, "Hooks", Yes, "the shell exec hooks run commands with (the first that exists; /bin/sh otherwise)"),
    opt!("wait-for-fs", [], None, List, "Hooks", Yes, "wait for this file or directory to exist before the root hooks run"),
    opt!("wait-for-file", [], None, List, "Hooks", Yes, "wait for this file to exist before the root hooks run"),
    opt!("wait-for-dir", [], None, List, "Hooks", Yes, "wait for this directory to exist before the root hooks run"),
    opt!("wait-for-fs-timeout", [], None, Value, "Hooks", Yes, "seconds --wait-for-fs/-file/-dir and the wait_for_* hooks wait before giving up (default 60)"),
    opt!("wait-for-socket", [], None, List, "Hooks", Yes, "wait until this socket (host:port or a unix path) accepts connections before the app is loaded"),
    opt!("wait-for-socket-timeout", [], None, Value, "Hooks", Yes, "seconds --wait-for-socket waits before giving up (default 60)"),
    opt!("py-autoreload", ["py-auto-reload", "python-autoreload", "python-auto-reload"], None, Value, "Python application", Yes, "for development: every N seconds, look at the files of the imported modules, and reload gracefully when one changed"),
    opt!("py-auto-reload-ignore", [], None, List, "Python application", Yes, "a module (by name: myapp.settings) that --py-autoreload does not watch"),
    opt!("manage-script-name", [], None, Flag, "Python application", Yes, "split SCRIPT_NAME/PATH_INFO by the longest matching mount point"),
    opt!("need-app", [], None, Flag, "Python application", NoOp("oxwsgi always refuses to start without an application"), "exit if no app can be loaded (always on)"),
    opt!("home", ["virtualenv", "venv", "pyhome"], Some('H'), Value, "Python application", Yes, "the virtualenv (python3 -m venv or virtualenv) to run in"),
    opt!("chdir", [], None, Value, "Python application", Yes, "change to this directory before loading the app"),
    opt!("chdir2", [], None, Value, "Python application", Yes, "change to this directory after loading the app"),
    opt!("pythonpath", ["python-path", "pp"], None, List, "Python application", Yes, "add a directory (or a glob) to sys.path (repeatable)"),
    opt!("import", ["pyimport", "py-import", "python-import"], None, List, "Python application", Yes, "import this Python module before the app (repeatable): uwsgidecorators handlers, signal setup"),
    opt!("pyargv", [], None, Value, "Python application", Yes, "sys.argv[1:] for the app (split on spaces)"),
    opt!("env", [], None, List, "Python application", Yes, "set an environment variable: KEY=VALUE (repeatable)"),
    opt!("unenv", [], None, List, "Python application", Yes, "unset an environment variable (repeatable)"),
    opt!("lazy-apps", ["lazy"], None, Flag, "Python application", Yes, "load the app in each worker after fork instead of once in the master"),
    opt!("enable-threads", [], Some('T'), Flag, "Python application", NoOp("Python threads are always enabled in oxwsgi"), "allow the app to start threads (always on)"),
    opt!("single-interpreter", [], Some('i'), Flag, "Python application", NoOp("oxwsgi always runs one interpreter per process"), "use one interpreter (always on)"),
    opt!("py-call-osafterfork", [], None, Flag, "Python application", NoOp("CPython's after-fork hooks (os.register_at_fork) always run in each new worker"), "run os.register_at_fork hooks in workers (always on)"),
    opt!("wsgi-disable-file-wrapper", [], None, Flag, "Python application", Yes, "do not offer wsgi.file_wrapper in the environ"),
    opt!("wsgi-env-behaviour", ["wsgi-env-behavior"], None, Value, "Python application", NoOp("every request gets an environ dict of its own, which is uWSGI's 'holy' behaviour; 'cheat' (one dict reused) is accepted: only its speed differs, and oxwsgi's environ is already built without reuse hazards"), "holy or cheat: how the environ dict is made"),
    opt!("catch-exceptions", [], None, Flag, "Python application", Yes, "send the traceback of an exception the app raises to the client (in the 500 response): for development only, it shows the app's code"),
    // Sockets
    opt!("http", [], None, List, "Sockets", Yes, "serve HTTP on this address (:8000, 127.0.0.1:8000, [::1]:8000)"),
    opt!("http-socket", [], None, List, "Sockets", Yes, "serve HTTP on this address or unix socket path"),
    opt!("http11-socket", [], None, List, "Sockets", Yes, "serve HTTP/1.1 with keep-alive (keep-alive is always on)"),
    opt!("socket", ["uwsgi-socket"], Some('s'), List, "Sockets", Yes, "serve the uwsgi protocol (for nginx uwsgi_pass) on this address or unix socket path (or --protocol's)"),
    opt!("protocol", ["socket-protocol"], None, Value, "Sockets", Yes, "the protocol of --socket sockets: uwsgi (default) or http"),
    opt!("chmod-socket", ["chmod"], Some('C'), OptionalValue, "Sockets", Yes, "chmod unix sockets (bare: 666, or an octal mode such as 664)"),
    opt!("chown-socket", [], None, Value, "Sockets", Yes, "chown unix sockets to user[:group]"),
    opt!("umask", [], None, Value, "Sockets", Yes, "set the process umask (octal) before the sockets and files are created"),
    opt!("listen", [], Some('l'), Value, "Sockets", Yes, "the listen backlog (default 1024)"),
    opt!("buffer-size", [], Some('b'), Value, "Sockets", Yes, "largest request head / uwsgi vars block in bytes (default 65535, the most a uwsgi packet can carry; more allows larger HTTP heads)"),
    opt!("post-buffering", [], None, Value, "Sockets", Yes, "request bodies larger than this many bytes are spooled to a temp file (default 1048576)"),
    opt!("limit-post", [], None, Value, "Sockets", Yes, "largest request body in bytes, 0 for no limit (default 0); larger bodies get 413"),
    opt!("reuse-port", [], None, Flag, "Sockets", Yes, "set SO_REUSEPORT on TCP sockets, so several instances can bind one address"),
    opt!("so-keepalive", [], None, Flag, "Sockets", Yes, "enable TCP keep-alive probes on client connections"),
    opt!("tcp-nodelay", [], None, Flag, "Sockets", NoOp("TCP_NODELAY is always set on client connections"), "disable Nagle's algorithm (always on)"),
    opt!("no-defer-accept", [], None, Flag, "Sockets", Yes, "accept TCP connections before their first bytes arrive (by default, as in uWSGI, the kernel waits for them)"),
    opt!("thunder-lock", ["thunder-lock-watchdog"], None, Flag, "Sockets", NoOp("one idle worker is woken per connection on uwsgi sockets; HTTP sockets wake the idle ones so the least loaded takes it"), "serialize accept() (nothing to serialize)"),
    opt!("offload-threads", ["offload-thread"], None, Value, "Sockets", NoOp("each worker's I/O thread already sends files and slow responses without holding a Python thread"), "offload threads (built in)"),
    opt!("close-on-exec", ["close-on-exec2"], None, Flag, "Sockets", NoOp("every socket is close-on-exec: processes the app starts never inherit one"), "close sockets in processes the app starts (always on)"),
    opt!("http-auto-chunked", [], None, Flag, "Sockets", NoOp("responses without a Content-Length are always chunked for HTTP/1.1 clients"), "chunk responses without a length (always on)"),
    opt!("http-keepalive", [], None, OptionalValue, "Sockets", Yes, "keep-alive is always on; a value sets --http-keepalive-timeout"),
    opt!("http-timeout", [], None, Value, "Sockets", Yes, "seconds without progress on an HTTP connection (uWSGI's HTTP router option): --socket-timeout for HTTP sockets"),
    opt!("http-enable-proxy-protocol", ["enable-proxy-protocol"], None, Flag, "Sockets", Yes, "read a PROXY protocol v1 line before each HTTP connection's first request (REMOTE_ADDR from it)"),
    // Limits and timeouts
    opt!("http-max-headers", [], None, Value, "Limits and timeouts", Yes, "most request headers accepted (default 100, at most 1000); 431 past it"),
    opt!("http-keepalive-requests", [], None, Value, "Limits and timeouts", Yes, "requests served on one keep-alive connection before it is closed (default 1000, 0 for no limit)"),
    opt!("http-header-timeout", [], None, Value, "Limits and timeouts", Yes, "seconds to receive a whole request head (default 30): slowloris protection"),
    opt!("http-keepalive-timeout", [], None, Value, "Limits and timeouts", Yes, "seconds an idle keep-alive connection is kept (default 60)"),
    opt!("socket-timeout", [], Some('z'), Value, "Limits and timeouts", Yes, "seconds without progress reading a body or writing a response before the connection is dropped (default 60)"),
    opt!("vacuum", [], None, Flag, "Sockets", Yes, "remove the unix sockets and pidfiles we created at exit"),
    // Processes
    opt!("master", [], Some('M'), Flag, "Processes", Yes, "run a master process that supervises the workers"),
    opt!("processes", ["workers"], Some('p'), Value, "Processes", Yes, "number of worker processes (default 1)"),
    opt!("threads", [], None, Value, "Processes", Yes, "Python threads per worker (default 1)"),
    opt!("threads-stacksize", ["thread-stacksize", "thread-stack-size", "threads-stack-size"], None, Value, "Processes", Yes, "stack size of the Python threads, in KB"),
    opt!("max-requests", [], Some('R'), Value, "Processes", Yes, "replace a worker after it served this many requests"),
    opt!("limit-as", [], None, Value, "Processes", Yes, "address space limit of each worker in MB"),
    opt!("max-fd", [], None, Value, "Processes", Yes, "the most file descriptors a process may open (RLIMIT_NOFILE; raising it past the hard limit needs root)"),
    opt!("pidfile", [], None, Value, "Processes", Yes, "write the master's PID to this file (before dropping privileges)"),
    opt!("pidfile2", [], None, Value, "Processes", Yes, "write the master's PID to this file after dropping privileges"),
    opt!("safe-pidfile", [], None, Value, "Processes", Yes, "write the master's PID to this file atomically"),
    opt!("safe-pidfile2", [], None, Value, "Processes", Yes, "write the master's PID to this file atomically, after dropping privileges"),
    opt!("uid", [], None, Value, "Processes", Yes, "drop to this user (name or number) after binding the sockets"),
    opt!("gid", [], None, Value, "Processes", Yes, "drop to this group (name or number) after binding the sockets"),
    opt!("auto-procname", [], None, Flag, "Processes", Yes, "name the processes as ps, top and pgrep show them: 'oxwsgi master', 'oxwsgi worker 1'..."),
    opt!("procname", [], None, Value, "Processes", Yes, "the name of every process (implies --auto-procname)"),
    opt!("procname-master", [], None, Value, "Processes", Yes, "the master's name (implies --auto-procname)"),
    opt!("procname-prefix", [], None, Value, "Processes", Yes, "put this before every process name (implies --auto-procname)"),
    opt!("procname-prefix-spaced", [], None, Value, "Processes", Yes, "put this and a space before every process name (implies --auto-procname)"),
    opt!("procname-append", [], None, Value, "Processes", Yes, "put this after every process name (implies --auto-procname)"),
    opt!("master-as-root", [], None, Flag, "Processes", Yes, "keep the master as root; only the workers drop to --uid/--gid"),
    opt!("locks", [], None, Value, "Processes", Yes, "shared locks for uwsgi.lock(N), besides lock 0 (default 0)"),
    opt!("ignore-sigpipe", [], None, Flag, "Processes", Yes, "keep SIGPIPE ignored, for the processes the app starts too (by default it is caught, so they start with its default action)"),
    opt!("ignore-write-errors", [], None, Flag, "Processes", Yes, "do not log responses that could not be delivered (the client went away)"),
    opt!("disable-write-exception", [], None, Flag, "Processes", Yes, "do not raise an exception in the app when a streamed response cannot be written (the client went away)"),
    opt!("die-on-term", [], None, Flag, "Processes", NoOp("SIGTERM always stops oxwsgi gracefully"), "stop on SIGTERM (always on)"),
    opt!("no-orphans", [], None, Flag, "Processes", NoOp("workers always stop when their master dies (PDEATHSIG)"), "kill the workers if the master dies (always on)"),
    opt!("reload-mercy", ["worker-reload-mercy"], None, Value, "Processes", Yes, "seconds to wait for workers to finish their requests on stop/reload (default 60)"),
    opt!("daemonize", [], Some('d'), Value, "Processes", Yes, "detach and log to this file"),
    opt!("daemonize2", [], None, Value, "Processes", Yes, "detach and log to this file, after the app is loaded"),
    opt!("harakiri", [], Some('t'), Value, "Processes", Yes, "interrupt a request running longer than this many seconds (504); implies --master"),
    opt!("harakiri-graceful-timeout", [], None, Value, "Processes", Yes, "seconds an interrupted request gets before its worker is killed (default 5)"),
    opt!("harakiri-graceful-signal", [], None, Value, "Processes", Yes, "a signal number sent to the worker when a request runs past --harakiri, instead of interrupting the request (6, SIGABRT, with faulthandler enabled, logs where it was); still running --harakiri-graceful-timeout seconds later, the worker is killed"),
    opt!("max-requests-delta", [], None, Value, "Processes", Yes, "add worker_id * delta to max-requests, so workers do not all retire at once"),
    opt!("harakiri-verbose", [], None, Flag, "Processes", Yes, "on a harakiri, also log the system call the request's thread is in and where it sleeps (/proc syscall and wchan)"),
    opt!("max-worker-lifetime", [], None, Value, "Processes", Yes, "replace a worker (gracefully) after it has run this many seconds"),
    opt!("max-worker-lifetime-delta", [], None, Value, "Processes", Yes, "add worker id x this many seconds to --max-worker-lifetime, so workers are not replaced all at once"),
    opt!("min-worker-lifetime", [], None, Value, "Processes", Yes, "seconds a worker lives before max-requests or reload-on-rss may retire it (default 0)"),
    opt!("reload-on-rss", [], None, Value, "Processes", Yes, "replace a worker whose resident memory passes this many MB after a request"),
    opt!("reload-on-as", [], None, Value, "Processes", Yes, "replace a worker gracefully once its address space (VSZ) is past this many MB (checked after each request)"),
    opt!("evil-reload-on-rss", [], None, Value, "Processes", Yes, "the master kills (SIGKILL) and replaces a worker whose resident memory is past this many MB (checked every second, even mid-request)"),
    opt!("evil-reload-on-as", [], None, Value, "Processes", Yes, "the master kills (SIGKILL) and replaces a worker whose address space is past this many MB (checked every second)"),
    opt!("cheaper", [], None, Value, "Cheaper mode", Yes, "run at least N workers and up to --processes, as load asks (cheaper mode; N must be lower than --processes)"),
    opt!("cheaper-initial", [], None, Value, "Cheaper mode", Yes, "workers started at first (default: --cheaper)"),
    opt!("cheaper-step", [], None, Value, "Cheaper mode", Yes, "workers started at a time when more are needed (default 1)"),
    opt!("cheaper-overload", [], None, Value, "Cheaper mode", Yes, "spare: seconds all workers are busy (or two idle) before one more (or one less); backlog: listen-queue length; busyness: the window in seconds (default 3)"),
    opt!("cheaper-algo", [], None, Value, "Cheaper mode", Yes, "spare (default), spare2, backlog, busyness or manual (SIGTTIN/SIGTTOU only)"),
    opt!("cheaper-idle", [], None, Value, "Cheaper mode", Yes, "spare2: seconds with more idle workers than --cheaper before one is stopped (default 10)"),
    opt!("cheaper-rss-limit-soft", [], None, Value, "Cheaper mode", Yes, "start no more workers while theirs total resident memory is at least this many bytes"),
    opt!("cheaper-rss-limit-hard", [], None, Value, "Cheaper mode", Yes, "stop a worker while their total resident memory is at least this many bytes"),
    opt!("cheaper-busyness-max", [], None, Value, "Cheaper mode", Yes, "busyness: average busyness (%) above which workers are started (default 50)"),
    opt!("cheaper-busyness-min", [], None, Value, "Cheaper mode", Yes, "busyness: average busyness (%) below which a window counts as idle (default 25)"),
    opt!("cheaper-busyness-multiplier", [], None, Value, "Cheaper mode", Yes, "busyness: idle windows in a row before a worker is stopped (default 10)"),
    opt!("cheaper-busyness-penalty", [], None, Value, "Cheaper mode", Yes, "busyness: added to the multiplier when a stopped worker is needed again soon (default 1)"),
    opt!("cheaper-busyness-backlog-alert", [], None, Value, "Cheaper mode", Yes, "busyness: listen-queue length that starts emergency workers at once (default 33)"),
    opt!("cheaper-busyness-backlog-multiplier", [], None, Value, "Cheaper mode", Yes, "busyness: idle windows before an emergency worker is stopped (default 3)"),
    opt!("cheaper-busyness-backlog-step", [], None, Value, "Cheaper mode", Yes, "busyness: emergency workers started at a time (default 1)"),
    opt!("cheaper-busyness-backlog-nonzero", [], None, Value, "Cheaper mode", Yes, "busyness: seconds the listen queue may stay non-empty before an emergency worker (default 60)"),
    opt!("cheaper-busyness-verbose", [], None, Flag, "Cheaper mode", Yes, "busyness: log each window's figures"),
    opt!("cheap", [], None, Flag, "Cheaper mode", Yes, "start no worker until the first connection arrives"),
    opt!("idle", [], None, Value, "Cheaper mode", Yes, "after N seconds without a request, stop the workers until the next connection"),
    opt!("die-on-idle", [], None, Flag, "Cheaper mode", Yes, "with --idle: stop the instance instead (an Emperor on-demand vassal)"),
    opt!("attach-daemon", [], None, List, "Processes", Yes, "run a command (in the foreground) alongside the instance: respawned when it exits, stopped with the instance and on a reload"),
    opt!("attach-control-daemon", [], None, List, "Processes", Yes, "as --attach-daemon, and the instance stops when it exits"),
    opt!("smart-attach-daemon", [], None, List, "Processes", Yes, "PIDFILE COMMAND: a daemon governed by its pidfile: started when the pidfile names no live process, left running across stops and reloads"),
    opt!("smart-attach-daemon2", [], None, List, "Processes", Yes, "PIDFILE COMMAND: as --smart-attach-daemon, for a program that does not daemonize: the master does, and writes the pidfile"),
    opt!("attach-daemon2", [], None, List, "Processes", Yes, "a daemon as key=value pairs: cmd, pidfile, freq, control, daemonize, touch, stopsignal, reloadsignal, stdin, uid, gid, chdir, max_throttle"),
    opt!("daemons-honour-stdin", [], None, Flag, "Processes", Yes, "attached daemons read the instance's stdin instead of /dev/null"),
    opt!("touch-reload", [], None, List, "Processes", Yes, "reload gracefully when this file's mtime changes (repeatable); implies --master"),
    opt!("touch-chain-reload", [], None, List, "Processes", Yes, "chain reload when this file is touched: the workers are replaced one at a time, each new one accepting before the next stops (with --lazy-apps, they load the new code)"),
    opt!("touch-workers-reload", [], None, List, "Processes", Yes, "replace every worker gracefully (without re-executing the master) when this file is touched"),
    opt!("master-fifo", [], None, List, "Processes", Yes, "a FIFO the master reads uWSGI's commands from: r R reload, c chain reload, w W workers, q Q stop, s stats, l L log reopen/rotate, + - workers, P pidfiles, p suspend/resume, C go cheap, 0-9 switch FIFO"),
    opt!("binary-path", [], None, Value, "Processes", Yes, "the oxwsgi binary that reloads and vassals run (default: this one)"),
    opt!("reload", [], None, Value, "Processes", Yes, "send SIGHUP (graceful reload) to the instance whose pidfile this is, and exit"),
    opt!("stop", [], None, Value, "Processes", Yes, "send SIGINT (stop) to the instance whose pidfile this is, and exit"),
    opt!("emperor", [], None, Value, "Emperor", Yes, "run the Emperor: one instance per config in this directory (or DIR/*.ini)"),
    opt!("emperor-tyrant", [], None, Flag, "Emperor", Yes, "run each vassal as the owner of its config file, dropped to before it starts; root-owned files are refused, and so are uid/gid in a vassal's config"),
    opt!("emperor-tyrant-nofollow", [], None, Flag, "Emperor", Yes, "tyrant mode: take a symlinked vassal's owner from the symlink itself, not the file it points to"),
    opt!("emperor-tyrant-initgroups", [], None, Flag, "Emperor", Yes, "tyrant mode: give each vassal its owner's supplementary groups (initgroups), not only the file's group"),
    opt!("emperor-tyrant-min-id", [], None, Value, "Emperor", Yes, "tyrant mode: refuse vassal files whose owner's uid or gid is below this (oxwsgi's own; default 1: never root)"),
    opt!("emperor-pidfile", [], None, Value, "Emperor", Yes, "write the Emperor's PID to this file"),
    opt!("emperor-stats", ["emperor-stats-server"], None, Value, "Emperor", Yes, "serve the Emperor's stats JSON (its vassals) on this address: HOST:PORT or a unix socket path"),
    opt!("emperor-on-demand-directory", ["emperor-on-demand-dir"], None, Value, "Emperor", Yes, "on-demand vassals: bind DIR/NAME.socket for each and start the vassal at its first connection (the socket is its fd 0)"),
    opt!("emperor-on-demand-extension", ["emperor-on-demand-ext"], None, Value, "Emperor", Yes, "on-demand vassals: the file VASSAL+EXT holds the socket to bind and wait on"),
    opt!("vassal-set", ["vassals-set"], None, List, "Emperor", Yes, "give every vassal --set KEY=VALUE (after its own config)"),
    opt!("vassals-include", [], None, List, "Emperor", Yes, "give every vassal --include FILE, after its own config"),
    opt!("vassals-include-before", [], None, List, "Emperor", Yes, "give every vassal --include FILE, before its own config"),
    opt!("vassals-inherit", [], None, List, "Emperor", Yes, "give every vassal --inherit FILE, after its own config"),
    opt!("vassals-inherit-before", [], None, List, "Emperor", Yes, "give every vassal --inherit FILE, before its own config"),
    // Monitoring
    opt!("stats", ["stats-server"], None, Value, "Monitoring", Yes, "serve uWSGI's stats JSON (for uwsgitop) on this address: HOST:PORT or a unix socket path; implies --master"),
    opt!("stats-http", [], None, Flag, "Monitoring", Yes, "serve the stats over HTTP (uwsgitop http://HOST:PORT); GET /metrics there gives Prometheus text"),
    opt!("metrics", [], None, Value, "Monitoring", Yes, "serve Prometheus metrics over HTTP on this address (GET /metrics)"),
    opt!("memory-report", [], Some('m'), Flag, "Monitoring", Yes, "add the worker's memory use to each request log line (and the stats)"),
    // Static files and responses
    opt!("static-map", [], None, List, "Static files", Yes, "serve files under /prefix from a directory: /prefix=/path (repeatable, longest prefix first)"),
    opt!("static-map2", [], None, List, "Static files", Yes, "like static-map, but the whole request path, prefix included, is looked up under /path"),
    opt!("check-static", ["static-check"], None, List, "Static files", Yes, "serve a request path from this directory when the file exists"),
    opt!("static-index", [], None, List, "Static files", Yes, "file to serve for a directory (e.g. index.html)"),
    opt!("static-safe", [], None, List, "Static files", Yes, "a directory static symlinks may lead into"),
    opt!("mimefile", ["mime-file"], None, List, "Static files", Yes, "read the content types of static files from this mime.types file (instead of /etc/mime.types; repeatable)"),
    opt!("static-skip-ext", [], None, List, "Static files", Yes, "never serve files ending with this as static files (e.g. .py): the app answers"),
    opt!("static-expires-type", [], None, List, "Static files", Yes, "Expires: now + SECONDS for files of a content type: TYPE=SECONDS (e.g. text/css=86400)"),
    opt!("static-expires-type-mtime", [], None, List, "Static files", Yes, "Expires: the file's mtime + SECONDS, by content type: TYPE=SECONDS"),
    opt!("static-expires", [], None, List, "Static files", Yes, "Expires: now + SECONDS for files whose path matches: 'REGEXP SECONDS'"),
    opt!("static-expires-mtime", [], None, List, "Static files", Yes, "Expires: the file's mtime + SECONDS, by file path: 'REGEXP SECONDS'"),
    opt!("static-expires-uri", [], None, List, "Static files", Yes, "Expires: now + SECONDS when REQUEST_URI matches: 'REGEXP SECONDS'"),
    opt!("static-expires-uri-mtime", [], None, List, "Static files", Yes, "Expires: the file's mtime + SECONDS, by REQUEST_URI: 'REGEXP SECONDS'"),
    opt!("static-expires-path-info", [], None, List, "Static files", Yes, "Expires: now + SECONDS when PATH_INFO matches: 'REGEXP SECONDS'"),
    opt!("static-expires-path-info-mtime", [], None, List, "Static files", Yes, "Expires: the file's mtime + SECONDS, by PATH_INFO: 'REGEXP SECONDS'"),
    opt!("static-gzip-all", [], None, Flag, "Static files", Yes, "answer with FILE.br or FILE.gz when it exists and the client accepts it"),
    opt!("static-gzip-dir", ["static-gzip-prefix"], None, List, "Static files", Yes, "like static-gzip-all, for files under this directory (a path prefix)"),
    opt!("static-gzip-ext", ["static-gzip-suffix"], None, List, "Static files", Yes, "like static-gzip-all, for file names ending with this (e.g. .css)"),
    opt!("add-header", [], None, List, "Static files", Yes, "add this header to every response: 'Name: value' (repeatable)"),
    // Logging
    opt!("disable-logging", [], Some('L'), Flag, "Logging", Yes, "do not log requests"),
    opt!("logto", [], None, Value, "Logging", Yes, "log to this file instead of stderr"),
    opt!("logto2", [], None, Value, "Logging", Yes, "log to this file, opened after dropping privileges"),
    opt!("log-format", ["logformat"], None, Value, "Logging", Yes, "the request line, with uWSGI's %(...) variables: %(addr) %(method) %(uri) %(status) %(msecs) %(size) %(uagent) %(var.HTTP_X_...) ... and log variables the app sets"),
    opt!("log-format-strftime", ["logformat-strftime"], None, Flag, "Logging", Yes, "%(ftime) in --log-format uses --log-date's strftime format"),
    opt!("log-date", ["logdate"], None, OptionalValue, "Logging", Yes, "date oxwsgi's own log lines (ctime, or the strftime format given)"),
    opt!("log-micros", [], None, Flag, "Logging", Yes, "the request line gives the time in microseconds"),
    opt!("log-x-forwarded-for", [], None, Flag, "Logging", Yes, "log the client address from X-Forwarded-For (as the proxy in front saw it) rather than the proxy's"),
    opt!("log-prefix", [], None, Value, "Logging", Yes, "put this string before every log line"),
    opt!("log-4xx", [], None, Flag, "Logging", Yes, "log requests answered 4xx, even with --disable-logging"),
    opt!("log-5xx", [], None, Flag, "Logging", Yes, "log requests answered 5xx, even with --disable-logging"),
    opt!("log-slow", [], None, Value, "Logging", Yes, "log requests that took at least this many milliseconds, even with --disable-logging"),
    opt!("log-big", [], None, Value, "Logging", Yes, "log responses of at least this many bytes, even with --disable-logging"),
    opt!("log-zero", [], None, Flag, "Logging", Yes, "log responses with an empty body, even with --disable-logging"),
    opt!("log-sendfile", [], None, Flag, "Logging", Yes, "log files sent with sendfile (static files, wsgi.file_wrapper), even with --disable-logging"),
    opt!("log-ioerror", [], None, Flag, "Logging", Yes, "log responses the client did not take in full, even with --disable-logging"),
    opt!("log-master", [], None, Flag, "Logging", Yes, "the master writes every log line: workers hand theirs over through a stream each (implied by --logger, --req-logger, --log-maxsize...)"),
    opt!("log-master-bufsize", [], None, Value, "Logging", Yes, "how much the master reads of a log stream at once (default 8192)"),
    opt!("log-master-stream", [], None, Flag, "Logging", NoOp("what the app prints reaches the log master through a stream socket already, and oxwsgi's own lines through message sockets that keep each line whole (up to 128 KiB; a longer one goes in pieces)"), "use stream sockets for the log master"),
    opt!("log-master-req-stream", [], None, Flag, "Logging", NoOp("request lines reach the log master through message sockets that keep each line whole (up to 128 KiB; a longer one goes in pieces)"), "use stream sockets for request lines"),
    opt!("threaded-logger", [], None, Flag, "Logging", NoOp("the master's poll loop writes the log lines, and a worker never waits for it: a line that does not fit in its socket is dropped and counted"), "write logs from a thread of the master"),
    opt!("logger", [], None, List, "Logging", Yes, "where log lines go: file:PATH, stdio, fd:N, syslog[:IDENT[,FACILITY]], rsyslog:HOST:PORT[,IDENT[,FACILITY]], socket:ADDR; NAME PLUGIN:ARGS for one --log-route sends lines to"),
    opt!("req-logger", ["logger-req"], None, List, "Logging", Yes, "where request lines go (as --logger); without one they go with the rest"),
    opt!("log-route", [], None, List, "Logging", Yes, "NAME REGEXP: lines that match go to the logger NAME only"),
    opt!("log-req-route", [], None, List, "Logging", Yes, "NAME REGEXP: request lines that match go to the request logger NAME only"),
    opt!("log-encoder", [], None, List, "Logging", Yes, "transform log lines: prefix TEXT, suffix TEXT, nl, format TEMPLATE, json TEMPLATE (${msg} ${unix} ${micros} ${strftime:FMT}); ENCODER:NAME for one logger"),
    opt!("log-req-encoder", [], None, List, "Logging", Yes, "transform request lines, as --log-encoder"),
    opt!("log-drain", [], None, List, "Logging", Yes, "drop log lines that match this regular expression"),
    opt!("log-filter", [], None, List, "Logging", Yes, "keep only the log lines that match one of these regular expressions"),
    opt!("log-maxsize", [], None, Value, "Logging", Yes, "rotate the --logto/--daemonize file past this many bytes (no line is lost or cut)"),
    opt!("log-backupname", [], None, Value, "Logging", Yes, "the name the rotated file gets (default FILE.<unix time>)"),
    opt!("touch-logrotate", [], None, List, "Logging", Yes, "rotate the log file when this file is touched"),
    opt!("touch-logreopen", [], None, List, "Logging", Yes, "reopen the log file when this file is touched (after logrotate moved it)"),
    opt!("log-reopen", [], None, Flag, "Logging", Yes, "reopen the log file (--logto, --logto2, --daemonize) at every reload: after logrotate moved it, the reloaded instance writes the new one"),
    opt!("logfile-chmod", [], None, Value, "Logging", Yes, "the mode of the --logto/--daemonize file (octal)"),
    opt!("logfile-chown", [], None, Flag, "Logging", Yes, "give the --logto/--daemonize file to --uid/--gid"),
    opt!("log-truncate", [], None, Flag, "Logging", Yes, "empty the log file when it is opened"),
    opt!("log-socket", [], None, Value, "Logging", Yes, "send log lines to this UDP address or unix datagram socket (--logger socket:ADDR)"),
    opt!("log-syslog", [], None, OptionalValue, "Logging", Yes, "send log lines to syslog (--logger syslog[:IDENT])"),
];

/// uWSGI's one-letter options that name options oxwsgi lacks: refused by
/// their long name (families.rs), not taken for typos.
pub static SHORT_REFUSED: &[(char, &str)] = &[
    ('x', "xml"),
    ('Q', "spooler"),
    ('A', "sharedarea"),
    ('c', "cgi-mode"),
    ('r', "reaper"),
    ('v', "max-vars"),
    ('a', "abstract-socket"),
    ('O', "optimize"),
    ('J', "test"),
];

/// Finds an option by its long name or any alias.
pub fn lookup(name: &str) -> Option<&'static OptSpec> {
    OPTIONS.iter().find(|o| o.name == name || o.aliases.contains(&name))
}

pub fn lookup_short(c: char) -> Option<&'static OptSpec> {
    OPTIONS.iter().find(|o| o.short == Some(c))
}

/// The closest known option name, for "did you mean --processes?".
pub fn suggest(name: &str) -> Option<&'static str> {
    let mut best: Option<(usize, &'static str)> = None;
    for o in OPTIONS {
        for cand in std::iter::once(&o.name).chain(o.aliases.iter()) {
            let d = edit_distance(name, cand);
            // A prefix match ("--proc") is as good as a small typo.
            let d = if cand.starts_with(name) && name.len() >= 3 { d.min(1) } else { d };
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, o.name));
            }
        }
    }
    let limit = (name.len() / 3).max(2);
    best.filter(|(d, _)| *d <= limit).map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = if a[i - 1] == b[j - 1] { 0 } else { 1 };
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The text of `--help`, grouped as the table is.
pub fn help_text() -> String {
    let mut out = String::from("Usage: oxwsgi [options...] [config.ini]\n");
    let mut group = "";
    for o in OPTIONS {
        if o.group != group {
            group = o.group;
            out.push_str(&format!("\n{}:\n", group));
        }
        let mut names = String::new();
        if let Some(c) = o.short {
            names.push_str(&format!("-{}|", c));
        }
        names.push_str(&format!("--{}", o.name));
        for a in o.aliases {
            names.push_str(&format!("|--{}", a));
        }
        let help = match o.support {
            Support::NoOp(why) => format!("{} [no-op: {}]", o.help, why),
            Support::Yes => o.help.to_string(),
        };
        out.push_str(&format!("    {:<44} {}\n", names, help));
    }
    out.push_str(
        "\nIn a config file, a key that names no option is a placeholder for %(key), as in uWSGI (a warning says so\n\
         unless something refers to it; --strict makes it an error). uWSGI options oxwsgi does not provide are\n\
         refused by name:\n",
    );
    for (names, why) in super::families::summary() {
        out.push_str(&format!("    {}\n        {}\n", names, why));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for o in OPTIONS {
            for n in std::iter::once(&o.name).chain(o.aliases.iter()) {
                assert!(seen.insert(*n), "duplicate option name {n}");
            }
        }
        let mut shorts = std::collections::HashSet::new();
        for o in OPTIONS.iter().filter_map(|o| o.short) {
            assert!(shorts.insert(o), "duplicate short option {o}");
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("proceses"), Some("processes"));
        assert_eq!(suggest("sockt"), Some("socket"));
        assert_eq!(suggest("wsgifile"), Some("wsgi-file"));
        assert_eq!(suggest("zzzzzzzzzzzz"), None);
    }

    #[test]
    fn aliases_resolve() {
        assert_eq!(lookup("workers").unwrap().name, "processes");
        assert_eq!(lookup("virtualenv").unwrap().name, "home");
        assert_eq!(lookup_short('s').unwrap().name, "socket");
        assert_eq!(lookup_short('M').unwrap().name, "master");
        assert!(help_text().contains("--processes"));
    }
}
