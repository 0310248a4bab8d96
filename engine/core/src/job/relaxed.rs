//! Relaxed JSON: `//` and `/* */` comments and trailing commas, as found in DataWorks
//! samples, turned into plain JSON of exactly the same byte length.
//!
//! Comment bytes and trailing commas become spaces and newlines stay where they are, so
//! every line and column serde_json reports still points into the original file. Text
//! inside JSON strings (with `\"` escapes) is never touched: `"jdbc:postgresql://h"`
//! keeps its `//`.
//!
//! Characters that sneak in when a sample is copied from a web page or a chat window are
//! handled outside strings too (inside strings they are data and are left alone):
//!
//! * blanks a human reads as whitespace (no-break space U+00A0, ideographic space U+3000,
//!   a byte-order mark U+FEFF after the start of the file, the typographic and zero-width
//!   spaces U+2000..U+200B, U+202F) become ASCII spaces, byte for byte, and are reported
//!   as [`OddBlank`]s so the caller can warn;
//! * full-width or curly JSON punctuation (`，` U+FF0C, `：` U+FF1A, `“` U+201C, ...) is
//!   an error naming the character and the ASCII one to use.

/// Where relaxed JSON could not be made plain (an unterminated `/* */`, full-width
/// punctuation outside a string).
#[derive(Debug, PartialEq)]
pub(crate) struct RelaxedError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// One kind of whitespace look-alike found outside strings and treated as a space.
#[derive(Debug, PartialEq)]
pub(crate) struct OddBlank {
    /// What it is: `no-break space U+00A0`.
    pub what: &'static str,
    /// 1-based line and character column of the first one.
    pub line: usize,
    /// See `line`.
    pub column: usize,
    /// How many of this kind there are.
    pub count: usize,
}

/// The result of [`to_plain_json`].
#[derive(Debug)]
pub(crate) struct Plain {
    /// Plain JSON, as long in bytes as the input, with the same line breaks.
    pub text: String,
    /// Whitespace look-alikes that were turned into spaces, by kind, in order of first
    /// appearance.
    pub blanks: Vec<OddBlank>,
}

/// A character outside strings that a human reads as a blank: its description.
fn odd_blank(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{00A0}' => "no-break space U+00A0",
        '\u{3000}' => "ideographic space U+3000",
        '\u{FEFF}' => "byte-order mark U+FEFF",
        '\u{200B}' => "zero-width space U+200B",
        '\u{202F}' => "narrow no-break space U+202F",
        '\u{2000}'..='\u{200A}' => "typographic space (U+2000..U+200A)",
        _ => return None,
    })
}

/// Full-width or curly punctuation outside strings: its description and the ASCII
/// character JSON wants.
fn lookalike_punctuation(c: char) -> Option<(&'static str, &'static str)> {
    Some(match c {
        '\u{FF0C}' => ("full-width comma U+FF0C", ","),
        '\u{3001}' => ("ideographic comma U+3001", ","),
        '\u{FF1A}' => ("full-width colon U+FF1A", ":"),
        '\u{201C}' => ("left curly quote U+201C", "\""),
        '\u{201D}' => ("right curly quote U+201D", "\""),
        '\u{FF02}' => ("full-width quote U+FF02", "\""),
        '\u{FF5B}' => ("full-width brace U+FF5B", "{"),
        '\u{FF5D}' => ("full-width brace U+FF5D", "}"),
        '\u{FF3B}' => ("full-width bracket U+FF3B", "["),
        '\u{FF3D}' => ("full-width bracket U+FF3D", "]"),
        _ => return None,
    })
}

