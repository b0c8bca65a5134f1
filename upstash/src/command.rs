//! Commands as JSON arrays: `cmd("HSET").arg(key).arg("f").arg(1)`.

use serde_json::Value as Json;

/// One command: a name and its arguments, all sent as JSON strings or integers.
#[derive(Debug, Clone, PartialEq)]
pub struct Cmd(Vec<Json>);

/// Starts a command: `cmd("HSET").arg(key).arg("f").arg(1)`.
pub fn cmd(name: &str) -> Cmd {
    Cmd(vec![Json::from(name)])
}

impl Cmd {
    /// Appends one argument.
    #[must_use]
    pub fn arg(mut self, a: impl ToArg) -> Self {
        self.0.push(a.to_arg());
        self
    }

    /// Appends many arguments.
    #[must_use]
    pub fn args<A: ToArg>(mut self, items: impl IntoIterator<Item = A>) -> Self {
        self.0.extend(items.into_iter().map(|a| a.to_arg()));
        self
    }

    /// The JSON array sent on the wire.
    pub fn as_json(&self) -> &[Json] {
        &self.0
    }
}

/// A value usable as a command argument.
pub trait ToArg {
    /// JSON form of the argument (string or integer).
    fn to_arg(&self) -> Json;
}

impl ToArg for &str {
    fn to_arg(&self) -> Json {
        Json::from(*self)
    }
}
impl ToArg for String {
    fn to_arg(&self) -> Json {
        Json::from(self.as_str())
    }
}
impl ToArg for &String {
    fn to_arg(&self) -> Json {
        Json::from(self.as_str())
    }
}
macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Json { Json::from(*self) }
        }
    )*};
}
int_arg!(i32, i64, u32, u64, usize);
