//! Plain-text tables for the terminal.
use vstyle::farm::status::{ClipStatus, State};

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
    }
    out
}
