//! Plain-text tables for the terminal.
use vstyle::farm::status::{ClipStatus, SeamStatus, State};

fn state_name(s: State) -> &'static str {
    match s {
        State::Done => "done",
        State::Joinable => "shards done, join left",
        State::Partial => "partial",
        State::Pending => "pending",
        State::Error => "error",
    }
}

/// One line per entry, then one per shard of a sharded entry.
pub fn status_table(rows: &[ClipStatus]) -> String {
    let width = rows.iter().map(|r| r.entry.len()).max().unwrap_or(5).max(5);
    let mut out = format!("{:<width$}  {:>13}  state\n", "entry", "frames");
    for r in rows {
        let total = r.total.map_or("?".to_string(), |t| t.to_string());
        let frames = format!("{}/{total}", r.done);
        out.push_str(&format!(
            "{:<width$}  {frames:>13}  {}",
            r.entry,
            state_name(r.state)
        ));
        if let Some(e) = &r.error {
            out.push_str(&format!(": {e}"));
        }
        out.push('\n');
        for s in &r.shards {
            let running = s
                .running_on
                .as_ref()
                .map_or(String::new(), |h| format!("  running on {h}"));
            let frames = format!("{}/{}", s.done, s.total);
            out.push_str(&format!(
                "{:<width$}  {frames:>13}  shard {}{running}\n",
                "", s.shard
            ));
        }
        for s in &r.seams {
            out.push_str(&format!(
                "{:<width$}  {:>13}  {}\n",
                "",
                "",
                seam_line(s, r.seams.len())
            ));
        }
    }
    out
}

/// `seam 1/3 at frame 59: repaired`, or pending, or where it runs.
fn seam_line(s: &SeamStatus, count: usize) -> String {
    let state = match (&s.running_on, s.repaired) {
        (_, true) => "repaired".to_string(),
        (Some(h), false) => format!("running on {h}"),
        (None, false) => "not repaired yet".to_string(),
    };
    format!("seam {}/{count} at frame {}: {state}", s.index, s.frame)
}
