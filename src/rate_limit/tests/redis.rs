//! Redis-only behaviour: key expiry, repair of keys without one, and failure handling.

use super::backends::{delete_prefix, redis_connection, redis_url, unique_prefix};
use super::*;
