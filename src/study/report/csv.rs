//! tables.csv: one line per cell (table, row, column, synthgen mean, SE and what it is over,
//! replicates, best, paper, direction, and the paired test's p-value and discordant counts).
use super::{fmt_pct, Report};

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn render(r: &Report) -> String {
    let mut s = String::from(
        "table,metric,row,column,synthgen,se,se_over,replicates,best,paper,direction,p_value,baseline_only,row_only\n",
    );
    for t in &r.tables {
        for (row, cells) in &t.rows {
            for (col, c) in t.columns.iter().zip(cells) {
                let (p, b, cc) =
                    c.paired
                        .as_ref()
                        .map_or((String::new(), String::new(), String::new()), |p| {
                            (
                                format!("{:.6}", p.p_value),
                                p.discordant.baseline_only.to_string(),
                                p.discordant.row_only.to_string(),
                            )
                        });
                s.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{p},{b},{cc}\n",
                    quote(&t.table.title),
                    t.table.metric,
                    quote(row),
                    quote(col),
                    fmt_pct(c.ours),
                    fmt_pct(c.se),
                    if c.se_over_replicates {
                        "replicates"
                    } else {
                        "binomial"
                    },
                    c.values.len(),
                    fmt_pct(c.best),
                    fmt_pct(c.paper),
                    c.direction.mark()
                ));
            }
        }
    }
    s
}
