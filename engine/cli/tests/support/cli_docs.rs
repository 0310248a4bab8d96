//! The CLI reference check, shared by the docs test (the `ferry` binary) and the toy
//! connector's test (a `ferry` with one more connector, whose flags it must notice).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    let p = repo().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// One command of the `ferry` binary as its `--help` describes it.
#[derive(Debug)]
pub struct CliCommand {
    /// `["datasource", "add"]`; empty for `ferry` itself.
    pub path: Vec<String>,
    /// Long flags (`--jdbc-url`), without `--help` / `--version`.
    pub flags: Vec<String>,
    /// Subcommand names (without `help`).
    pub subcommands: Vec<String>,
}

fn help_text(bin: &Path, path: &[String]) -> String {
    let out = Command::new(bin)
        .args(path)
        .arg("--help")
        .output()
        .expect("run ferry --help");
    assert!(
        out.status.success(),
        "ferry {} --help failed: {}",
        path.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Lines of the `NAME:` section of a help text (until the next unindented line).
fn help_section<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| l.trim_end() != name)
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .collect()
}

fn parse_help(path: Vec<String>, text: &str) -> CliCommand {
    let subcommands = help_section(text, "Commands:")
        .iter()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| *w != "help")
        .map(str::to_string)
        .collect();
    let mut flags = Vec::new();
    for line in help_section(text, "Options:") {
        let t = line.trim_start();
        if !t.starts_with('-') {
            continue; // a description line
        }
        for word in t.split([' ', ',']) {
            if let Some(name) = word.strip_prefix("--") {
                let name = name.split('=').next().unwrap_or(name);
                if !name.is_empty() && name != "help" && name != "version" {
                    flags.push(format!("--{name}"));
                }
            }
        }
    }
    CliCommand {
        path,
        flags,
        subcommands,
    }
}

/// `ferry --help` and every subcommand's `--help`, recursively.
pub fn cli_tree(bin: &Path) -> Vec<CliCommand> {
    let mut out = Vec::new();
    let mut todo = vec![Vec::<String>::new()];
    while let Some(path) = todo.pop() {
        let cmd = parse_help(path.clone(), &help_text(bin, &path));
        for s in &cmd.subcommands {
            let mut p = path.clone();
            p.push(s.clone());
            todo.push(p);
        }
        out.push(cmd);
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The text under each markdown heading, keyed by the heading line.
pub fn md_sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence && line.starts_with('#') {
            out.push((line.to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// Long flags in a text: `--name` not preceded by a word character.
pub fn long_flags(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("--") {
        if text[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
        {
            continue;
        }
        let name: String = text[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.len() > 1 && name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
            out.insert(format!("--{name}"));
        }
    }
    out
}

/// Commands documented on another page rather than in docs/cli.md.
const DOCUMENTED_ELSEWHERE: &[(&str, &str)] = &[
    ("job new", "docs/wizard.md"),
    ("job template", "docs/wizard.md"),
];

/// What `docs/cli.md` fails to document of the binary `bin`: commands and long flags its
/// `--help` texts show that the reference does not name in the command's section.
pub fn gaps(bin: &Path) -> Vec<String> {
    let tree = cli_tree(bin);
    assert!(tree.len() >= 15, "only {} commands found", tree.len());
    let cli = read("docs/cli.md");
    let sections = md_sections(&cli);
    let mut missing = Vec::new();
    // `ferry --help`'s flags are global (every subcommand's help repeats them): they are
    // documented once, under "Global options".
    let global: BTreeSet<String> = tree
        .iter()
        .filter(|c| c.path.is_empty())
        .flat_map(|c| c.flags.iter().cloned())
        .collect();
    let global_section = sections
        .iter()
        .find(|(h, _)| h.contains("Global options"))
        .map(|(_, body)| long_flags(body))
        .unwrap_or_default();
    for f in &global {
        if !global_section.contains(f) {
            missing.push(format!(
                "global flag `ferry {f}` is not documented under docs/cli.md \"Global options\""
            ));
        }
    }
    for cmd in &tree {
        if cmd.path.is_empty() {
            continue;
        }
        let name = cmd.path.join(" ");
        let full = format!("`ferry {name}`");
        if !cli.contains(&format!("ferry {name}")) {
            missing.push(format!("docs/cli.md never names `ferry {name}`"));
            continue;
        }
        if !cmd.subcommands.is_empty() {
            continue; // a group: its leaves have sections
        }
        let elsewhere = DOCUMENTED_ELSEWHERE.iter().find(|(c, _)| *c == name);
        let (mut where_, mut text) = match sections.iter().find(|(h, _)| h.contains(&full)) {
            Some((h, body)) => (format!("docs/cli.md section {h:?}"), body.clone()),
            None if elsewhere.is_some() => (String::new(), String::new()),
            None => {
                missing.push(format!("docs/cli.md has no section headed {full}"));
                continue;
            }
        };
        // A command with its own page may document its flags there instead.
        if let Some((_, page)) = elsewhere {
            if repo().join(page).exists() {
                where_ = format!("{where_} or {page}");
                text.push_str(&read(page));
            }
        }
        let documented = long_flags(&text);
        for f in cmd.flags.iter().filter(|f| !global.contains(*f)) {
            if !documented.contains(f) {
                missing.push(format!("`ferry {name} {f}` is not documented in {where_}"));
            }
        }
    }
    missing
}
