//! Build script: kept trivial on purpose. The C header is a committed, reviewed artifact
//! (`include/module_communication.h`), regenerated with cbindgen by hand or CI, never here.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
}
