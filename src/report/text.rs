//! Plain-text tables for stdout: columns padded to their widest cell, left-aligned text columns,
//! right-aligned numbers, no trailing blanks.

/// `header` and `rows` as aligned text, one line each; the columns in `left` are left-aligned,
/// the others right-aligned.
pub fn table(header: &[&str], rows: &[Vec<String>], left: &[usize]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([header[i].chars().count()]).max().unwrap_or(0))
        .collect();
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let parts: Vec<String> = cells
            .enumerate()
            .map(|(i, c)| {
                let pad = " ".repeat(widths[i].saturating_sub(c.chars().count()));
                if left.contains(&i) { format!("{c}{pad}") } else { format!("{pad}{c}") }
            })
            .collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(&mut header.iter().copied());
    for r in rows {
        out.push_str(&line(&mut r.iter().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_are_padded_and_aligned() {
        let rows = vec![vec!["frontend".to_string(), "1.5".to_string()], vec!["db".to_string(), "12.25".to_string()]];
        let text = super::table(&["Service", "p99"], &rows, &[0]);
        assert_eq!(text, "Service     p99\nfrontend    1.5\ndb        12.25\n");
    }
}
