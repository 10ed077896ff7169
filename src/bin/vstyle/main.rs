//! The vstyle command line: parses arguments, calls the library, reports.
//! Exit codes: 0 done, 2 bad input or a failure (one `error:` line), 130
//! stopped by a signal (finished frames saved), 101 an internal fault.
mod cli;
mod commands;
mod flags;
mod progress;
mod tables;

use clap::Parser;

use cli::{Cli, Command};

/// Panics print nothing where they happen: the library turns the ones it
/// expects (libtorch errors, worker threads) into errors, and `main` turns
/// any other into one `error:` line.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

/// Whether `e` is a stop asked for (Ctrl-C, SIGTERM), not a failure.
fn interrupted(e: &anyhow::Error) -> bool {
    use vstyle::farm::workers::WorkerError;
    e.downcast_ref::<vstyle::Error>()
        .is_some_and(vstyle::Error::is_interrupted)
        || matches!(
            e.downcast_ref::<WorkerError>(),
            Some(WorkerError::Interrupted)
        )
}

fn exit_code(e: &anyhow::Error) -> i32 {
    if interrupted(e) {
        130
    } else {
        2
    }
}

fn main() {
    quiet_panics();
    let cli = Cli::parse();
    let result = std::panic::catch_unwind(|| dispatch(&cli)).unwrap_or_else(|payload| {
        let msg = vstyle::error::panic_message(payload.as_ref());
        eprintln!(
            "error: internal fault: {}",
            msg.lines().next().unwrap_or("")
        );
        std::process::exit(101);
    });
    if let Err(e) = result {
        // One line: the chain of contexts, outermost first.
        eprintln!("error: {e:#}");
        std::process::exit(exit_code(&e));
    }
}

fn dispatch(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Image(a) => commands::image(a),
        Command::Run(a) => commands::run(a),
        Command::Join(a) => commands::join(a),
        Command::Status { job, set, json } => commands::status(job, set, *json),
        Command::Video(a) => commands::video(a),
        Command::Preview(a) => commands::preview(a),
        Command::Check {
            job,
            set,
            memory_limit,
        } => commands::check(job, set, memory_limit.as_deref()),
        Command::Eval {
            input,
            output,
            json,
            plot,
            max_frames,
        } => commands::eval(input, output, json.as_deref(), plot.as_deref(), *max_frames),
        Command::Weights(w) => commands::weights(w),
        Command::Slurm(a) => commands::slurm(a),
    }
}
