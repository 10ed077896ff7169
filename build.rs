//! Bakes the location of libtorch into the binaries (rpath), so that users
//! need no LD_LIBRARY_PATH, and keeps libtorch_cuda linked so CUDA is found.
use std::path::PathBuf;
use std::process::Command;

fn torch_lib_dir() -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH_USE_PYTORCH");
    if let Ok(lib) = std::env::var("LIBTORCH_LIB") {
        return Some(PathBuf::from(lib).join("lib"));
    }
    if std::env::var_os("LIBTORCH_USE_PYTORCH").is_none() {
        if let Ok(dir) = std::env::var("LIBTORCH") {
            return Some(PathBuf::from(dir).join("lib"));
        }
    }
    // Same interpreter choice as torch-sys.
    let python = if std::env::var_os("VIRTUAL_ENV").is_some() {
        "python"
    } else {
        "python3"
    };
    let out = Command::new(python)
        .args([
            "-c",
            "import torch, os; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Some(dir) = torch_lib_dir() else {
        println!("cargo:warning=libtorch not found: run scripts/setup.sh");
        return;
    };
    // The link in the checkout is only a pointer: bake in the real place.
    let dir = dir.canonicalize().unwrap_or(dir);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    if dir.join("libtorch_cuda.so").exists() {
        // Rust links with --as-needed; nothing references libtorch_cuda
        // directly, so it would be dropped and CUDA would look absent.
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
