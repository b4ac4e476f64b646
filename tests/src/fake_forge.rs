//! A forge in memory for queue tests: it remembers every pull request it opened, one per branch,
//! and fails on request — before doing anything, or after opening the pull request but before
//! answering (the connection dropped), which is what idempotency must survive.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use backend::forge::{ChangeSet, Forge, ForgeError, Published, PullRef, PullRequest, PullState};

/// How a publish call fails, chosen per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    None,
    /// A 500 before anything happened.
    Before,
    /// The pull request was opened, then the answer was lost.
    AfterOpening,
    /// A 429 with `Retry-After`.
    RateLimited,
}

#[derive(Debug, Default)]
pub struct FakeForge {
    /// Pull requests by branch, with their numbers; publishing finds a branch's pull request
    /// here first and reuses it, as the real clients do.
    pub opened: Mutex<BTreeMap<String, i64>>,
    pub calls: AtomicU64,
    /// Decides each call's failure from the call number.
    pub fail: Option<fn(u64) -> Failure>,
}

impl FakeForge {
    pub fn failing(fail: fn(u64) -> Failure) -> Self {
        Self {
            fail: Some(fail),
            ..Self::default()
        }
    }

    pub fn pull_requests(&self) -> BTreeMap<String, i64> {
        self.opened.lock().expect("not poisoned").clone()
    }
}

#[async_trait]
impl Forge for FakeForge {
    fn name(&self) -> &'static str {
        "github"
    }

    async fn publish(&self, change: &ChangeSet) -> Result<Published, ForgeError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let failure = self.fail.map_or(Failure::None, |fail| fail(call));
        match failure {
            Failure::Before => return Err(ForgeError::transient("500 Internal Server Error")),
            Failure::RateLimited => {
                return Err(ForgeError::Transient {
                    message: "429 Too Many Requests".to_owned(),
                    retry_after: Some(Duration::from_millis(5)),
                });
            }
            Failure::None | Failure::AfterOpening => {}
        }
        let number = {
            let mut opened = self.opened.lock().expect("not poisoned");
            let next = opened.len() as i64 + 1;
            *opened.entry(change.branch.clone()).or_insert(next)
        };
        if failure == Failure::AfterOpening {
            return Err(ForgeError::transient(
                "connection reset after the pull request was created",
            ));
        }
        Ok(Published::Pull(PullRequest {
            number: Some(number),
            url: Some(format!("https://forge.example/pulls/{number}")),
            head_sha: format!("{:040x}", call + 1),
            files: Vec::new(),
        }))
    }

    async fn state(&self, _pull: &PullRef) -> Result<PullState, ForgeError> {
        Ok(PullState::Open)
    }
}
