//! Argon2id at the default parameters (t=3, m=64 MiB, p=4, 32-byte output, 16-byte salt).
//!
//! Benchmarks:
//! - `hash` and `verify`: the crate's `PasswordHasher`, including the semaphore and the hop to
//!   a blocking thread.
//! - `argon2_p4`: the `argon2` crate alone, four lanes computed on rayon.
//! - `argon2_p1`: the same memory and passes in one lane. The `parallel` feature cannot be
//!   switched off at runtime, so one lane is the serial baseline; it computes a different hash
//!   of the same cost.
//! - `reference_cli_p4`: the reference C implementation's `argon2` command at the same
//!   parameters, when it is installed. It includes starting a process (about 1 ms).
//!
//! Before the benchmarks run, one p=4 hash is timed against the process's CPU time: a ratio
//! above 1 shows that the lanes ran on several threads.
//!
//! Run with `cargo bench --bench password -- --warm-up-time 1 --measurement-time 5`.

use std::hint::black_box;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use amoskys_auth::config::PasswordConfig;
use amoskys_auth::password::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, Version};
use criterion::{Criterion, criterion_group, criterion_main};

const PASSWORD: &str = "correct horse battery staple";
const SALT: &[u8] = b"saltsaltsaltsalt";

fn argon2_with_lanes(lanes: u32) -> Argon2<'static> {
    let params = Params::new(64 * 1024, 3, lanes, Some(32)).expect("valid parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_raw(argon2: &Argon2<'_>) -> [u8; 32] {
    let mut out = [0u8; 32];
    argon2
        .hash_password_into(PASSWORD.as_bytes(), SALT, &mut out)
        .expect("hash");
    out
}

/// Returns the CPU time (user and system) the process has used, from `/proc/self/stat`.
#[cfg(target_os = "linux")]
fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports these in USER_HZ ticks, 100 per second (`getconf CLK_TCK` on x86-64).
    Some(Duration::from_millis(ticks * 10))
}

#[cfg(not(target_os = "linux"))]
fn process_cpu_time() -> Option<Duration> {
    None
}

/// Returns the number of threads of the process, from `/proc/self/status`.
#[cfg(target_os = "linux")]
fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("Threads:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(not(target_os = "linux"))]
fn thread_count() -> Option<usize> {
    None
}

/// Prints the threads the first p=4 hash starts (rayon's pool), and CPU time over wall time
/// for three more; a ratio near 1.0 means the lanes shared one core.
fn report_lane_parallelism() {
    let argon2 = argon2_with_lanes(4);
    let threads_before = thread_count();
    black_box(hash_raw(&argon2));
    eprintln!(
        "lane parallelism: threads before the first p=4 hash {threads_before:?}, after {:?}",
        thread_count()
    );
    let (Some(cpu_before), wall_start) = (process_cpu_time(), Instant::now()) else {
        eprintln!("lane parallelism: CPU time not available on this platform");
        return;
    };
    for _ in 0..3 {
        black_box(hash_raw(&argon2));
    }
    let wall = wall_start.elapsed();
    let cpu = process_cpu_time().unwrap_or(cpu_before) - cpu_before;
    eprintln!(
        "lane parallelism: 3 hashes at p=4 took {:.0} ms wall and {:.0} ms CPU, ratio {:.2}",
        wall.as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e3,
        cpu.as_secs_f64() / wall.as_secs_f64()
    );
}

fn reference_cli_available() -> bool {
    Command::new("argon2")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Runs `argon2 saltsaltsaltsalt -id -t 3 -k 65536 -p 4 -l 32 -e` with the password on stdin.
fn run_reference_cli() -> Vec<u8> {
    let mut child = Command::new("argon2")
        .args([
            "saltsaltsaltsalt",
            "-id",
            "-t",
            "3",
            "-k",
            "65536",
            "-p",
            "4",
            "-l",
            "32",
        ])
        .arg("-e")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start argon2");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(PASSWORD.as_bytes())
        .expect("write password");
    let output = child.wait_with_output().expect("argon2 output");
    assert!(output.status.success(), "argon2 failed");
    output.stdout
}

fn bench_password(c: &mut Criterion) {
    report_lane_parallelism();

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let hasher = PasswordHasher::new(&PasswordConfig::default()).expect("default config");
    let stored = runtime.block_on(hasher.hash(PASSWORD)).expect("hash");

    let mut group = c.benchmark_group("argon2id_m64MiB_t3");
    group.sample_size(10);
    group.bench_function("hash", |b| {
        b.iter(|| runtime.block_on(hasher.hash(black_box(PASSWORD))))
    });
    group.bench_function("verify", |b| {
        b.iter(|| runtime.block_on(hasher.verify(black_box(PASSWORD), &stored)))
    });
    let parallel = argon2_with_lanes(4);
    group.bench_function("argon2_p4", |b| b.iter(|| hash_raw(&parallel)));
    let serial = argon2_with_lanes(1);
    group.bench_function("argon2_p1", |b| b.iter(|| hash_raw(&serial)));
    if reference_cli_available() {
        group.bench_function("reference_cli_p4", |b| b.iter(run_reference_cli));
    } else {
        eprintln!("reference_cli_p4 skipped: the argon2 command is not installed");
    }
    group.finish();
}

criterion_group!(benches, bench_password);
criterion_main!(benches);
