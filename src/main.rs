use oxwsgi::options::{Action, parse_args, table};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args) {
        Ok(Action::Help) => print!("{}", table::help_text()),
        Ok(Action::Version) => println!("oxwsgi {}", env!("CARGO_PKG_VERSION")),
        Ok(Action::Signal { pidfile, signal }) => {
            let pid = oxwsgi::master::daemon::read_pidfile(&pidfile);
            let Some(pid) = pid else {
                oxwsgi::logln!("oxwsgi: cannot read a PID from {}", pidfile.display());
                std::process::exit(1);
            };
            if unsafe { libc::kill(pid, signal) } != 0 {
                oxwsgi::logln!("oxwsgi: cannot signal PID {} (from {}): {}", pid, pidfile.display(), std::io::Error::last_os_error());
                std::process::exit(1);
            }
        }
        Ok(Action::Run(cfg)) if cfg.show_config => {
            print!("{}", cfg.as_ini());
            std::process::exit(oxwsgi::master::run(*cfg))
        }
        Ok(Action::Run(cfg)) => std::process::exit(oxwsgi::master::run(*cfg)),
        Err(e) => {
            oxwsgi::logln!("oxwsgi: {}", e);
            std::process::exit(1);
        }
    }
}
