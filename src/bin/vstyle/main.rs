//! The vstyle command line: parses arguments, calls the library, reports.
//! Exit codes: 0 done, 2 bad input or a failure (one `error:` line), 130
//! stopped by a signal (finished frames saved), 141 the reader of its
//! output went away (`| head`, as a shell reports SIGPIPE), 101 an
//! internal fault.
mod cli;
mod commands;
mod flags;
mod progress;
mod tables;

use std::sync::atomic::{AtomicBool, Ordering};

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
    e.downcast_ref::<vstyle::Error>()
        .is_some_and(vstyle::Error::is_interrupted)
}

/// A command that ends with a child's exit code, which has said why itself
/// (the weight importer): exits with that code, printing nothing.
#[derive(Debug, thiserror::Error)]
#[error("exit status {0}")]
pub struct ExitWith(pub i32);

/// The exit code for `e`, and whether to print it.
fn exit_code(e: &anyhow::Error) -> (i32, bool) {
    if let Some(ExitWith(code)) = e.downcast_ref::<ExitWith>() {
        (*code, false)
    } else if interrupted(e) {
        (130, true)
    } else {
        (2, true)
    }
}

/// Ctrl-C and SIGTERM ask the job to stop after saving what is finished; a
/// second one ends the process at once.
pub fn stop_flag() -> &'static AtomicBool {
    static STOP: AtomicBool = AtomicBool::new(false);
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after saving finished frames (Ctrl-C again to quit at once)");
    });
    &STOP
}

fn main() {
    quiet_panics();
    let cli = Cli::parse();
    let result = std::panic::catch_unwind(|| dispatch(&cli)).unwrap_or_else(|payload| {
        let msg = vstyle::error::panic_message(payload.as_ref());
        if reader_gone(&msg) {
            std::process::exit(141);
        }
        eprintln!(
            "error: internal fault: {}",
            msg.lines().next().unwrap_or("")
        );
        std::process::exit(101);
    });
    if let Err(e) = result {
        let (code, print) = exit_code(&e);
        if print {
            eprintln!("error: {}", one_line(&e));
        }
        std::process::exit(code);
    }
}

/// Whether a panic is `println!` finding stdout's reader gone: not a
/// fault, but nothing more can be said (finished frames are saved).
fn reader_gone(panic: &str) -> bool {
    panic.starts_with("failed printing to stdout") && panic.contains("Broken pipe")
}

/// The chain of contexts and causes, outermost first, as one line.
fn one_line(e: &anyhow::Error) -> String {
    vstyle::error::one_line(&format!("{e:#}"))
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
