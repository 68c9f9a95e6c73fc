//! `sqlx::migrate!` embeds the migration files at compile time but tracks only those that
//! existed when it last ran: a new file would not rebuild the crate without this.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
