//! Relaxed JSON: `//` and `/* */` comments and trailing commas, as found in DataWorks
//! samples, turned into plain JSON of exactly the same byte length.
//!
//! Comment bytes and trailing commas become spaces and newlines stay where they are, so
//! every line and column serde_json reports still points into the original file. Text
//! inside JSON strings (with `\"` escapes) is never touched: `"jdbc:postgresql://h"`
//! keeps its `//`.

/// Where relaxed JSON could not be made plain (an unterminated `/* */`).
#[derive(Debug, PartialEq)]
pub(crate) struct RelaxedError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Blank out comments and trailing commas in `text`, keeping its length and lines.
pub(crate) fn to_plain_json(text: &str) -> Result<String, RelaxedError> {
    let mut b = text.as_bytes().to_vec();
    let n = b.len();
    let mut i = 0;
    let mut in_str = false;
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
            _ => {}
        }
        i += 1;
    }
    blank_trailing_commas(&mut b);
    // Only ASCII bytes were replaced by ASCII spaces, or whole UTF-8 sequences inside
    // comments were replaced byte by byte, so the result is valid UTF-8; fall back to a
    // lossy conversion rather than panic if that reasoning is ever wrong.
    Ok(String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
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
        let out = to_plain_json(s).unwrap();
        assert_eq!(out.len(), s.len());
        assert_eq!(out.matches('\n').count(), s.matches('\n').count());
        out
    }

    #[test]
    fn comments_become_spaces_strings_survive() {
        let src =
            "{\"u\": \"jdbc:postgresql://h/db\", // the url\n/* a\n b */ \"k\": \"/* no */\"}";
        let out = plain(src);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["u"], "jdbc:postgresql://h/db");
        assert_eq!(v["k"], "/* no */");
    }

    #[test]
    fn escaped_quotes_do_not_end_strings() {
        let src = r#"{"a": "say \"//hi\" \\", "b": 1 // c
}"#;
        let v: serde_json::Value = serde_json::from_str(&plain(src)).unwrap();
        assert_eq!(v["a"], r#"say "//hi" \"#);
        assert_eq!(v["b"], 1);
    }

    #[test]
    fn trailing_commas_and_unicode_comments() {
        let src = "{\"a\": [1, 2, /* 注释 */], \"b\": {\"c\": \",]\",}, // 尾注释\n}";
        let v: serde_json::Value = serde_json::from_str(&plain(src)).unwrap();
        assert_eq!(v["a"], serde_json::json!([1, 2]));
        assert_eq!(v["b"]["c"], ",]");
    }

    #[test]
    fn unterminated_block_comment_is_located() {
        let e = to_plain_json("{\n  \"a\": 1 /* oops\n}").unwrap_err();
        assert_eq!((e.line, e.column), (2, 10));
        assert!(e.message.contains("unterminated"));
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\n注c", 6), (2, 2));
        assert_eq!(line_col("abc", 0), (1, 1));
    }
}
