//! The storage traits for [`SqliteStore`].

use async_trait::async_trait;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SqliteStore, micros, time_from};
use crate::audit::{AuditEvent, AuditQuery};
use crate::store::sql::{
    LOCKOUT_RETRIES, digest_from, event_type_from, failures_from, ip_from, metadata_from,
    metadata_to, purpose_from, sql_count, store_error, within,
};
use crate::store::{
    AttemptDecision, AuditStore, LockoutState, LockoutStore, OneTimeToken, SessionRecord,
    SessionStore, StoreError, TokenPurpose, TokenStore, User, UserStore,
};
use crate::token::TokenDigest;

const USER_COLUMNS: &str =
    "id, email, password_hash, email_verified, created_at, password_changed_at";
const SESSION_COLUMNS: &str =
    "id, token_digest, user_id, created_at, last_seen_at, expires_at, ip_address, user_agent";
const TOKEN_COLUMNS: &str = "digest, user_id, purpose, created_at, expires_at, used_at";

fn user_from(row: &SqliteRow) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get("id").map_err(store_error)?,
        email: row.try_get("email").map_err(store_error)?,
        password_hash: row.try_get("password_hash").map_err(store_error)?,
        email_verified: row.try_get("email_verified").map_err(store_error)?,
        created_at: time_from(row.try_get("created_at").map_err(store_error)?)?,
        password_changed_at: time_from(row.try_get("password_changed_at").map_err(store_error)?)?,
    })
}

fn session_from(row: &SqliteRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: row.try_get("id").map_err(store_error)?,
        token_digest: digest_from(row.try_get("token_digest").map_err(store_error)?)?,
        user_id: row.try_get("user_id").map_err(store_error)?,
        created_at: time_from(row.try_get("created_at").map_err(store_error)?)?,
        last_seen_at: time_from(row.try_get("last_seen_at").map_err(store_error)?)?,
        expires_at: time_from(row.try_get("expires_at").map_err(store_error)?)?,
        ip_address: ip_from(row.try_get("ip_address").map_err(store_error)?)?,
        user_agent: row.try_get("user_agent").map_err(store_error)?,
    })
}

fn token_from(row: &SqliteRow) -> Result<OneTimeToken, StoreError> {
    let used_at: Option<i64> = row.try_get("used_at").map_err(store_error)?;
    Ok(OneTimeToken {
        digest: digest_from(row.try_get("digest").map_err(store_error)?)?,
        user_id: row.try_get("user_id").map_err(store_error)?,
        purpose: purpose_from(row.try_get("purpose").map_err(store_error)?)?,
        created_at: time_from(row.try_get("created_at").map_err(store_error)?)?,
        expires_at: time_from(row.try_get("expires_at").map_err(store_error)?)?,
        used_at: used_at.map(time_from).transpose()?,
    })
}

