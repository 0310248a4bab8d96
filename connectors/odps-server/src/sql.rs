//! The small DDL dialect the server runs as SQL instances (spec §4.3): what pyodps and
//! DataX's odpswriter send for tables and partitions. Anything else is refused.

use ferry_odps::wire::OdpsType;

/// One parsed DDL statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Ddl {
    /// `CREATE TABLE [IF NOT EXISTS] t (cols) [COMMENT ..] [PARTITIONED BY (..)] [LIFECYCLE n]`
    CreateTable {
        /// Table name (without project).
        table: String,
        /// `IF NOT EXISTS` given.
        if_not_exists: bool,
        /// Data columns: name, type, comment.
        columns: Vec<(String, OdpsType, String)>,
        /// Partition keys: name, type, comment.
        partition_keys: Vec<(String, OdpsType, String)>,
        /// Table comment.
        comment: String,
        /// Lifecycle in days, -1 when not given.
        lifecycle: i64,
    },
    /// `DROP TABLE [IF EXISTS] t`
    DropTable {
        /// Table name.
        table: String,
        /// `IF EXISTS` given.
        if_exists: bool,
    },
    /// `ALTER TABLE t ADD [IF NOT EXISTS] PARTITION (k='v', ..) [PARTITION (..)]..`
    AddPartition {
        /// Table name.
        table: String,
        /// `IF NOT EXISTS` given.
        if_not_exists: bool,
        /// The partition specs, each `(key, value)` pairs in the written order.
        partitions: Vec<Vec<(String, String)>>,
    },
    /// `ALTER TABLE t DROP [IF EXISTS] PARTITION (..)[, PARTITION (..)]`
    DropPartition {
        /// Table name.
        table: String,
        /// `IF EXISTS` given.
        if_exists: bool,
        /// The partition specs.
        partitions: Vec<Vec<(String, String)>>,
    },
    /// `TRUNCATE TABLE t [PARTITION (..)]`
    Truncate {
        /// Table name.
        table: String,
        /// The partition, if any.
        partition: Option<Vec<(String, String)>>,
    },
    /// `SET k=v` (accepted, no effect).
    Set,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Str(String),
    Num(String),
    Punct(char),
}

struct Lexer<'a> {
    src: &'a str,
    toks: Vec<(Tok, usize, usize)>,
}

fn lex(src: &str) -> Result<Lexer<'_>, String> {
    let b = src.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'`' {
            let end = src[i + 1..].find('`').ok_or("unclosed backquote")? + i + 1;
            toks.push((Tok::Quoted(src[i + 1..end].to_string()), i, end + 1));
            i = end + 1;
        } else if c == b'\'' || c == b'"' {
            let mut s = Vec::new();
            let start = i;
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err("unclosed string literal".into()),
                    Some(&x) if x == c => {
                        if b.get(i + 1) == Some(&c) {
                            s.push(c);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(b'\\') if i + 1 < b.len() => {
                        // MaxCompute's string-literal escapes (pyodps's escape_odps_string)
                        s.push(match b[i + 1] {
                            b'n' => b'\n',
                            b't' => b'\t',
                            b'r' => b'\r',
                            b'b' => 0x08,
                            b'0' => 0,
                            other => other,
                        });
                        i += 2;
                    }
                    Some(&x) => {
                        s.push(x);
                        i += 1;
                    }
                }
            }
            toks.push((Tok::Str(String::from_utf8_lossy(&s).into_owned()), start, i));
        } else if c.is_ascii_digit() || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            toks.push((Tok::Num(src[start..i].to_string()), start, i));
        } else if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                i += 1;
            }
            toks.push((Tok::Word(src[start..i].to_string()), start, i));
        } else {
            toks.push((Tok::Punct(c as char), i, i + 1));
            i += 1;
        }
    }
    Ok(Lexer { src, toks })
}

