//! Rebuilds when a migration is added or changed: `sqlx::migrate!` embeds
//! the migrations at compile time, and cargo would not otherwise see a new
//! file under `migrations/`.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
