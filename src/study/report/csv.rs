//! tables.csv: one line per cell (table, row, column, synthgen, SE, paper, direction).
use super::{fmt_pct, Report};

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn render(r: &Report) -> String {
    let mut s = String::from("table,metric,row,column,synthgen,se,paper,direction\n");
    for t in &r.tables {
        for (row, cells) in &t.rows {
            for (col, c) in t.columns.iter().zip(cells) {
                s.push_str(&format!(
                    "{},{},{},{},{},{},{},{}\n",
                    quote(&t.table.title),
                    t.table.metric,
                    quote(row),
                    quote(col),
                    fmt_pct(c.ours),
                    fmt_pct(c.se),
                    fmt_pct(c.paper),
                    c.direction.mark()
                ));
            }
        }
    }
    s
}
