//! Line prompts for the wizard: every question has a flag; a flag's value wins, `--yes`
//! takes the default, and without a terminal a missing answer is a config error naming
//! the flag (the wizard never waits on a pipe).

use std::io::{BufRead, IsTerminal, Write};

use ferry_core::{Error, Result};

/// Asks questions on the terminal, or answers them from flags and defaults.
#[derive(Debug)]
pub struct Prompter {
    interactive: bool,
    yes: bool,
}

impl Prompter {
    /// `yes`: accept defaults for anything not given. Interactive only when stdin is a
    /// terminal and `yes` is not set.
    pub fn new(yes: bool) -> Prompter {
        Prompter {
            interactive: !yes && std::io::stdin().is_terminal(),
            yes,
        }
    }

    /// Whether questions are asked on the terminal.
    pub fn interactive(&self) -> bool {
        self.interactive
    }

    /// Print a line for the user (stdout when interactive, stderr otherwise so that the
    /// job JSON is the only thing on stdout).
    pub fn say(&self, text: &str) {
        if self.interactive {
            println!("{text}");
        } else {
            eprintln!("{text}");
        }
    }

    /// A section title, on a terminal only.
    pub fn heading(&self, title: &str) {
        if self.interactive {
            println!("\n== {title} ==");
        }
    }

    fn missing(&self, flag: &str, question: &str) -> Error {
        if self.yes {
            Error::config(format!(
                "{flag} is required ({question}): --yes has no default for it"
            ))
        } else {
            Error::config(format!(
                "{flag} is required ({question}): stdin is not a terminal, so give {flag} (and --yes to accept the defaults)"
            ))
        }
    }

    fn read_line(&self, prompt: &str) -> Result<String> {
        print!("{prompt}");
        std::io::stdout()
            .flush()
            .map_err(|e| Error::io("writing the prompt", e))?;
        let mut line = String::new();
        let n = tokio::task::block_in_place(|| std::io::stdin().lock().read_line(&mut line))
            .map_err(|e| Error::io("reading the answer", e))?;
        if n == 0 {
            return Err(Error::config(format!(
                "end of input at \"{}\"",
                prompt.trim()
            )));
        }
        Ok(line.trim_end_matches(['\n', '\r']).trim().to_string())
    }

    /// A free-text answer. `given` (the flag's value) wins; then the terminal (blank takes
    /// `default`); without one, `default` or an error naming `flag`.
    pub fn text(
        &self,
        flag: &str,
        question: &str,
        given: Option<&str>,
        default: Option<&str>,
    ) -> Result<String> {
        if let Some(g) = given {
            return Ok(g.to_string());
        }
        if !self.interactive {
            return default
                .map(str::to_string)
                .ok_or_else(|| self.missing(flag, question));
        }
        loop {
            let prompt = match default {
                Some(d) if !d.is_empty() => format!("{question} [{d}]: "),
                _ => format!("{question}: "),
            };
            let answer = self.read_line(&prompt)?;
            if !answer.is_empty() {
                return Ok(answer);
            }
            if let Some(d) = default {
                return Ok(d.to_string());
            }
            println!("  an answer is required");
        }
    }

    /// An optional answer: blank (or `-`) means none.
    pub fn optional(
        &self,
        flag: &str,
        question: &str,
        given: Option<&str>,
        default: Option<&str>,
    ) -> Result<Option<String>> {
        let q = match default {
            Some(d) if !d.is_empty() => format!("{question} (- for none)"),
            _ => format!("{question} (blank for none)"),
        };
        let answer = self.text(flag, &q, given, Some(default.unwrap_or("")))?;
        let a = answer.trim();
        Ok((!a.is_empty() && a != "-").then(|| a.to_string()))
    }

