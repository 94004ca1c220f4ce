//! `sqlx::migrate!` embeds `migrations/` at compile time, but cargo does not know it reads
//! them: without this, a new migration is missing from the binary until some source changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
