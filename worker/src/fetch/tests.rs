//! The fetcher against a local HTTP server: redirects re-checked, the
//! allow-list, the byte cap and the rate floor.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::*;

const IMAGE: &[u8] = b"not really an image, but bytes all the same";

/// Serves `/image`, `/redirect?to=URL`, `/hops/N`, `/loop`, `/endless` (an endless
/// body) and `/trickle` (a byte every 100 ms) on 127.0.0.1; returns the port.
async fn source_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    port
}

async fn serve(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
    let _ = match path.as_str() {
        "/image" => {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", IMAGE.len());
            stream.write_all(&[head.as_bytes(), IMAGE].concat()).await
        }
        "/loop" => {
            let head = "HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n";
            stream.write_all(head.as_bytes()).await
        }
        "/endless" => {
            let head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
            let chunk = vec![0u8; 64 * 1024];
            let mut result = stream.write_all(head.as_bytes()).await;
            while result.is_ok() {
                result = stream.write_all(&chunk).await;
            }
            result
        }
        "/trickle" => {
            let head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
            let mut result = stream.write_all(head.as_bytes()).await;
            while result.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                result = stream.write_all(b"x").await;
            }
            result
        }
        other if other.starts_with("/hops/") => {
            // `/hops/N` redirects N more times, then serves the image.
            let left: u32 = other["/hops/".len()..].parse().unwrap_or(0);
            if left == 0 {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", IMAGE.len());
                stream.write_all(&[head.as_bytes(), IMAGE].concat()).await
            } else {
                let head = format!(
                    "HTTP/1.1 302 Found\r\nLocation: /hops/{}\r\nContent-Length: 0\r\n\r\n",
                    left - 1
                );
                stream.write_all(head.as_bytes()).await
            }
        }
        other => match other.strip_prefix("/redirect?to=") {
            Some(target) => {
                let head = format!(
                    "HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n"
                );
                stream.write_all(head.as_bytes()).await
            }
            None => {
                let head = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
                stream.write_all(head.as_bytes()).await
            }
        },
    };
}

/// The default policy, but any port: the test server's is random.
fn any_port() -> FetchPolicy {
    FetchPolicy {
        allowed_ports: AllowedPorts::Any,
        ..FetchPolicy::default()
    }
}

fn limits(allow_private: bool) -> FetchLimits {
    FetchLimits {
        connect_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_secs(20),
        max_bytes: 1024 * 1024,
        allow_private,
    }
}

fn url(s: &str) -> SourceUrl {
    s.parse().expect("a source url")
}

/// Resolves `public.test` to 127.0.0.1 as if it were a public host, and
/// every other name as [`PublicOnly`] does.
struct OnePublicHost;

impl Resolve for OnePublicHost {
    fn resolve(&self, name: Name) -> Resolving {
        if name.as_str() == "public.test" {
            let addr = SocketAddr::from(([127, 0, 0, 1], 0));
            return Box::pin(async move { Ok(Box::new(std::iter::once(addr)) as Addrs) });
        }
        PublicOnly.resolve(name)
    }
}

