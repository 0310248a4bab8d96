//! Just enough XML for the REST replies ferry reads (`<Table>`, `<Partitions>`,
//! `<Instance>`, `<Error>`): element text with CDATA, repeated elements, attributes.

/// Decode the five predefined entities and numeric character references.
pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let ent = &tail[1..end];
        let rep = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => {
                if let Some(h) = ent.strip_prefix("#x").or_else(|| ent.strip_prefix("#X")) {
                    u32::from_str_radix(h, 16).ok().and_then(char::from_u32)
                } else if let Some(d) = ent.strip_prefix('#') {
                    d.parse::<u32>().ok().and_then(char::from_u32)
                } else {
                    None
                }
            }
        };
        match rep {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text content of a fragment: CDATA sections verbatim, other text unescaped.
pub fn text(inner: &str) -> String {
    let mut out = String::new();
    let mut rest = inner;
    while let Some(i) = rest.find("<![CDATA[") {
        out.push_str(&unescape(&rest[..i]));
        let after = &rest[i + 9..];
        match after.find("]]>") {
            Some(j) => {
                out.push_str(&after[..j]);
                rest = &after[j + 3..];
            }
            None => {
                out.push_str(after);
                return out;
            }
        }
    }
    out.push_str(&unescape(rest));
    out
}

/// The inner content of each `<tag ...>...</tag>` element (and `""` for `<tag/>`), in order.
/// Elements of the same name are not expected to nest.
pub fn elements<'a>(xml: &'a str, tag: &str) -> Vec<(&'a str, &'a str)> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = xml[pos..].find(&open) {
        let start = pos + i;
        let after = start + open.len();
        // the tag name must end here
        match xml[after..].chars().next() {
            Some(c) if c == '>' || c == '/' || c.is_whitespace() => {}
            _ => {
                pos = after;
                continue;
            }
        }
        let Some(gt) = xml[after..].find('>') else {
            break;
        };
        let head_end = after + gt;
        let attrs = &xml[after..head_end];
        if attrs.ends_with('/') {
            out.push((attrs.trim_end_matches('/'), ""));
            pos = head_end + 1;
            continue;
        }
        // a CDATA section may contain `</tag>`-looking text: skip over CDATA
        let body_start = head_end + 1;
        let mut scan = body_start;
        let end = loop {
            let c = xml[scan..].find(&close).map(|x| scan + x);
            let d = xml[scan..].find("<![CDATA[").map(|x| scan + x);
            match (c, d) {
                (Some(c), Some(d)) if d < c => match xml[d..].find("]]>") {
                    Some(e) => scan = d + e + 3,
                    None => break None,
                },
                (Some(c), _) => break Some(c),
                (None, _) => break None,
            }
        };
        let Some(end) = end else {
            break;
        };
        out.push((attrs, &xml[body_start..end]));
        pos = end + close.len();
    }
    out
}

/// The text of the first `<tag>` element.
pub fn tag_text(xml: &str, tag: &str) -> Option<String> {
    elements(xml, tag).first().map(|(_, inner)| text(inner))
}

/// The value of attribute `name` in an element head (` Name="pt" Value="x"`).
pub fn attr(head: &str, name: &str) -> Option<String> {
    let mut rest = head;
    while let Some(i) = rest.find(name) {
        let before_ok = i == 0 || rest[..i].ends_with(char::is_whitespace);
        let after = rest[i + name.len()..].trim_start();
        if before_ok {
            if let Some(v) = after.strip_prefix('=') {
                let v = v.trim_start();
                let q = v.chars().next()?;
                if q == '"' || q == '\'' {
                    let end = v[1..].find(q)?;
                    return Some(unescape(&v[1..1 + end]));
                }
            }
        }
        rest = &rest[i + name.len()..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_cdata_and_attributes() {
        let x = r#"<?xml version="1.0"?><Table><Name>t&amp;1</Name><Schema format="json"><![CDATA[{"a":"</Schema>"}]]></Schema>
            <Partitions><Partition><Column Name="pt" Value="a&quot;b"/><Column Name="ds" Value='hz'/></Partition></Partitions></Table>"#;
        assert_eq!(tag_text(x, "Name").as_deref(), Some("t&1"));
        assert_eq!(
            tag_text(x, "Schema").as_deref(),
            Some(r#"{"a":"</Schema>"}"#)
        );
        let cols = elements(x, "Column");
        assert_eq!(cols.len(), 2);
        assert_eq!(attr(cols[0].0, "Name").as_deref(), Some("pt"));
        assert_eq!(attr(cols[0].0, "Value").as_deref(), Some("a\"b"));
        assert_eq!(attr(cols[1].0, "Value").as_deref(), Some("hz"));
        assert_eq!(elements(x, "Partition").len(), 1);
        assert_eq!(tag_text(x, "Missing"), None);
        assert_eq!(unescape("&#65;&#x42;&bogus;"), "AB&bogus;");
    }
}
