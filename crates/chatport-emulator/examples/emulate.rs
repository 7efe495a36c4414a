//! Runs the emulator exactly as `chatport emulate` does, for use before (or without) the
//! CLI: `cargo run -p chatport-emulator --example emulate -- --listen 127.0.0.1:8080
//! --data ./emulator-data --write-test-credentials ./creds --auto-users-domain example.com`.

use clap::Parser;

/// `chatport emulate` options.
#[derive(Parser)]
#[command(
    name = "emulate",
    about = "Local emulator of the Google Chat import and Microsoft Graph migration APIs"
)]
struct Cli {
    #[command(flatten)]
    args: chatport_emulator::EmulateArgs,
}

fn main() {
    if let Err(e) = chatport_emulator::run(Cli::parse().args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
