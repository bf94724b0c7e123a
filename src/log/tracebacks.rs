//! A Python traceback the app prints (`logging.exception`,
//! `traceback.print_exc()`) reaches the log master as lines of its output
//! stream; joined here into one record, it is one message to syslog and
//! one object to a JSON encoder, as log shippers' "python" multiline rules
//! join it. A traceback is its header line, the indented lines after it,
//! and the first line that is not indented (the exception); a chained
//! exception (a blank line, "During handling of the above exception..."
//! or "The above exception was the direct cause...", a blank line, the
//! next traceback) belongs to the same record. Everything else passes
//! through line by line.

use std::time::{Duration, Instant};

const HEADER: &[u8] = b"Traceback (most recent call last):\n";
const CHAINS: [&[u8]; 2] =
    [b"During handling of the above exception, another exception occurred:\n", b"The above exception was the direct cause of the following exception:\n"];

/// How long a traceback is held for its next line before it goes out as
/// it is (Python writes one in a burst; a silent app must not hold it).
pub const PATIENCE: Duration = Duration::from_millis(50);

/// The most a held traceback grows to before it is written anyway.
const MAX: usize = 128 * 1024;

#[derive(Clone, Copy, PartialEq, Debug)]
enum State {
    Free,
    /// After the header: indented lines until the exception line.
    Frames,
    /// After the exception line: maybe a chained exception follows.
    Ended,
    /// Ended, then a blank line.
    Blank,
    /// Then a chaining sentence.
    Chained,
    /// Then the blank line before the next header.
    ChainedBlank,
}

#[derive(Debug)]
pub struct Joiner {
    held: Vec<u8>,
    /// Where the held record ends if the lines after it turn out not to
    /// continue it (a blank line after an exception may be the app's).
    whole: usize,
    state: State,
    last: Instant,
}

impl Default for Joiner {
    fn default() -> Self {
        Joiner { held: Vec::new(), whole: 0, state: State::Free, last: Instant::now() }
    }
}

impl Joiner {
    /// One whole line (with its newline); `out` gets each record ready.
    pub fn line(&mut self, line: &[u8], now: Instant, out: &mut dyn FnMut(&[u8])) {
        self.last = now;
        let indented = matches!(line.first(), Some(b' ' | b'\t'));
        let next = match self.state {
            State::Free if line == HEADER => Some(State::Frames),
            State::Free => None,
            State::Frames if indented => Some(State::Frames),
            State::Frames => Some(State::Ended),
            State::Ended if line == b"\n" => Some(State::Blank),
            State::Blank if CHAINS.contains(&line) => Some(State::Chained),
            State::Chained if line == b"\n" => Some(State::ChainedBlank),
            State::ChainedBlank if line == HEADER => Some(State::Frames),
            _ => None,
        };
        match next {
            Some(s) => {
                self.held.extend_from_slice(line);
                if matches!(s, State::Frames | State::Ended) {
                    self.whole = self.held.len();
                }
                self.state = s;
                if self.held.len() > MAX {
                    self.flush(out);
                }
            }
            None if self.state == State::Free => out(line),
            None => {
                self.flush(out);
                self.line(line, now, out);
            }
        }
    }

    /// Whether a record is held, and since when its last line came.
    pub fn holding(&self) -> Option<Instant> {
        (self.state != State::Free).then_some(self.last)
    }

    /// Writes what is held: the record, then the lines held after it that
    /// did not continue it.
    pub fn flush(&mut self, out: &mut dyn FnMut(&[u8])) {
        if self.state == State::Free {
            return;
        }
        let held = std::mem::take(&mut self.held);
        if self.whole > 0 {
            out(&held[..self.whole]);
        }
        for l in held[self.whole..].split_inclusive(|&b| b == b'\n') {
            out(l);
        }
        self.whole = 0;
        self.state = State::Free;
        self.held = held;
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, flush: bool) -> Vec<String> {
        let mut j = Joiner::default();
        let mut got = Vec::new();
        for l in text.split_inclusive('\n') {
            j.line(l.as_bytes(), Instant::now(), &mut |r| got.push(String::from_utf8(r.to_vec()).unwrap()));
        }
        if flush {
            j.flush(&mut |r| got.push(String::from_utf8(r.to_vec()).unwrap()));
        }
        got
    }

    const TB: &str = "Traceback (most recent call last):\n  File \"a.py\", line 3, in f\n    g()\n    ^^^\nValueError: bad\n";

    #[test]
    fn a_traceback_is_one_record_and_other_lines_pass() {
        let text = format!("before\n{}after\n", TB);
        assert_eq!(run(&text, false), vec!["before\n".to_string(), TB.to_string(), "after\n".to_string()]);
    }

    #[test]
    fn chained_exceptions_stay_in_the_record() {
        let chained = format!("{}\nDuring handling of the above exception, another exception occurred:\n\n{}", TB, TB.replace("ValueError", "KeyError"));
        let cause = format!("{}\nThe above exception was the direct cause of the following exception:\n\n{}", TB, TB);
        for t in [chained, cause] {
            assert_eq!(run(&format!("{}next\n", t), false), vec![t.clone(), "next\n".to_string()]);
        }
    }

    #[test]
    fn lines_that_only_look_like_a_chain_are_given_back() {
        // A blank line after the exception, then something else.
        assert_eq!(run(&format!("{}\nhello\n", TB), false), vec![TB.to_string(), "\n".to_string(), "hello\n".to_string()]);
        // A held record goes out whole when flushed (patience ran out).
        assert_eq!(run(&format!("{}\n", TB), true), vec![TB.to_string(), "\n".to_string()]);
        let partial = "Traceback (most recent call last):\n  File \"a.py\", line 3, in f\n";
        assert_eq!(run(partial, true), vec![partial.to_string()]);
        assert_eq!(run(partial, false), Vec::<String>::new());
    }

    #[test]
    fn a_header_inside_text_is_not_a_traceback_and_size_is_bounded() {
        assert_eq!(run("say Traceback (most recent call last):\n  x\n", false), vec!["say Traceback (most recent call last):\n", "  x\n"]);
        let mut j = Joiner::default();
        let mut records = 0;
        j.line(HEADER, Instant::now(), &mut |_| records += 1);
        let frame = format!("  {}\n", "x".repeat(1000));
        for _ in 0..200 {
            j.line(frame.as_bytes(), Instant::now(), &mut |_| records += 1);
        }
        assert!(records >= 1 && j.held.len() <= MAX);
    }
}