fn event_from(row: &SqliteRow) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id: row.try_get("id").map_err(store_error)?,
        user_id: row.try_get("user_id").map_err(store_error)?,
        event_type: event_type_from(row.try_get("event_type").map_err(store_error)?)?,
        ip_address: row.try_get("ip_address").map_err(store_error)?,
        user_agent: row.try_get("user_agent").map_err(store_error)?,
        event_metadata: metadata_from(row.try_get("event_metadata").map_err(store_error)?)?,
        created_at: time_from(row.try_get("created_at").map_err(store_error)?)?,
    })
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: User) -> Result<User, StoreError> {
        within(self.operation_timeout, async move {
            sqlx::query(
                "INSERT INTO users (id, email, password_hash, email_verified, created_at, \
             password_changed_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(user.id)
            .bind(&user.email)
            .bind(&user.password_hash)
            .bind(user.email_verified)
            .bind(micros(user.created_at))
            .bind(micros(user.password_changed_at))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
            Ok(user)
        })
        .await
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        within(self.operation_timeout, async move {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
            let row = sqlx::query(&sql)
                .bind(email)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
            row.as_ref().map(user_from).transpose()
        })
        .await
    }

    async fn find_user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        within(self.operation_timeout, async move {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
            row.as_ref().map(user_from).transpose()
        })
        .await
    }

    async fn replace_password_hash(
        &self,
        id: Uuid,
        expected: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        within(self.operation_timeout, async move {
            let result = sqlx::query(
                "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
            )
            .bind(id)
            .bind(expected)
            .bind(new_hash)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
            Ok(result.rows_affected() == 1)
        })
        .await
    }

    async fn set_password_hash(
        &self,
        id: Uuid,
        new_hash: &str,
        changed_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        within(self.operation_timeout, async move {
            let result = sqlx::query(
                "UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(new_hash)
            .bind(micros(changed_at))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
            Ok(result.rows_affected() == 1)
        })
        .await
    }

    async fn mark_email_verified(&self, id: Uuid) -> Result<bool, StoreError> {
        within(self.operation_timeout, async move {
            let result = sqlx::query("UPDATE users SET email_verified = 1 WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
            Ok(result.rows_affected() == 1)
        })
        .await
    }

    async fn list_users(&self, offset: usize, limit: usize) -> Result<Vec<User>, StoreError> {
        within(self.operation_timeout, async move {
            let sql = format!(
                "SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2"
            );
            let rows = sqlx::query(&sql)
                .bind(sql_count(limit))
                .bind(sql_count(offset))
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
            rows.iter().map(user_from).collect()
        })
        .await
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    /// Runs in one `BEGIN IMMEDIATE` transaction: deletes the user's sessions that are dead
    /// at `record.created_at`, inserts `record`, then deletes and returns the live sessions
    /// ranked beyond `max_per_user`, oldest first. Newer sessions rank first; on equal
    /// `created_at` the new record ranks newest and the others rank by id.
    async fn create_session(
        &self,
        record: SessionRecord,
        max_per_user: usize,
        idle_cutoff: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        // A spawned task runs to the end even when the caller is dropped mid-transaction,
        // which could otherwise hand a connection still inside `BEGIN` back to the pool.
        let pool = self.pool.clone();
        let limit = self.operation_timeout;
        tokio::spawn(within(
            limit,
            insert_session(pool, record, max_per_user, idle_cutoff),
        ))
        .await
        .map_err(|error| StoreError::Backend(Box::new(error)))?
    }

    async fn find_session(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<SessionRecord>, StoreError> {
        within(self.operation_timeout, async move {
            let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_digest = $1");
            let row = sqlx::query(&sql)
                .bind(&digest.0[..])
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
            row.as_ref().map(session_from).transpose()
        })
        .await
    }

    async fn touch_session(
        &self,
        digest: &TokenDigest,
        last_seen_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        within(self.operation_timeout, async move {
            let result =
                sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE token_digest = $1")
                    .bind(&digest.0[..])
                    .bind(micros(last_seen_at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
            Ok(result.rows_affected() == 1)
        })
        .await
    }

    /// Writes with a conditional `UPDATE`. When it writes nothing, the session is either
    /// missing or fresh, so a read of `last_seen_at` decides which.
    async fn touch_session_if_stale(
        &self,
        digest: &TokenDigest,
        now: OffsetDateTime,
        stale_at: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        within(self.operation_timeout, async move {
            let written: Option<i64> = sqlx::query_scalar(
                "UPDATE sessions SET last_seen_at = $2 WHERE token_digest = $1 \
             AND last_seen_at <= $3 RETURNING last_seen_at",
            )
            .bind(&digest.0[..])
            .bind(micros(now))
            .bind(micros(stale_at))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
            let seen = match written {
                Some(seen) => Some(seen),
                None => {
                    sqlx::query_scalar("SELECT last_seen_at FROM sessions WHERE token_digest = $1")
                        .bind(&digest.0[..])
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?
                }
            };
            seen.map(time_from).transpose()
        })
        .await
    }

    async fn revoke_session(&self, digest: &TokenDigest) -> Result<bool, StoreError> {
        within(self.operation_timeout, async move {
            let result = sqlx::query("DELETE FROM sessions WHERE token_digest = $1")
                .bind(&digest.0[..])
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
            Ok(result.rows_affected() == 1)
        })
        .await
    }

    async fn revoke_session_by_id(&self, user_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
        within(self.operation_timeout, async move {
            let result = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
            Ok(result.rows_affected() == 1)
        })
        .await
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&TokenDigest>,
    ) -> Result<u64, StoreError> {
        within(self.operation_timeout, async move {
            let result = sqlx::query(
                "DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR token_digest <> $2)",
            )
            .bind(user_id)
            .bind(keep.map(|digest| &digest.0[..]))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
            Ok(result.rows_affected())
        })
        .await
    }

    async fn list_user_sessions(&self, user_id: Uuid) -> Result<Vec<SessionRecord>, StoreError> {
        within(self.operation_timeout, async move {
            let sql = format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC"
            );
            let rows = sqlx::query(&sql)
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
            rows.iter().map(session_from).collect()
        })
        .await
    }

    /// Deletes the sessions whose `expires_at` is at or before `now` or whose `last_seen_at`
    /// is at or before `idle_cutoff`: exactly those the session layer would reject at `now`.
    async fn purge_expired_sessions(
        &self,
        now: OffsetDateTime,
        idle_cutoff: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        within(self.operation_timeout, async move {
            let result =
                sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
                    .bind(micros(now))
                    .bind(micros(idle_cutoff))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
            Ok(result.rows_affected())
        })
        .await
    }
}

/// Runs the transaction of [`SessionStore::create_session`].
async fn insert_session(
    pool: SqlitePool,
    record: SessionRecord,
    max_per_user: usize,
    idle_cutoff: OffsetDateTime,
) -> Result<Vec<SessionRecord>, StoreError> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(store_error)?;
    sqlx::query(
        "DELETE FROM sessions WHERE user_id = $1 AND (expires_at <= $2 OR last_seen_at <= $3)",
    )
    .bind(record.user_id)
    .bind(micros(record.created_at))
    .bind(micros(idle_cutoff))
    .execute(&mut *tx)
    .await
    .map_err(store_error)?;
    sqlx::query(&format!(
        "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(record.id)
    .bind(&record.token_digest.0[..])
    .bind(record.user_id)
    .bind(micros(record.created_at))
    .bind(micros(record.last_seen_at))
    .bind(micros(record.expires_at))
    .bind(record.ip_address.map(|ip| ip.to_string()))
    .bind(record.user_agent.as_deref())
    .execute(&mut *tx)
    .await
    .map_err(store_error)?;
    let rows = sqlx::query(&format!(
        "DELETE FROM sessions WHERE token_digest IN (SELECT token_digest FROM sessions \
         WHERE user_id = $1 ORDER BY created_at DESC, (id = $2) DESC, id DESC \
         LIMIT -1 OFFSET $3) RETURNING {SESSION_COLUMNS}"
    ))
    .bind(record.user_id)
    .bind(record.id)
    .bind(sql_count(max_per_user))
    .fetch_all(&mut *tx)
    .await
    .map_err(store_error)?;
    let mut evicted = rows
        .iter()
        .map(session_from)
        .collect::<Result<Vec<_>, _>>()?;
    tx.commit().await.map_err(store_error)?;
    evicted.sort_unstable_by_key(|r| (r.created_at, r.id == record.id, r.id));
    Ok(evicted)
}

#[async_trait]
impl LockoutStore for SqliteStore {
    /// Counts the attempt with one upsert unless the key is locked at `now`, and restarts the
    /// count at 1 after a lock that ended. When the key is locked, the upsert changes nothing
    /// and a second statement reads the lock's end.
    async fn begin_attempt(
        &self,
        key: &str,
        now: OffsetDateTime,
        max_attempts: u32,
        lock_for: time::Duration,
    ) -> Result<AttemptDecision, StoreError> {
        within(self.operation_timeout, async move {
        let lock_end = micros(now.saturating_add(lock_for));
        for _ in 0..LOCKOUT_RETRIES {
            let counted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO lockouts (key, failures, locked_until) \
                 VALUES ($1, 1, CASE WHEN 1 >= $3 THEN $4 END) \
                 ON CONFLICT (key) DO UPDATE SET \
                   failures = CASE WHEN lockouts.locked_until IS NULL THEN lockouts.failures + 1 ELSE 1 END, \
                   locked_until = CASE WHEN \
                     (CASE WHEN lockouts.locked_until IS NULL THEN lockouts.failures + 1 ELSE 1 END) >= $3 \
                     THEN $4 END \
                 WHERE lockouts.locked_until IS NULL OR lockouts.locked_until <= $2 \
                 RETURNING failures",
            )
            .bind(key)
            .bind(micros(now))
            .bind(i64::from(max_attempts))
            .bind(lock_end)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
            if let Some(failures) = counted {
                let attempt = failures_from(failures);
                return Ok(AttemptDecision::Allowed {
                    attempt,
                    locked_now: attempt >= max_attempts,
                });
            }
            let until: Option<Option<i64>> =
                sqlx::query_scalar("SELECT locked_until FROM lockouts WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
            if let Some(Some(until)) = until {
                let until = time_from(until)?;
                if until > now {
                    return Ok(AttemptDecision::Locked { until });
                }
            }
            // Cleared or ended in between: count again.
        }
        Err(StoreError::Unavailable(
            "lockout state changed on every try".into(),
        ))
        })
        .await
    }

    async fn lockout_state(&self, key: &str) -> Result<Option<LockoutState>, StoreError> {
        within(self.operation_timeout, async move {
            let row = sqlx::query("SELECT failures, locked_until FROM lockouts WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
            let Some(row) = row else {
                return Ok(None);
            };
            let locked_until: Option<i64> = row.try_get("locked_until").map_err(store_error)?;
            Ok(Some(LockoutState {
                failures: failures_from(row.try_get("failures").map_err(store_error)?),
                locked_until: locked_until.map(time_from).transpose()?,
            }))
        })
        .await
    }

    async fn clear_lockout(&self, key: &str) -> Result<(), StoreError> {
        within(self.operation_timeout, async move {
            sqlx::query("DELETE FROM lockouts WHERE key = $1")
                .bind(key)
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    /// Replaces the previous token of the same user and purpose with one upsert on their
    /// unique pair.
    async fn issue_token(&self, token: OneTimeToken) -> Result<(), StoreError> {
        within(self.operation_timeout, async move {
            sqlx::query(&format!(
                "INSERT INTO one_time_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (user_id, purpose) DO UPDATE SET digest = excluded.digest, \
             created_at = excluded.created_at, expires_at = excluded.expires_at, \
             used_at = excluded.used_at"
            ))
            .bind(&token.digest.0[..])
            .bind(token.user_id)
            .bind(token.purpose.as_str())
            .bind(micros(token.created_at))
            .bind(micros(token.expires_at))
            .bind(token.used_at.map(micros))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
            Ok(())
        })
        .await
    }

    /// Consumes the token only while `now` is before its `expires_at`, so a token is void from
    /// its `expires_at` on.
    async fn consume_token(
        &self,
        digest: &TokenDigest,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<OneTimeToken>, StoreError> {
        within(self.operation_timeout, async move {
            let row = sqlx::query(&format!(
                "UPDATE one_time_tokens SET used_at = $3 WHERE digest = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3 RETURNING {TOKEN_COLUMNS}"
            ))
            .bind(&digest.0[..])
            .bind(purpose.as_str())
            .bind(micros(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
            row.as_ref().map(token_from).transpose()
        })
        .await
    }

    async fn revoke_user_tokens(
        &self,
        user_id: Uuid,
        purpose: TokenPurpose,
    ) -> Result<u64, StoreError> {
        within(self.operation_timeout, async move {
            let result =
                sqlx::query("DELETE FROM one_time_tokens WHERE user_id = $1 AND purpose = $2")
                    .bind(user_id)
                    .bind(purpose.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
            Ok(result.rows_affected())
        })
        .await
    }

    /// Deletes used tokens and tokens whose `expires_at` is at or before `now`.
    async fn purge_expired_tokens(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        within(self.operation_timeout, async move {
            let result = sqlx::query(
                "DELETE FROM one_time_tokens WHERE used_at IS NOT NULL OR expires_at <= $1",
            )
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
            Ok(result.rows_affected())
        })
        .await
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_event(&self, event: AuditEvent) -> Result<(), StoreError> {
        within(self.operation_timeout, async move {
            sqlx::query(
                "INSERT INTO audit_events (id, user_id, event_type, ip_address, user_agent, \
             event_metadata, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(event.id)
            .bind(event.user_id)
            .bind(event.event_type.as_str())
            .bind(event.ip_address.as_deref())
            .bind(event.user_agent.as_deref())
            .bind(metadata_to(&event.event_metadata)?)
            .bind(micros(event.created_at))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
            Ok(())
        })
        .await
    }

    /// Returns matching events ordered by `created_at`, newest first; events with equal
    /// `created_at` come in reverse order of appending. A `limit` of 0 returns no events.
    async fn query_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        within(self.operation_timeout, async move {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT id, user_id, event_type, ip_address, user_agent, event_metadata, created_at \
             FROM audit_events WHERE 1 = 1",
        );
        if !query.event_types.is_empty() {
            sql.push(" AND event_type IN (");
            let mut types = sql.separated(", ");
            for kind in &query.event_types {
                types.push_bind(kind.as_str());
            }
            sql.push(")");
        }
        if let Some(user_id) = query.user_id {
            sql.push(" AND user_id = ").push_bind(user_id);
        }
        if let Some(since) = query.since {
            sql.push(" AND created_at >= ").push_bind(micros(since));
        }
        if let Some(until) = query.until {
            sql.push(" AND created_at < ").push_bind(micros(until));
        }
        sql.push(" ORDER BY created_at DESC, seq DESC LIMIT ")
            .push_bind(sql_count(query.limit));
        let rows = sql
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        rows.iter().map(event_from).collect()
        })
        .await
    }
}