    /// Pick one of `options` (shown numbered with their `labels`) by number or by name
    /// (case-insensitive). With `free` any other typed text is accepted as is.
    pub fn choose(
        &self,
        flag: &str,
        question: &str,
        options: &[(String, String)],
        given: Option<&str>,
        default: Option<&str>,
        free: bool,
    ) -> Result<String> {
        let pick = |answer: &str| -> Option<String> {
            if let Ok(n) = answer.parse::<usize>() {
                if n >= 1 && n <= options.len() {
                    return Some(options[n - 1].0.clone());
                }
            }
            if let Some((name, _)) = options.iter().find(|(o, _)| o == answer) {
                return Some(name.clone());
            }
            if let Some((name, _)) = options.iter().find(|(o, _)| o.eq_ignore_ascii_case(answer)) {
                return Some(name.clone());
            }
            free.then(|| answer.to_string())
        };
        let names = || {
            options
                .iter()
                .map(|(o, _)| o.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(g) = given {
            return pick(g.trim())
                .ok_or_else(|| Error::config(format!("{flag} {g}: not one of {}", names())));
        }
        if !self.interactive {
            return default
                .map(str::to_string)
                .ok_or_else(|| self.missing(flag, question));
        }
        if options.is_empty() {
            return self.text(flag, question, None, default);
        }
        println!("{question}:");
        const SHOWN: usize = 200;
        if options.len() > SHOWN {
            println!(
                "  ({} choices; the first {SHOWN} are shown, type any name)",
                options.len()
            );
        }
        for (i, (name, label)) in options.iter().enumerate().take(SHOWN) {
            if label.is_empty() {
                println!("  {:>3}) {name}", i + 1);
            } else {
                println!("  {:>3}) {name}  {label}", i + 1);
            }
        }
        loop {
            let hint = if free { "number or name" } else { "number" };
            let prompt = match default {
                Some(d) => format!("{hint} [{d}]: "),
                None => format!("{hint}: "),
            };
            let answer = self.read_line(&prompt)?;
            if answer.is_empty() {
                if let Some(d) = default {
                    return Ok(d.to_string());
                }
                println!("  an answer is required");
                continue;
            }
            match pick(&answer) {
                Some(v) => return Ok(v),
                None => println!(
                    "  \"{answer}\" is not one of the choices; type 1..{} or a name",
                    options.len()
                ),
            }
        }
    }

    /// Yes or no.
    pub fn confirm(
        &self,
        flag: &str,
        question: &str,
        given: Option<bool>,
        default: bool,
    ) -> Result<bool> {
        if let Some(g) = given {
            return Ok(g);
        }
        if !self.interactive {
            return Ok(default);
        }
        loop {
            let answer = self.read_line(&format!(
                "{question} [{}]: ",
                if default { "Y/n" } else { "y/N" }
            ))?;
            match answer.to_ascii_lowercase().as_str() {
                "" => return Ok(default),
                "y" | "yes" | "true" => return Ok(true),
                "n" | "no" | "false" => return Ok(false),
                _ => println!("  answer y or n ({flag})"),
            }
        }
    }

    /// A number; blank takes `default`. With `none` (e.g. "no cap") `-` answers "none";
    /// without it an answer is required when there is no default.
    pub fn number<T: std::str::FromStr + ToString>(
        &self,
        flag: &str,
        question: &str,
        given: Option<T>,
        default: Option<T>,
        none: Option<&str>,
    ) -> Result<Option<T>> {
        if let Some(g) = given {
            return Ok(Some(g));
        }
        if !self.interactive {
            return Ok(default);
        }
        let d = default.as_ref().map(|d| d.to_string());
        let prompt = match (&d, none) {
            (Some(d), Some(n)) => format!("{question} [{d}] (- for {n}): "),
            (Some(d), None) => format!("{question} [{d}]: "),
            (None, Some(n)) => format!("{question} (blank for {n}): "),
            (None, None) => format!("{question}: "),
        };
        loop {
            let answer = self.read_line(&prompt)?;
            if answer.is_empty() && (default.is_some() || none.is_some()) {
                return Ok(default);
            }
            if answer == "-" && none.is_some() {
                return Ok(None);
            }
            match answer.parse::<T>() {
                Ok(v) => return Ok(Some(v)),
                Err(_) => println!("  \"{answer}\" is not a number ({flag})"),
            }
        }
    }
}
