//! The vstyle command line: parses arguments, calls the library, reports.
//! Exit codes: 0 done, 2 bad input or a failure (one `error:` line), 130
//! stopped by a signal (finished frames saved), 101 an internal fault.
mod cli;
mod commands;
mod flags;
mod progress;

use clap::Parser;

use cli::{Cli, Command};

/// A panic prints one line, not a backtrace; a worker thread's panic is
/// reported by the job that joins it, so it prints nothing here.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        if std::thread::current().name() == Some("main") {
            let msg = vstyle::error::panic_message(info.payload());
            let at = info
                .location()
                .map(|l| format!(" at {l}"))
                .unwrap_or_default();
            eprintln!(
                "error: internal fault: {}{at}",
                msg.lines().next().unwrap_or("")
            );
        }
    }));
}

fn exit_code(e: &anyhow::Error) -> i32 {
    match e.downcast_ref::<vstyle::Error>() {
        Some(err) if err.is_interrupted() => 130,
        _ => 2,
    }
}

fn main() {
    quiet_panics();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Image(a) => commands::image(a),
        Command::Run { job, set, quiet } => commands::run(job, set, *quiet),
        Command::Video(a) => commands::video(a),
        Command::Check { job, set } => commands::check(job, set),
        Command::Eval {
            input,
            output,
            json,
            plot,
            max_frames,
        } => commands::eval(input, output, json.as_deref(), plot.as_deref(), *max_frames),
        Command::Weights(w) => commands::weights(w),
    };
    if let Err(e) = result {
        // One line: the chain of contexts, outermost first.
        eprintln!("error: {e:#}");
        std::process::exit(exit_code(&e));
    }
}
