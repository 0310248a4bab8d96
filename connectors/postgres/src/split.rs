//! Cutting a read into splits: DataX's integer `splitPk` ranges (plus the `IS NULL` split),
//! sampled percentile boundaries for other orderable keys, `ctid` page ranges for tables
//! without a key, one split per `querySql` statement and per table.
//!
//! A split is plain SQL plus, for sampled boundaries, values that travel as bind parameters
//! (`set_config('ferry.lo', $1, true)` then `current_setting('ferry.lo')::type` in the
//! query), so no value is ever spliced into SQL.

/// What one split reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitSpec {
    /// Index of the database in the reader's configuration.
    pub db: usize,
    /// The SELECT to run inside `COPY (...) TO STDOUT`.
    pub sql: String,
    /// Transaction-local settings to set first (name, value), bound as parameters.
    pub settings: Vec<(String, String)>,
    /// The table or statement, for messages.
    pub source: String,
}

/// DataX's integer cut points for `[min, max]` into `n` ranges (spec §2.3): `step = gap / n`,
/// `rem = gap % n`, fewer slices when `step == 0`, `p_i = p_{i-1} + step + (i <= rem)`.
pub fn integer_cut_points(min: i128, max: i128, n: usize) -> Vec<i128> {
    if min >= max || n <= 1 {
        return vec![min, max];
    }
    let gap = max - min;
    let mut n = n as i128;
    let step = gap / n;
    let rem = gap % n;
    if step == 0 {
        n = rem;
    }
    let mut points = Vec::with_capacity(n as usize + 1);
    points.push(min);
    let mut p = min;
    for i in 1..n {
        p += step + if i <= rem { 1 } else { 0 };
        points.push(p);
    }
    points.push(max);
    points
}

/// Integer range conditions over `pk`: half-open, the last closed; `min == max` is one
/// closed range.
pub fn integer_ranges(pk: &str, min: i128, max: i128, n: usize) -> Vec<String> {
    let pts = integer_cut_points(min, max, n);
    if pts.len() == 2 && pts[0] == pts[1] {
        return vec![format!("{pk} >= {min} AND {pk} <= {max}")];
    }
    let last = pts.len() - 2;
    (0..pts.len() - 1)
        .map(|i| {
            if i == last {
                format!("{pk} >= {} AND {pk} <= {}", pts[i], pts[i + 1])
            } else {
                format!("{pk} >= {} AND {pk} < {}", pts[i], pts[i + 1])
            }
        })
        .collect()
}

/// `ctid` page ranges over `pages` pages in `n` parts; the first is open below, the last open
/// above (pages added after planning are read too).
pub fn ctid_ranges(pages: u64, n: usize) -> Vec<String> {
    let n = (n as u64).clamp(1, pages.max(1));
    if n <= 1 {
        return vec![String::new()];
    }
    let per = pages.div_ceil(n);
    let mut out = Vec::new();
    let mut a = 0;
    while a < pages {
        let b = a + per;
        let cond = if a == 0 {
            format!("ctid < '({b},0)'::tid")
        } else if b >= pages {
            format!("ctid >= '({a},0)'::tid")
        } else {
            format!("ctid >= '({a},0)'::tid AND ctid < '({b},0)'::tid")
        };
        out.push(cond);
        a = b;
    }
    out
}

/// `SELECT cols FROM table [WHERE (where) [AND (range)]]`.
pub fn select_sql(cols: &str, table: &str, where_: Option<&str>, range: Option<&str>) -> String {
    let range = range.filter(|r| !r.is_empty());
    match (where_, range) {
        (Some(w), Some(r)) => format!("SELECT {cols} FROM {table} WHERE ({w}) AND ({r})"),
        (Some(w), None) => format!("SELECT {cols} FROM {table} WHERE ({w})"),
        (None, Some(r)) => format!("SELECT {cols} FROM {table} WHERE {r}"),
        (None, None) => format!("SELECT {cols} FROM {table}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datax_example_1_to_100_in_4() {
        assert_eq!(integer_cut_points(1, 100, 4), vec![1, 26, 51, 76, 100]);
        assert_eq!(
            integer_ranges("id", 1, 100, 4),
            vec![
                "id >= 1 AND id < 26",
                "id >= 26 AND id < 51",
                "id >= 51 AND id < 76",
                "id >= 76 AND id <= 100"
            ]
        );
    }

    #[test]
    fn fewer_slices_than_asked_and_single_values() {
        // gap 3 < n 10: step 0, so n = rem = 3
        assert_eq!(integer_cut_points(5, 8, 10), vec![5, 6, 7, 8]);
        assert_eq!(integer_ranges("k", 7, 7, 4), vec!["k >= 7 AND k <= 7"]);
        let r = integer_cut_points(i64::MIN as i128, i64::MAX as i128, 3);
        assert_eq!(r.first(), Some(&(i64::MIN as i128)));
        assert_eq!(r.last(), Some(&(i64::MAX as i128)));
    }

    #[test]
    fn every_integer_lands_in_exactly_one_range() {
        for (min, max, n) in [
            (0i128, 17i128, 5usize),
            (-3, 3, 4),
            (10, 1000, 7),
            (1, 2, 5),
        ] {
            let pts = integer_cut_points(min, max, n);
            for v in min..=max {
                let hits = (0..pts.len() - 1)
                    .filter(|&i| {
                        let last = i == pts.len() - 2;
                        v >= pts[i] && (v < pts[i + 1] || (last && v == pts[i + 1]))
                    })
                    .count();
                assert_eq!(hits, 1, "value {v} in {pts:?}");
            }
        }
    }

    #[test]
    fn ctid_ranges_cover_all_pages() {
        assert_eq!(ctid_ranges(0, 4), vec![""]);
        assert_eq!(
            ctid_ranges(10, 3),
            vec![
                "ctid < '(4,0)'::tid",
                "ctid >= '(4,0)'::tid AND ctid < '(8,0)'::tid",
                "ctid >= '(8,0)'::tid"
            ]
        );
        assert_eq!(ctid_ranges(2, 8).len(), 2);
    }

    #[test]
    fn select_sql_shapes() {
        assert_eq!(select_sql("*", "t", None, None), "SELECT * FROM t");
        assert_eq!(
            select_sql("a", "t", Some("a > 1"), Some("a IS NULL")),
            "SELECT a FROM t WHERE (a > 1) AND (a IS NULL)"
        );
    }
}
