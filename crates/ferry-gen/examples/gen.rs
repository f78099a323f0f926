//! Generate a clinic: `cargo run --release -p ferry-gen --example gen -- N OUT_DIR [SEED] [--gzip] [--no-csv] [--no-sql] [--days-later=D]`
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flags: Vec<&str> = args
        .iter()
        .filter(|a| a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let (Some(n), Some(out)) = (pos.first(), pos.get(1)) else {
        eprintln!("usage: gen N OUT_DIR [SEED] [--gzip] [--no-csv] [--no-sql] [--days-later=D]");
        std::process::exit(2);
    };
    let Ok(patients) = n.parse::<u64>() else {
        eprintln!("N must be a number");
        std::process::exit(2);
    };
    let seed = pos.get(2).and_then(|s| s.parse().ok()).unwrap_or(42);
    let cfg = ferry_gen::GenConfig {
        patients,
        seed,
        out_dir: out.into(),
        sql: !flags.contains(&"--no-sql"),
        csv: !flags.contains(&"--no-csv"),
        gzip: flags.contains(&"--gzip"),
    };
    let t = Instant::now();
    let mut total = 0u64;
    let days = flags
        .iter()
        .find_map(|f| f.strip_prefix("--days-later="))
        .map(|d| d.parse::<u32>().unwrap_or(0));
    let mut on_event = |ev: ferry_gen::GenEvent<'_>| match ev {
        ferry_gen::GenEvent::Table { name, rows } => eprintln!("{name}: {rows} rows"),
        ferry_gen::GenEvent::Bytes(b) => total = b,
    };
    let res = match days {
        None => ferry_gen::generate(&cfg, &mut on_event),
        Some(d) => ferry_gen::evolve(&cfg, &ferry_gen::Evolution::days_later(d), &mut on_event)
            .map(|(m, s)| {
                eprintln!(
                    "{d} days later: {} new, {} changed, {} deleted, {} unchanged rows",
                    s.new, s.changed, s.deleted, s.unchanged
                );
                m
            }),
    };
    match res {
        Ok(m) => {
            let secs = t.elapsed().as_secs_f64();
            for f in &m.files {
                if f.table.is_none() {
                    eprintln!("{}: {} bytes", f.path, f.bytes);
                }
            }
            eprintln!(
                "{} patients, {} bytes produced in {:.2}s ({:.0} MB/s)",
                m.patients,
                total,
                secs,
                total as f64 / 1e6 / secs
            );
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