struct P<'a> {
    lx: Lexer<'a>,
    i: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.lx.toks.get(self.i).map(|t| &t.0)
    }
    fn kw(&mut self, k: &str) -> bool {
        if let Some(Tok::Word(w)) = self.peek() {
            if w.eq_ignore_ascii_case(k) {
                self.i += 1;
                return true;
            }
        }
        false
    }
    fn expect_kw(&mut self, k: &str) -> Result<(), String> {
        if self.kw(k) {
            Ok(())
        } else {
            Err(format!("expected {k} {}", self.here()))
        }
    }
    fn punct(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.i += 1;
            return true;
        }
        false
    }
    fn expect_punct(&mut self, c: char) -> Result<(), String> {
        if self.punct(c) {
            Ok(())
        } else {
            Err(format!("expected `{c}` {}", self.here()))
        }
    }
    fn here(&self) -> String {
        match self.lx.toks.get(self.i) {
            Some((_, s, _)) => {
                let end = (*s + 30).min(self.lx.src.len());
                let end = (end..=self.lx.src.len())
                    .find(|e| self.lx.src.is_char_boundary(*e))
                    .unwrap_or(self.lx.src.len());
                format!("at `{}`", &self.lx.src[*s..end])
            }
            None => "at the end".into(),
        }
    }
    fn ident(&mut self) -> Result<String, String> {
        match self.peek().cloned() {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => {
                self.i += 1;
                Ok(w)
            }
            _ => Err(format!("expected a name {}", self.here())),
        }
    }
    /// `[project.]table` → table
    fn table_name(&mut self) -> Result<String, String> {
        let mut n = self.ident()?;
        if self.punct('.') {
            n = self.ident()?;
            if self.punct('.') {
                n = self.ident()?;
            }
        }
        Ok(n)
    }
    fn string(&mut self) -> Result<String, String> {
        match self.peek().cloned() {
            Some(Tok::Str(s)) | Some(Tok::Num(s)) | Some(Tok::Word(s)) => {
                self.i += 1;
                Ok(s)
            }
            _ => Err(format!("expected a value {}", self.here())),
        }
    }
    fn done(&self) -> bool {
        self.i >= self.lx.toks.len()
    }
    /// The raw text inside the balanced parentheses that start here; moves past them.
    fn paren_body(&mut self) -> Result<(usize, usize), String> {
        let Some((Tok::Punct('('), s, _)) = self.lx.toks.get(self.i).cloned() else {
            return Err(format!("expected `(` {}", self.here()));
        };
        let mut depth = 0;
        while let Some((t, _, e)) = self.lx.toks.get(self.i).cloned() {
            self.i += 1;
            match t {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok((s + 1, e - 1));
                    }
                }
                _ => {}
            }
        }
        Err("unbalanced parentheses".into())
    }
    fn partition_spec(&mut self) -> Result<Vec<(String, String)>, String> {
        self.expect_kw("partition")?;
        self.expect_punct('(')?;
        let mut spec = Vec::new();
        loop {
            let k = self.ident()?;
            self.expect_punct('=')?;
            let v = self.string()?;
            spec.push((k, v));
            if self.punct(')') {
                break;
            }
            self.expect_punct(',')?;
        }
        Ok(spec)
    }
}

