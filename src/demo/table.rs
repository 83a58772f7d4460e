//! The demo's tables: Markdown, padded so that they read as plain text
//! on a terminal too. Each column says how to fill its cell from one item,
//! so a table is its list of columns and nothing per row.

/// A table column: its header, and how to fill its cell from one item.
pub type Column<T> = (&'static str, fn(&T) -> String);

/// A Markdown table, one row per item, padded so that it reads as plain text too.
pub fn markdown_table<T>(columns: &[Column<T>], items: &[T]) -> String {
    let header: Vec<String> = columns.iter().map(|(name, _)| name.to_string()).collect();
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| columns.iter().map(|(_, cell)| cell(item)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    let mut out = line(&header) + &line(&rule);
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_padded_markdown() {
        let columns: [Column<[&str; 2]>; 2] = [
            ("a", |row| row[0].to_string()),
            ("long header", |row| row[1].to_string()),
        ];
        let table = markdown_table(&columns, &[["wide cell", "x"]]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "| a         | long header |");
        assert_eq!(lines[1], "| --------- | ----------- |");
        assert_eq!(lines[2], "| wide cell | x           |");
        // Padded by characters, not bytes: a duration in µs is 5 wide.
        let columns: [Column<&str>; 1] = [("t", |cell| cell.to_string())];
        let table = markdown_table(&columns, &["40 µs", "1 ms"]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines, ["| t     |", "| ----- |", "| 40 µs |", "| 1 ms  |"]);
    }
}
