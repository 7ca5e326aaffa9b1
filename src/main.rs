fn main() -> std::process::ExitCode {
    // What nurture writes holds leads' personal data (the SQLite database,
    // its WAL, backups, the outbox, the link secret): readable by its own
    // user only, whatever umask the shell or unit gave (files 0600,
    // folders 0700).
    // SAFETY: umask only sets this process's file mode mask; no memory is
    // touched, and no other thread runs yet.
    unsafe {
        libc::umask(0o077);
    }
    nurture::cli::main()
}
