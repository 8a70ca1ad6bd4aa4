//! [`TokenStore`] for [`MemoryStore`].

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{MemoryStore, lock};
use crate::store::{OneTimeToken, StoreError, TokenPurpose, TokenStore};
use crate::token::TokenDigest;

#[async_trait]
impl TokenStore for MemoryStore {
    async fn issue_token(&self, token: OneTimeToken) -> Result<(), StoreError> {
        let mut tokens = lock(&self.inner.tokens);
        tokens
            .retain(|_, other| !(other.user_id == token.user_id && other.purpose == token.purpose));
        tokens.insert(token.digest, token);
        Ok(())
    }

    /// Consumes the token only while `now` is before its `expires_at`, so a token is void from
    /// its `expires_at` on.
    async fn consume_token(
        &self,
        digest: &TokenDigest,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<OneTimeToken>, StoreError> {
        let mut tokens = lock(&self.inner.tokens);
        let Some(token) = tokens.get_mut(digest) else {
            return Ok(None);
        };
        if token.purpose != purpose || token.used_at.is_some() || token.expires_at <= now {
            return Ok(None);
        }
        token.used_at = Some(now);
        Ok(Some(token.clone()))
    }

    async fn revoke_user_tokens(
        &self,
        user_id: Uuid,
        purpose: TokenPurpose,
    ) -> Result<u64, StoreError> {
        let mut tokens = lock(&self.inner.tokens);
        let before = tokens.len();
        tokens.retain(|_, token| !(token.user_id == user_id && token.purpose == purpose));
        Ok((before - tokens.len()) as u64)
    }

    /// Deletes used tokens and tokens whose `expires_at` is at or before `now`.
    async fn purge_expired_tokens(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut tokens = lock(&self.inner.tokens);
        let before = tokens.len();
        tokens.retain(|_, token| token.used_at.is_none() && token.expires_at > now);
        Ok((before - tokens.len()) as u64)
    }
}
