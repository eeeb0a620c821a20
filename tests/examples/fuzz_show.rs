//! Prints what a fuzz input means to a structured target, to read a crash:
//! `cargo run -p pastry-tests --example fuzz_show -- node_events FILE`
//! (targets `wire_roundtrip`, `node_events`, `sim_faults`). Replay it with
//! `cargo test -p pastry-tests --test fuzz_corpus` once it is under
//! `fuzz/artifacts/<target>/`.

use arbitrary::{Arbitrary, Unstructured};
use pastry_tests::harness::{ArbMessage, FaultRun, NodeRun};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(target), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: fuzz_show TARGET FILE");
        std::process::exit(2);
    };
    let data = std::fs::read(&file).expect("readable input");
    let u = Unstructured::new(&data);
    match target.as_str() {
        "wire_roundtrip" => println!("{:#?}", ArbMessage::arbitrary_take_rest(u)),
        "node_events" => println!("{:#?}", NodeRun::arbitrary_take_rest(u)),
        "sim_faults" => println!("{:#?}", FaultRun::arbitrary_take_rest(u)),
        other => eprintln!("{other}: not a structured target (its input is the bytes)"),
    }
}
