//! Fault injection, for the tests of killed runs: `MNIST_GAN_FAULT=POINT:N`
//! ends the process abruptly the N-th time it reaches POINT, as a kill would
//! (no unwinding, no buffers flushed). Points: `step` (after a training step
//! and the checkpoint due after it), `checkpoint-rename` (a checkpoint's
//! temporary file is written and synced, not yet renamed over the old one).
//! `MNIST_GAN_FAULT=thread-panic` makes a helper thread panic while the main
//! thread waits for it forever, as burn-wgpu's polling thread can (`main`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Exit status of a process ended by an injected fault.
pub const EXIT_STATUS: i32 = 86;

static REACHED: AtomicU64 = AtomicU64::new(0);

pub fn point(name: &str) {
    let Ok(spec) = std::env::var("MNIST_GAN_FAULT") else { return };
    let Some((point, n)) = spec.split_once(':') else { return };
    if point != name {
        return;
    }
    let reached = REACHED.fetch_add(1, Ordering::Relaxed) + 1;
    if n.parse() == Ok(reached) {
        eprintln!("fault injected: {name} #{reached}");
        std::process::exit(EXIT_STATUS);
    }
}

/// With `MNIST_GAN_FAULT=thread-panic`: a helper thread panics while this
/// thread waits on an answer that cannot come (its channel has another sender
/// left), which only the panic hook in `main` ends.
pub fn thread_panic() {
    if std::env::var("MNIST_GAN_FAULT").as_deref() != Ok("thread-panic") {
        return;
    }
    let (sender, answer) = std::sync::mpsc::channel::<()>();
    std::mem::forget(sender.clone());
    std::thread::spawn(move || {
        let _sender = sender;
        panic!("fault injected: a helper thread panicked");
    });
    let _ = answer.recv();
}
