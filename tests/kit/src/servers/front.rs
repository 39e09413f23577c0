//! An HTTP/1.1 front on loopback for an AWS endpoint behind it (moto): it
//! forwards every request, except those its rule answers itself, and
//! records each request's SigV4 region and which of the two answered. A
//! fault of one region (one account-region, when each account has regions
//! of its own) made while everything else is served as usual.

use super::stub::{Reply, write_reply};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How long the front waits on either side for the next bytes.
const IO_LIMIT: Duration = Duration::from_secs(30);

/// What the front was asked.
#[derive(Clone, Debug)]
pub struct Asked {
    pub method: String,
    pub path: String,
    /// The region of the `Authorization` header's SigV4 credential scope
    /// (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`), if signed.
    pub region: Option<String>,
    /// The request's body as text (EC2's query form: `Action=...&...`).
    pub body: String,
}

impl Asked {
    /// The EC2 query action the body names, e.g. `DescribeSecurityGroups`.
    pub fn action(&self) -> Option<&str> {
        self.body
            .split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
    }

    /// The values of every `Filter.N.Value.M` in the body, in order.
    pub fn filter_values(&self) -> Vec<String> {
        self.body
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(key, _)| key.starts_with("Filter.") && key.contains(".Value."))
            .map(|(_, value)| value.to_owned())
            .collect()
    }
}

/// A request, and whether the front answered it itself (not forwarded).
#[derive(Clone, Debug)]
pub struct Answered {
    pub asked: Asked,
    pub by_front: bool,
}

/// The front on 127.0.0.1, serving until the test ends.
pub struct Front {
    pub endpoint: String,
    log: Arc<Mutex<Vec<Answered>>>,
}

impl Front {
    /// Forwards to `target` (`http://HOST:PORT`) what `rule` leaves to it
    /// (`None`), and answers the rest with the reply `rule` gives.
    pub fn start(
        target: &str,
        rule: impl Fn(&Asked) -> Option<Reply> + Send + Sync + 'static,
    ) -> Front {
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let logging = Arc::clone(&log);
        let rule = Arc::new(rule);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (rule, log, target) = (Arc::clone(&rule), Arc::clone(&logging), target.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, &target, &*rule, &log);
                });
            }
        });
        Front { endpoint, log }
    }

    /// Every request so far, in order.
    pub fn answered(&self) -> Vec<Answered> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many requests signed for `region` were forwarded, and how many
    /// the front answered itself.
    pub fn count(&self, region: &str) -> (usize, usize) {
        let answered = self.answered();
        let of_region = answered
            .iter()
            .filter(|entry| entry.asked.region.as_deref() == Some(region));
        let (by_front, forwarded): (Vec<_>, Vec<_>) = of_region.partition(|entry| entry.by_front);
        (forwarded.len(), by_front.len())
    }
}

/// The region of a SigV4 `Authorization` header's credential scope.
fn signed_region(authorization: &str) -> Option<String> {
    let scope = authorization.split("Credential=").nth(1)?;
    let scope = scope.split([',', ' ']).next()?;
    scope.split('/').nth(2).map(str::to_owned)
}

/// One head of a message: its first line and its header lines, as sent.
struct Head {
    first: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn read(reader: &mut impl BufRead) -> std::io::Result<Option<Head>> {
        let mut first = String::new();
        if reader.read_line(&mut first)? == 0 {
            return Ok(None);
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(None);
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        Ok(Some(Head {
            first: first.trim_end().to_owned(),
            headers,
        }))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn length(&self) -> Option<usize> {
        self.header("content-length")?.parse().ok()
    }

    /// The head again, without its own `Connection` and `Content-Length`.
    fn written(&self, extra: &str) -> String {
        let mut text = format!("{}\r\n", self.first);
        for (name, value) in &self.headers {
            if !name.eq_ignore_ascii_case("connection")
                && !name.eq_ignore_ascii_case("content-length")
            {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        text.push_str(extra);
        text.push_str("\r\n");
        text
    }
}

fn serve(
    client: TcpStream,
    target: &str,
    rule: &dyn Fn(&Asked) -> Option<Reply>,
    log: &Mutex<Vec<Answered>>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(IO_LIMIT))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    while let Some(head) = Head::read(&mut reader)? {
        let mut body = vec![0; head.length().unwrap_or(0)];
        reader.read_exact(&mut body)?;
        let mut parts = head.first.split_whitespace();
        let asked = Asked {
            method: parts.next().unwrap_or_default().to_owned(),
            path: parts.next().unwrap_or_default().to_owned(),
            region: head.header("authorization").and_then(signed_region),
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let own = rule(&asked);
        log.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Answered {
                asked,
                by_front: own.is_some(),
            });
        if let Some(reply) = own {
            write_reply(&mut client, &reply)?;
            continue;
        }
        if !forward(&mut client, target, &head, &body)? {
            return Ok(());
        }
    }
    Ok(())
}

/// Sends the request to `target` on a connection of its own and the answer
/// back; false when the answer had no length, so the client's connection
/// ends with it.
fn forward(
    client: &mut TcpStream,
    target: &str,
    head: &Head,
    body: &[u8],
) -> std::io::Result<bool> {
    let mut server = TcpStream::connect(target)?;
    server.set_read_timeout(Some(IO_LIMIT))?;
    let extra = format!("Content-Length: {}\r\nConnection: close\r\n", body.len());
    server.write_all(head.written(&extra).as_bytes())?;
    server.write_all(body)?;
    let mut answer = BufReader::new(server);
    let Some(response) = Head::read(&mut answer)? else {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    };
    match response.length() {
        Some(length) => {
            let mut body = vec![0; length];
            answer.read_exact(&mut body)?;
            let extra = format!("Content-Length: {length}\r\n");
            client.write_all(response.written(&extra).as_bytes())?;
            client.write_all(&body)?;
            Ok(true)
        }
        None => {
            client.write_all(response.written("Connection: close\r\n").as_bytes())?;
            std::io::copy(&mut answer, client)?;
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::signed_region;

    #[test]
    fn the_region_is_the_credential_scope_s_third_field() {
        let header = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20260101/us-west-2/ec2/aws4_request, \
                      SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(signed_region(header).as_deref(), Some("us-west-2"));
        assert_eq!(signed_region("Basic abc"), None);
    }
}
