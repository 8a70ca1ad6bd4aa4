//! Account flows that finish even when the caller's future is dropped.

use std::future::Future;

use crate::error::AuthError;

/// Runs `steps` on a task of its own and waits for it.
///
/// Dropping the returned future detaches the task instead of cancelling it, so a client that
/// goes away never cuts a flow between two store writes; only a runtime shutdown can. A panic
/// in the steps is raised again in the caller. A task the runtime cancelled while shutting down
/// is reported as [`AuthError::ServiceUnavailable`].
pub(super) async fn run_to_completion<T, F>(steps: F) -> Result<T, AuthError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, AuthError>> + Send + 'static,
{
    match tokio::spawn(steps).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => {
            tracing::error!(error = %error, "account flow cancelled by the runtime");
            Err(AuthError::ServiceUnavailable {
                source: Box::new(error),
            })
        }
    }
}
