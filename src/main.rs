use oxwsgi::options::{Action, parse_args, table};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args) {
        Ok(Action::Help) => print!("{}", table::help_text()),
        Ok(Action::Version) => println!("oxwsgi {}", env!("CARGO_PKG_VERSION")),
        Ok(Action::Run(cfg)) => std::process::exit(oxwsgi::master::run(*cfg)),
        Err(e) => {
            eprintln!("oxwsgi: {}", e);
            std::process::exit(1);
        }
    }
}
