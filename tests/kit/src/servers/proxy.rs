//! A TCP proxy on loopback that can be taken down and brought back.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A TCP proxy on 127.0.0.1 to `target` that can be taken down and brought
/// back: down, it accepts connections and closes them at once, as a dead
/// endpoint behind a load balancer would.
pub struct Proxy {
    pub endpoint: String,
    up: Arc<AtomicBool>,
    /// The client side of every connection piped so far.
    clients: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub fn start(target: &str) -> Proxy {
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let up = Arc::new(AtomicBool::new(true));
        let clients = Arc::new(Mutex::new(Vec::new()));
        let serving = Arc::clone(&up);
        let piped = Arc::clone(&clients);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !serving.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                if let Ok(kept) = client.try_clone() {
                    piped.lock().unwrap().push(kept);
                }
                pipe(client, server);
            }
        });
        Proxy {
            endpoint,
            up,
            clients,
        }
    }

    /// Down: new connections are closed at once and open ones are cut, so
    /// kept-alive connections fail too. Up: connections are piped again.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            for client in self.clients.lock().unwrap().drain(..) {
                let _ = client.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

fn pipe(client: TcpStream, server: TcpStream) {
    let (Ok(mut client_reader), Ok(mut server_writer)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let (mut server_reader, mut client_writer) = (server, client);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_reader, &mut server_writer);
        let _ = server_writer.shutdown(std::net::Shutdown::Write);
    });
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_reader, &mut client_writer);
        let _ = client_writer.shutdown(std::net::Shutdown::Write);
    });
}
