//! A real `moto_server` (the EC2 and S3 Query APIs) on loopback.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long `moto_server` may take to say where it listens.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A `moto_server` on 127.0.0.1 at the port the system gave it, stopped on
/// drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// Starts with extra environment, e.g. `INITIAL_NO_AUTH_ACTION_COUNT=0`
    /// to make it check credentials.
    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        let program = std::env::var_os("ROLLCALL_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::workspace().join(".venv/bin/moto_server"));
        assert!(
            program.exists(),
            "{} is missing: scripts/test installs moto[server] into .venv \
             (or set ROLLCALL_MOTO_SERVER)",
            program.display()
        );
        // Port 0: the system's choice, which werkzeug then reports on stderr
        // (` * Running on http://127.0.0.1:PORT`).
        let mut child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moto_server starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (found, endpoint) = mpsc::channel();
        // Reads stderr to its end (moto logs every request there, and a full
        // pipe would stop it), passing on the address once it is said.
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("Running on ").nth(1)
                    && let Some(found) = found.take()
                {
                    let _ = found.send(url.trim().to_owned());
                }
            }
        });
        let mut moto = Moto {
            child,
            endpoint: String::new(),
        };
        moto.endpoint = endpoint.recv_timeout(START_LIMIT).unwrap_or_else(|_| {
            let status = moto.child.try_wait().ok().flatten();
            panic!(
                "{} did not say where it listens within {START_LIMIT:?} (exit: {status:?})",
                program.display()
            )
        });
        moto
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
