//! Echo: answers every route with the payload it got (a tell gets no
//! reply). Its type comes from the package manifest, not from the binary.

use actr_guest::{Actor, ActrError, Context, Request};

/// Stateless: every instance is the same.
#[derive(Debug)]
pub struct Echo;

impl Actor for Echo {
    fn new() -> Self {
        Echo
    }

    async fn handle(&self, _ctx: Context, req: Request) -> Result<Vec<u8>, ActrError> {
        Ok(req.payload)
    }
}

actr_guest::actor!(Echo);
