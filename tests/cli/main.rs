//! The `nurture` binary as marketing and CI use it: exit codes, messages on
//! stderr, and never a panic, whatever is in the files.

mod check;
mod db;
mod helpers;
mod preview;
mod simulate;