#[tokio::test]
async fn a_redirect_from_an_allowed_host_to_an_internal_address_is_refused() {
    let port = source_server().await;
    let fetcher =
        Fetcher::build(&limits(false), any_port(), Arc::new(OnePublicHost)).expect("client");
    let first = format!("http://public.test:{port}");
    let direct = fetcher.fetch(&url(&format!("{first}/image"))).await;
    assert_eq!(direct.expect("the first hop is allowed").as_ref(), IMAGE);
    let within = format!("{first}/redirect?to={first}/image");
    assert!(fetcher.fetch(&url(&within)).await.is_ok());

    for target in [
        format!("http://127.0.0.1:{port}/image"),
        format!("http://localhost:{port}/image"),
        format!("http://[::ffff:127.0.0.1]:{port}/image"),
        format!("http://0x7f000001:{port}/image"),
        format!("http://2130706433:{port}/image"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let result = fetcher
            .fetch(&url(&format!("{first}/redirect?to={target}")))
            .await;
        assert!(
            matches!(result, Err(FetchError::AddressNotAllowed)),
            "{target}: {result:?}"
        );
    }
}

#[tokio::test]
async fn redirect_targets_outside_the_allow_list_are_refused() {
    let port = source_server().await;
    let policy = FetchPolicy {
        allowed_hosts: vec!["localhost".parse().expect("pattern")],
        ..any_port()
    };
    let fetcher = Fetcher::with_policy(&limits(true), policy).expect("client");
    let allowed = format!("http://localhost:{port}/image");
    assert!(fetcher.fetch(&url(&allowed)).await.is_ok());
    let direct = fetcher
        .fetch(&url(&format!("http://127.0.0.1:{port}/image")))
        .await;
    assert!(
        matches!(direct, Err(FetchError::HostNotAllowed)),
        "{direct:?}"
    );
    let redirected = fetcher
        .fetch(&url(&format!(
            "http://localhost:{port}/redirect?to=http://127.0.0.1:{port}/image"
        )))
        .await;
    assert!(
        matches!(redirected, Err(FetchError::HostNotAllowed)),
        "{redirected:?}"
    );
}

#[tokio::test]
async fn a_redirect_loop_ends_after_five_hops() {
    let port = source_server().await;
    let fetcher = Fetcher::with_policy(&limits(true), any_port()).expect("client");
    let result = fetcher
        .fetch(&url(&format!("http://127.0.0.1:{port}/loop")))
        .await;
    assert!(
        matches!(result, Err(FetchError::TooManyRedirects)),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_endless_body_is_cut_off_at_the_byte_limit() {
    let port = source_server().await;
    let fetcher = Fetcher::with_policy(&limits(true), any_port()).expect("client");
    let started = std::time::Instant::now();
    let result = fetcher
        .fetch(&url(&format!("http://127.0.0.1:{port}/endless")))
        .await;
    assert!(
        matches!(result, Err(FetchError::TooLarge { limit: 1_048_576 })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_source_under_the_minimum_rate_is_given_up_after_one_window() {
    let port = source_server().await;
    let policy = FetchPolicy {
        min_rate: Some(MinRate {
            bytes_per_sec: 1024,
            window: Duration::from_millis(300),
        }),
        ..any_port()
    };
    let fetcher = Fetcher::with_policy(&limits(true), policy).expect("client");
    let started = std::time::Instant::now();
    let result = fetcher
        .fetch(&url(&format!("http://127.0.0.1:{port}/trickle")))
        .await;
    assert!(
        matches!(
            result,
            Err(FetchError::TooSlow {
                min_bytes_per_sec: 1024
            })
        ),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let fast = fetcher
        .fetch(&url(&format!("http://127.0.0.1:{port}/image")))
        .await;
    assert!(fast.is_ok(), "{fast:?}");
}

#[tokio::test]
async fn five_redirects_are_followed_and_a_sixth_is_not() {
    let port = source_server().await;
    let fetcher = Fetcher::with_policy(&limits(true), any_port()).expect("client");
    let five = fetcher
        .fetch(&url(&format!("http://127.0.0.1:{port}/hops/5")))
        .await;
    assert!(five.is_ok(), "{five:?}");
    let six = fetcher
        .fetch(&url(&format!("http://127.0.0.1:{port}/hops/6")))
        .await;
    assert!(matches!(six, Err(FetchError::TooManyRedirects)), "{six:?}");
}

#[tokio::test]
async fn a_redirect_to_a_url_with_credentials_is_refused() {
    let port = source_server().await;
    let fetcher = Fetcher::with_policy(&limits(true), any_port()).expect("client");
    let target = format!("http://user:secret@127.0.0.1:{port}/image");
    let result = fetcher
        .fetch(&url(&format!(
            "http://127.0.0.1:{port}/redirect?to={target}"
        )))
        .await;
    assert!(matches!(result, Err(FetchError::Credentials)), "{result:?}");
}

#[tokio::test]
async fn a_port_outside_the_allowed_ones_is_refused_before_connecting() {
    // Nothing listens there: a refusal that came from connecting would be
    // Unreachable, not PortNotAllowed.
    let fetcher = Fetcher::with_policy(&limits(true), FetchPolicy::default()).expect("client");
    let result = fetcher.fetch(&url("http://127.0.0.1:8080/a.png")).await;
    assert!(
        matches!(result, Err(FetchError::PortNotAllowed { port: 8080 })),
        "{result:?}"
    );
}

#[test]
fn a_refused_connection_and_a_timeout_tell_the_client_the_same() {
    assert_eq!(
        FetchError::Unreachable.to_string(),
        FetchError::TimedOut.to_string()
    );
}

#[test]
fn allowed_ports_read_a_list_or_any() {
    assert_eq!("any".parse(), Ok(AllowedPorts::Any));
    assert_eq!("80, 443".parse(), Ok(AllowedPorts::Only(vec![80, 443])));
    assert!("80,http".parse::<AllowedPorts>().is_err());
}