/// Blank out comments and trailing commas in `text`, keeping its length and lines; turn
/// whitespace look-alikes outside strings into spaces; refuse full-width punctuation.
pub(crate) fn to_plain_json(text: &str) -> Result<Plain, RelaxedError> {
    let mut b = text.as_bytes().to_vec();
    let n = b.len();
    let mut i = 0;
    let mut in_str = false;
    let mut blanks: Vec<OddBlank> = Vec::new();
    while i < n {
        let c = b[i];
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match (c, b.get(i + 1).copied()) {
            (b'"', _) => in_str = true,
            (b'/', Some(b'/')) => {
                while i < n && b[i] != b'\n' {
                    blank(&mut b, i);
                    i += 1;
                }
                continue;
            }
            (b'/', Some(b'*')) => {
                let start = i;
                let Some(len) = text[i + 2..].find("*/") else {
                    let (line, column) = line_col(text, start);
                    return Err(RelaxedError {
                        line,
                        column,
                        message: "unterminated /* comment".into(),
                    });
                };
                let end = i + 2 + len + 2;
                for j in i..end {
                    blank(&mut b, j);
                }
                i = end;
                continue;
            }
            (c, _) if c >= 0x80 => {
                // `i` is at a character boundary: strings and comments are skipped whole
                // and everything else advances one ASCII byte at a time.
                let Some(ch) = text.get(i..).and_then(|t| t.chars().next()) else {
                    i += 1;
                    continue;
                };
                let len = ch.len_utf8();
                if let Some(what) = odd_blank(ch) {
                    match blanks.iter_mut().find(|k| k.what == what) {
                        Some(k) => k.count += 1,
                        None => {
                            let (line, column) = line_col(text, i);
                            blanks.push(OddBlank {
                                what,
                                line,
                                column,
                                count: 1,
                            });
                        }
                    }
                    b[i..i + len].fill(b' ');
                } else if let Some((what, ascii)) = lookalike_punctuation(ch) {
                    let (line, column) = line_col(text, i);
                    let more = count_outside_strings(text, i + len, ch);
                    let tail = match more {
                        0 => String::new(),
                        1 => " (and 1 more after it)".to_string(),
                        m => format!(" (and {m} more after it)"),
                    };
                    return Err(RelaxedError {
                        line,
                        column,
                        message: format!("{what} outside a string; use {ascii}{tail}"),
                    });
                }
                i += len;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    blank_trailing_commas(&mut b);
    // Only ASCII bytes were replaced by ASCII spaces, or whole UTF-8 sequences (inside
    // comments, or a whitespace look-alike) were replaced byte by byte, so the result is
    // valid UTF-8; fall back to a lossy conversion rather than panic if that reasoning is
    // ever wrong.
    let text =
        String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Ok(Plain { text, blanks })
}

/// How many times `ch` occurs outside strings and comments in `text[from..]` (for the
/// "and N more" of a punctuation error; a rough scan that is right for sane files).
fn count_outside_strings(text: &str, from: usize, ch: char) -> usize {
    let mut in_str = false;
    let mut escaped = false;
    let mut count = 0;
    let mut chars = text.get(from..).unwrap_or("").chars().peekable();
    while let Some(c) = chars.next() {
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            c if c == ch => count += 1,
            _ => {}
        }
    }
    count
}

/// Replace the byte at `i` by a space unless it is a line break.
fn blank(b: &mut [u8], i: usize) {
    if b[i] != b'\n' && b[i] != b'\r' {
        b[i] = b' ';
    }
}

/// Blank every `,` that is followed (after whitespace) by `}` or `]`, outside strings.
/// Runs after comments are blanked, so comments between the comma and the bracket count
/// as whitespace.
fn blank_trailing_commas(b: &mut [u8]) {
    let mut in_str = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
        } else if c == b'"' {
            in_str = true;
        } else if c == b',' {
            let next = b[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
            if matches!(next, Some(b'}') | Some(b']')) {
                b[i] = b' ';
            }
        }
        i += 1;
    }
}

/// 1-based line and character column of byte offset `at` in `text`.
pub(crate) fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let mut at = at;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> String {
        let out = to_plain_json(s).unwrap().text;
        assert_eq!(out.len(), s.len());
        assert_eq!(out.matches('\n').count(), s.matches('\n').count());
        out
    }

    #[test]
    fn comments_become_spaces_strings_survive() {
        crate::connector::install_for_tests();
        let src =
            "{\"u\": \"jdbc:postgresql://h/db\", // the url\n/* a\n b */ \"k\": \"/* no */\"}";
        let out = plain(src);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["u"], "jdbc:postgresql://h/db");
        assert_eq!(v["k"], "/* no */");
    }

    #[test]
    fn escaped_quotes_do_not_end_strings() {
        crate::connector::install_for_tests();
        let src = r#"{"a": "say \"//hi\" \\", "b": 1 // c
}"#;
        let v: serde_json::Value = serde_json::from_str(&plain(src)).unwrap();
        assert_eq!(v["a"], r#"say "//hi" \"#);
        assert_eq!(v["b"], 1);
    }

    #[test]
    fn trailing_commas_and_unicode_comments() {
        crate::connector::install_for_tests();
        let src = "{\"a\": [1, 2, /* 注释 */], \"b\": {\"c\": \",]\",}, // 尾注释\n}";
        let v: serde_json::Value = serde_json::from_str(&plain(src)).unwrap();
        assert_eq!(v["a"], serde_json::json!([1, 2]));
        assert_eq!(v["b"]["c"], ",]");
    }

    #[test]
    fn unterminated_block_comment_is_located() {
        crate::connector::install_for_tests();
        let e = to_plain_json("{\n  \"a\": 1 /* oops\n}").unwrap_err();
        assert_eq!((e.line, e.column), (2, 10));
        assert!(e.message.contains("unterminated"));
    }

    #[test]
    fn line_col_counts_characters() {
        crate::connector::install_for_tests();
        assert_eq!(line_col("ab\n注c", 6), (2, 2));
        assert_eq!(line_col("abc", 0), (1, 1));
    }

    #[test]
    fn blank_lookalikes_outside_strings_become_spaces() {
        crate::connector::install_for_tests();
        // indentation with no-break spaces, an ideographic space before a value, a BOM
        // glued in the middle and a zero-width space after a comma
        let src = "{\n\u{a0}\u{a0}\"a\": \u{3000}1,\u{200b}\n\u{feff}\"b\": \"x\u{a0}\u{3000}y\"}";
        let p = to_plain_json(src).unwrap();
        assert_eq!(p.text.len(), src.len());
        let v: serde_json::Value = serde_json::from_str(&p.text).unwrap();
        assert_eq!(v["a"], 1);
        // inside a string the same characters are data
        assert_eq!(v["b"], "x\u{a0}\u{3000}y");
        let got: Vec<(&str, usize, usize, usize)> = p
            .blanks
            .iter()
            .map(|b| (b.what, b.line, b.column, b.count))
            .collect();
        assert_eq!(
            got,
            vec![
                ("no-break space U+00A0", 2, 1, 2),
                ("ideographic space U+3000", 2, 8, 1),
                ("zero-width space U+200B", 2, 11, 1),
                ("byte-order mark U+FEFF", 3, 1, 1),
            ]
        );
    }

    #[test]
    fn lookalikes_in_comments_are_comment_text() {
        crate::connector::install_for_tests();
        let p = to_plain_json("{\"a\": 1 // 注释，说明\u{a0}\n}").unwrap();
        assert!(p.blanks.is_empty());
        let v: serde_json::Value = serde_json::from_str(&p.text).unwrap();
        assert_eq!(v["a"], 1);
    }

    #[test]
    fn full_width_punctuation_outside_strings_is_located_and_named() {
        crate::connector::install_for_tests();
        let e = to_plain_json("{\"a\": 1， \"b\": 2，\n \"c\": \"x，y\"}").unwrap_err();
        assert_eq!((e.line, e.column), (1, 8));
        assert_eq!(
            e.message,
            "full-width comma U+FF0C outside a string; use , (and 1 more after it)"
        );
        for (src, col, msg) in [
            (
                "{\"a\"： 1}",
                5,
                "full-width colon U+FF1A outside a string; use :",
            ),
            (
                "{\u{201c}a\u{201d}: 1}",
                2,
                "left curly quote U+201C outside a string; use \"",
            ),
            (
                "{\"a\": [1、2]}",
                9,
                "ideographic comma U+3001 outside a string; use ,",
            ),
            (
                "｛\"a\": 1}",
                1,
                "full-width brace U+FF5B outside a string; use {",
            ),
        ] {
            let e = to_plain_json(src).unwrap_err();
            assert_eq!(
                (e.line, e.column, e.message.as_str()),
                (1, col, msg),
                "{src}"
            );
        }
        // inside strings they are data
        let p = to_plain_json("{\"a\": \"，：\u{201c}x\u{201d}\"}").unwrap();
        let v: serde_json::Value = serde_json::from_str(&p.text).unwrap();
        assert_eq!(v["a"], "，：\u{201c}x\u{201d}");
    }
}
