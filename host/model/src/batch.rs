//! The bookkeeping of `driver.create-many` and its callers: every item is
//! checked on its own first, the refused keep their error and are not
//! sent, the rest go in one batch, and the batch's answers fill their
//! places, so the caller gets one outcome per item, in order.

/// The places of the items [`precheck`] let through, and the errors of
/// those it refused.
#[derive(Debug)]
pub struct Prechecked<T, E> {
    slots: Vec<Option<Result<T, E>>>,
}

/// The items `check` accepts, turned into what the batch sends, and the
/// places of all of them.
pub fn precheck<I, P, T, E>(
    items: impl IntoIterator<Item = I>,
    mut check: impl FnMut(I) -> Result<P, E>,
) -> (Prechecked<T, E>, Vec<P>) {
    let mut slots = Vec::new();
    let mut accepted = Vec::new();
    for item in items {
        match check(item) {
            Ok(p) => {
                accepted.push(p);
                slots.push(None);
            }
            Err(e) => slots.push(Some(Err(e))),
        }
    }
    (Prechecked { slots }, accepted)
}

impl<T, E> Prechecked<T, E> {
    /// One outcome per item, in order: the refused ones' errors, and for
    /// the others the batch's `answers` in turn (`missing()` for an item
    /// the batch gave no answer for).
    pub fn fill(self, answers: Vec<Result<T, E>>, missing: impl Fn() -> E) -> Vec<Result<T, E>> {
        let mut answers = answers.into_iter();
        self.slots
            .into_iter()
            .map(|slot| slot.unwrap_or_else(|| answers.next().unwrap_or_else(|| Err(missing()))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_items_keep_their_place_and_answers_fill_the_rest() {
        let (places, sent) = precheck([1, -2, 3, -4, 5], |n| {
            if n > 0 {
                Ok(n * 10)
            } else {
                Err(format!("{n} refused"))
            }
        });
        assert_eq!(sent, vec![10, 30, 50]);
        let answers = vec![Ok("a"), Err("b failed".to_string())];
        let outcomes = places.fill(answers, || "no answer".into());
        assert_eq!(
            outcomes,
            vec![
                Ok("a"),
                Err("-2 refused".into()),
                Err("b failed".into()),
                Err("-4 refused".into()),
                Err("no answer".into()),
            ]
        );
    }
}
