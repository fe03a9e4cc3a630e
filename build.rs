// Embedded migrations are read at compile time; rebuild when they change.
//
// The function worker shim (runtime/depot-fn-host.js) is embedded too. It is copied into
// OUT_DIR so that a tree without it (while it is being written) still builds; such a depot
// answers function paths with 503 unless a shim file is configured.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=runtime");
    let source = std::path::Path::new("runtime/depot-fn-host.js");
    let Some(out) = std::env::var_os("OUT_DIR") else {
        panic!("cargo sets OUT_DIR for build scripts");
    };
    let text = std::fs::read(source).unwrap_or_default();
    if let Err(err) = std::fs::write(std::path::Path::new(&out).join("depot-fn-host.js"), text) {
        panic!("cannot write the embedded shim: {err}");
    }
}
