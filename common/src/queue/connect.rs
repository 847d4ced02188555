//! Opening Redis connections that reconnect by themselves.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::QueueError;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long an ordinary command may take before it counts as failed.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// A multiplexed connection that reconnects after Redis comes back.
/// `response_timeout` must exceed the longest blocking command sent on it.
pub async fn connect(
    client: &redis::Client,
    response_timeout: Duration,
) -> Result<ConnectionManager, QueueError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(response_timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(2));
    Ok(client.get_connection_manager_with_config(config).await?)
}