/// Split on top-level commas (outside `()`, `<>` and quotes).
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut quote) = (0i32, 0, None::<char>);
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if std::mem::take(&mut escaped) {
            continue;
        }
        match (quote, c) {
            (Some('\'' | '"'), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(' | '<') => depth += 1,
            (None, ')' | '>') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().filter(|x| !x.trim().is_empty()).collect()
}

fn column_defs(s: &str) -> Result<Vec<(String, OdpsType, String)>, String> {
    let mut out = Vec::new();
    for def in split_top(s) {
        let lx = lex(def)?;
        let mut p = P { lx, i: 0 };
        let name = p.ident()?;
        let type_start =
            p.lx.toks
                .get(p.i)
                .map(|t| t.1)
                .ok_or("column without a type")?;
        // the type runs until NOT NULL / COMMENT / DEFAULT at depth 0, or the end
        let mut end = def.len();
        let mut comment = String::new();
        let mut depth = 0;
        let mut j = p.i;
        while let Some((t, s, _)) = p.lx.toks.get(j).cloned() {
            match &t {
                Tok::Punct('<') | Tok::Punct('(') => depth += 1,
                Tok::Punct('>') | Tok::Punct(')') => depth -= 1,
                Tok::Word(w)
                    if depth == 0
                        && ["comment", "not", "null", "default"]
                            .iter()
                            .any(|k| w.eq_ignore_ascii_case(k)) =>
                {
                    end = s;
                    p.i = j;
                    while !p.done() {
                        if p.kw("comment") {
                            comment = p.string()?;
                        } else {
                            p.i += 1;
                        }
                    }
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        let ty = OdpsType::parse(def[type_start..end].trim()).map_err(|e| e.to_string())?;
        out.push((name, ty, comment));
    }
    if out.is_empty() {
        return Err("no columns".into());
    }
    Ok(out)
}

/// Parse one statement (without the trailing `;`).
pub fn parse(sql: &str) -> Result<Ddl, String> {
    let lx = lex(sql)?;
    let mut p = P { lx, i: 0 };
    if p.kw("set") {
        return Ok(Ddl::Set);
    }
    let stmt = if p.kw("create") {
        p.expect_kw("table")?;
        let if_not_exists = if p.kw("if") {
            p.expect_kw("not")?;
            p.expect_kw("exists")?;
            true
        } else {
            false
        };
        let table = p.table_name()?;
        let (s, e) = p.paren_body()?;
        let columns = column_defs(&sql[s..e])?;
        let mut comment = String::new();
        let mut partition_keys = Vec::new();
        let mut lifecycle = -1;
        while !p.done() {
            if p.kw("comment") {
                comment = p.string()?;
            } else if p.kw("partitioned") {
                p.expect_kw("by")?;
                let (s, e) = p.paren_body()?;
                partition_keys = column_defs(&sql[s..e])?;
            } else if p.kw("lifecycle") {
                lifecycle = p
                    .string()?
                    .parse()
                    .map_err(|_| "LIFECYCLE needs a number of days".to_string())?;
            } else {
                return Err(format!("unsupported CREATE TABLE clause {}", p.here()));
            }
        }
        Ddl::CreateTable {
            table,
            if_not_exists,
            columns,
            partition_keys,
            comment,
            lifecycle,
        }
    } else if p.kw("drop") {
        p.expect_kw("table")?;
        let if_exists = if p.kw("if") {
            p.expect_kw("exists")?;
            true
        } else {
            false
        };
        Ddl::DropTable {
            table: p.table_name()?,
            if_exists,
        }
    } else if p.kw("alter") {
        p.expect_kw("table")?;
        let table = p.table_name()?;
        if p.kw("add") {
            let if_not_exists = if p.kw("if") {
                p.expect_kw("not")?;
                p.expect_kw("exists")?;
                true
            } else {
                false
            };
            let mut partitions = vec![p.partition_spec()?];
            while !p.done() {
                partitions.push(p.partition_spec()?);
            }
            Ddl::AddPartition {
                table,
                if_not_exists,
                partitions,
            }
        } else if p.kw("drop") {
            let if_exists = if p.kw("if") {
                p.expect_kw("exists")?;
                true
            } else {
                false
            };
            let mut partitions = vec![p.partition_spec()?];
            while p.punct(',') {
                partitions.push(p.partition_spec()?);
            }
            Ddl::DropPartition {
                table,
                if_exists,
                partitions,
            }
        } else {
            return Err(format!(
                "unsupported ALTER TABLE {}: only ADD/DROP PARTITION",
                p.here()
            ));
        }
    } else if p.kw("truncate") {
        p.expect_kw("table")?;
        let table = p.table_name()?;
        let partition = if p.done() {
            None
        } else {
            Some(p.partition_spec()?)
        };
        Ddl::Truncate { table, partition }
    } else {
        return Err(format!(
            "ferry's local MaxCompute runs only DDL (CREATE/DROP TABLE, ALTER TABLE ADD/DROP \
             PARTITION, TRUNCATE); cannot run {}",
            p.here()
        ));
    };
    if !p.done() {
        return Err(format!("unexpected text {}", p.here()));
    }
    Ok(stmt)
}

/// Split a script into statements on `;` outside quotes.
pub fn split_statements(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quote) = (0, None::<char>);
    let mut escaped = false;
    for (i, c) in sql.char_indices() {
        if std::mem::take(&mut escaped) {
            continue;
        }
        match (quote, c) {
            (Some('\'' | '"'), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, ';') => {
                out.push(&sql[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&sql[start..]);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyodps_create_table() {
        let sql = "CREATE TABLE IF NOT EXISTS p1.`hpg` (\n  `id` BIGINT,\n  `name` STRING COMMENT 'the name',\n  `m` MAP<STRING,ARRAY<BIGINT>>,\n  `d` DECIMAL(10,2)\n)\nPARTITIONED BY (\n  `pt` STRING\n)\nLIFECYCLE 7";
        let Ddl::CreateTable {
            table,
            if_not_exists,
            columns,
            partition_keys,
            lifecycle,
            ..
        } = parse(sql).unwrap()
        else {
            panic!()
        };
        assert_eq!(table, "hpg");
        assert!(if_not_exists);
        assert_eq!(columns.len(), 4);
        assert_eq!(columns[1].2, "the name");
        assert_eq!(columns[2].1.to_string(), "map<string,array<bigint>>");
        assert_eq!(columns[3].1.to_string(), "decimal(10,2)");
        assert_eq!(partition_keys[0].0, "pt");
        assert_eq!(lifecycle, 7);
    }

    #[test]
    fn partitions_drop_truncate_and_refusals() {
        assert_eq!(
            parse("ALTER TABLE p1.`t` ADD IF NOT EXISTS  PARTITION (pt='x', dt = '1')").unwrap(),
            Ddl::AddPartition {
                table: "t".into(),
                if_not_exists: true,
                partitions: vec![vec![("pt".into(), "x".into()), ("dt".into(), "1".into())]]
            }
        );
        assert!(matches!(
            parse("alter table t drop if exists partition(pt='x')").unwrap(),
            Ddl::DropPartition {
                if_exists: true,
                ..
            }
        ));
        assert!(matches!(
            parse("TRUNCATE TABLE t PARTITION (pt='x')").unwrap(),
            Ddl::Truncate {
                partition: Some(_),
                ..
            }
        ));
        assert!(matches!(
            parse("drop table if exists `t`").unwrap(),
            Ddl::DropTable {
                if_exists: true,
                ..
            }
        ));
        let e = parse("SELECT * FROM t").unwrap_err();
        assert!(e.contains("only DDL"), "{e}");
        assert_eq!(
            split_statements("set a=1; create table t (a bigint);").len(),
            2
        );
    }

    #[test]
    fn string_literal_escapes() {
        // what pyodps sends for comments holding ' " \ and a tab
        let sql = r#"CREATE TABLE t (a BIGINT COMMENT 'it\'s \"q\"\tand \\ back; x', b STRING) COMMENT 'Bob\'s, t' PARTITIONED BY (pt STRING COMMENT 'Ann\'s');"#;
        let stmts = split_statements(sql);
        assert_eq!(stmts.len(), 1, "{stmts:?}");
        let Ddl::CreateTable {
            columns,
            partition_keys,
            comment,
            ..
        } = parse(stmts[0]).unwrap()
        else {
            panic!()
        };
        assert_eq!(columns.len(), 2);
        assert_eq!(columns[0].2, "it's \"q\"\tand \\ back; x");
        assert_eq!(comment, "Bob's, t");
        assert_eq!(partition_keys[0].2, "Ann's");
    }
}
